"""Reference implementation (one judge, scalar, no vectorisation) of the recommended test:
"value-function betting on the conditional error allocation + fallback mixture".

    judge = ValueBettingJudge()              # builds the value table once (cacheable per configuration)
    for (nc, ec, ns, es) in batches:
        verdict = judge.observe(nc, ec, ns, es)   # 'fail' (reject H0: canary worse) or 'inconclusive'

Validity (always valid, any p_s, any traffic pattern): under H0 (p_c <= p_s), given a batch's request counts
(n_c, n_s) and its error count e, the canary error count is (Fisher noncentral, odds ratio <= 1)
hypergeometric, which is dominated in convex order by Binomial(e, pi0), pi0 = n_c/(n_c+n_s) (Hoeffding 1963)
and is stochastically decreasing in the odds ratio.  Hence for ANY rho >= 1 chosen from information available
before the allocation is revealed (time, past data, this batch's n_c, n_s, e),
        f = rho^{e_c} / (1 + (rho-1) pi0)^e,      E_H0[f | past, n_c, n_s, e] <= 1,
so M1 = prod f is a test supermartingale.  M2 (the existing mixture judge) is one too, hence so is
M = (a1/a) M1 + (a2/a) M2 (a1 + a2 = a), and Ville gives P_H0(sup_t M_t >= 1/a) <= a.
The value table only steers the choice of rho (it is a betting *strategy*); a wrong design, wrong traffic
rates or numerical error in the table can cost power, never validity.
"""
import math
import numpy as np

RHOS = (1.0, 1.5, 2, 3, 4, 6, 8, 10, 15, 20, 30, 50, 100, 250, 1e3, 1e4)


def _pois(k, m):
    return math.exp(-m + k * math.log(m) - math.lgamma(k + 1)) if m > 0 else float(k == 0)


def _binom_pmf(e, q):
    return [math.comb(e, k) * q ** k * (1 - q) ** (e - k) for k in range(e + 1)]


class ValueTable:
    """V[t][i] ~ max over betting strategies of P_design(log M1 reaches L = log(1/alpha1) by batch nT),
    given log M1 = w_i at the start of batch t (t = 0..nT; V[nT] = 1{w >= L})."""

    def __init__(self, alpha1=0.007, horizon_s=4.5, pc=0.05, ps=0.005, rate_c=20.0, rate_s=180.0, dt=0.1,
                 wmin=-10.0, dw=0.02, rhos=RHOS, pi_bins=16, emax=3):
        self.L = math.log(1 / alpha1); self.dt = dt; self.nT = int(round(horizon_s / dt))
        self.ratio = pc / ps; self.rhos = np.asarray(rhos, float)
        self.w = np.arange(wmin, self.L + dw / 2, dw)
        # Design distribution of (pi0, e >= 1) for one batch, binned in pi0 (size-biased by the error rate).
        mc, ms = rate_c * dt, rate_s * dt
        comps = {}   # (bin, e) -> [prob, prob*pi0, prob*q]
        nc_max = int(mc + 10 * math.sqrt(mc) + 10); ns_max = int(ms + 10 * math.sqrt(ms) + 10)
        for nc in range(1, nc_max):
            pnc = _pois(nc, mc)
            for ns in range(0, ns_max):
                pn = pnc * _pois(ns, ms)
                if pn < 1e-12: continue
                pi0 = nc / (nc + ns); lam = nc * pc + ns * ps; q = nc * pc / lam
                b = min(int(pi0 * pi_bins), pi_bins - 1)
                for e in range(1, emax + 1):
                    pr = pn * _pois(e, lam)
                    c = comps.setdefault((b, e), [0.0, 0.0, 0.0]); c[0] += pr; c[1] += pr * pi0; c[2] += pr * q
        self.mix = [(c[0], c[1] / c[0], e, c[2] / c[0]) for (b, e), c in comps.items() if c[0] > 1e-10]
        p_none = 1 - sum(m[0] for m in self.mix)
        V = np.zeros((self.nT + 1, len(self.w)))
        V[self.nT] = self.w >= self.L - 1e-12
        for t in range(self.nT - 1, -1, -1):
            acc = p_none * V[t + 1]
            for pr, pi0, e, q in self.mix:
                acc = acc + pr * self._expected(V[t + 1], self.w, pi0, e, q).max(axis=-1)
            V[t] = np.where(self.w >= self.L - 1e-12, 1.0, acc)
        self.V = V

    def _expected(self, Vn, w, pi0, e, q):
        """E[V_next(w + k log rho - e log1p((rho-1) pi0))], k ~ Bin(e, q); shape (len(w), len(rhos))."""
        k = np.arange(e + 1); pk = np.array(_binom_pmf(e, q))
        inc = k[None, :] * np.log(self.rhos)[:, None] - e * np.log1p((self.rhos - 1) * pi0)[:, None]
        nw = np.asarray(w, float)[..., None, None] + inc
        v = np.where(nw >= self.L - 1e-12, 1.0, np.interp(nw, self.w, Vn))   # interp clamps below wmin
        return v @ pk

    def best_rho(self, t, logM1, pi0, e, emax_exact=12):
        """Bet for batch t (0-based) given its share pi0 and error count e >= 1 (before its allocation)."""
        q = self.ratio * pi0 / (self.ratio * pi0 + 1 - pi0)
        ev = self._expected(self.V[t + 1], [logM1], pi0, min(e, emax_exact), q)[0]
        return float(self.rhos[int(np.argmax(ev))])   # ties -> smallest rho (rho = 1 = no bet)


class BaselineMixture:
    """The current `.baseline` statistic (uniform mixture over rho_min * 2^k, k < 4), as the fallback."""

    def __init__(self, K=4, min_effect=0.01):
        self.l = [0.0] * K; self.K = K; self.me = min_effect; self.Ns = 0; self.Es = 0

    def observe(self, nc, ec, ns, es):
        pb = (self.Es + 0.5) / (self.Ns + 50); rmin = 1 + self.me / max(pb, 1e-4)
        e = ec + es
        if e > 0 and nc > 0 and ns > 0:
            pi0 = nc / (nc + ns)
            for k in range(self.K):
                rho = rmin * 2 ** k
                self.l[k] += ec * math.log(rho) - e * math.log1p((rho - 1) * pi0)
        self.Ns += ns; self.Es += es

    def log_m(self):
        m = max(self.l)
        return m + math.log(sum(math.exp(x - m) for x in self.l)) - math.log(self.K)


class ValueBettingJudge:
    def __init__(self, alpha=0.008, alpha1=0.007, table=None, rho_after=10.0, **table_kw):
        assert 0 < alpha1 <= alpha < 1
        self.alpha = alpha; self.alpha1 = alpha1
        self.table = table or ValueTable(alpha1=alpha1, **table_kw)
        self.rho_after = rho_after
        self.logM1 = 0.0; self.m2 = BaselineMixture() if alpha1 < alpha else None
        self.batch = 0; self.log_m = 0.0; self.p_value = 1.0; self.failed = False

    def observe(self, nc, ec, ns, es):
        if self.failed:
            return "fail"
        e = ec + es
        if e > 0 and nc > 0 and ns > 0:
            pi0 = nc / (nc + ns)
            rho = self.table.best_rho(self.batch, self.logM1, pi0, e) if self.batch < self.table.nT else self.rho_after
            self.logM1 += ec * math.log(rho) - e * math.log1p((rho - 1) * pi0)
        if self.m2 is not None:
            self.m2.observe(nc, ec, ns, es)
        self.batch += 1
        a, b = math.log(self.alpha1 / self.alpha) + self.logM1, -math.inf
        if self.m2 is not None:
            b = math.log(1 - self.alpha1 / self.alpha) + self.m2.log_m()
        m = max(a, b); self.log_m = m + math.log(math.exp(a - m) + math.exp(b - m))
        self.p_value = min(self.p_value, min(1.0, math.exp(-self.log_m)))
        if self.log_m >= math.log(1 / self.alpha):
            self.failed = True
            return "fail"
        return "inconclusive"


if __name__ == "__main__":
    import time
    t0 = time.time(); tab = ValueTable(); print(f"table built in {time.time()-t0:.1f}s; V0 = {np.interp(0, tab.w, tab.V[0]):.3f}")
    rng = np.random.default_rng(5); times = []
    for run in range(400):
        j = ValueBettingJudge(table=tab)
        for b in range(600):
            nc, ns = rng.poisson(2), rng.poisson(18)
            if j.observe(nc, rng.binomial(nc, 0.05), ns, rng.binomial(ns, 0.005)) == "fail":
                times.append((b + 1) * 0.1); break
        else:
            times.append(math.inf)
    print("design point, 400 runs: median", np.median(times), "P(<=4.5 s)", np.mean(np.array(times) <= 4.5))
