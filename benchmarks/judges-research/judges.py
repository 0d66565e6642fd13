"""Candidate judges (vectorised over simulation runs)."""
import numpy as np
from sim import ALPHA, logaddexp_reduce

LOG_T = np.log(1 / ALPHA)


class Baseline:
    """Current Ripcord `.baseline`: conditional binomial allocation, 4 rate ratios rho_min*2^k, Ville."""

    def __init__(self, r, K=4, min_effect=0.01, alpha=ALPHA):
        self.l = np.zeros((r, K)); self.K = K; self.me = min_effect
        self.Ns = np.zeros(r); self.Es = np.zeros(r); self.thr = np.log(1 / alpha)

    def step(self, nc, ec, ns, es):
        pb = (self.Es + 0.5) / (self.Ns + 50)
        rmin = 1 + self.me / np.maximum(pb, 1e-4)
        rho = rmin[:, None] * 2.0 ** np.arange(self.K)[None, :]
        ok = (nc > 0) & (ns > 0) & (ec + es > 0)
        pi0 = nc / np.maximum(nc + ns, 1)
        inc = ec[:, None] * np.log(rho) - (ec + es)[:, None] * np.log1p((rho - 1) * pi0[:, None])
        self.l += np.where(ok[:, None], inc, 0.0)
        self.Ns += ns; self.Es += es
        mix = logaddexp_reduce(self.l) - np.log(self.K)
        return mix >= self.thr


class FixedRho:
    """Conditional allocation LR with a fixed set of rate ratios (uniform mixture); rhos=[10] is the
    oracle GROW test at the design point (p_c/p_s = 10)."""

    def __init__(self, r, rhos=(10.0,), alpha=ALPHA, weights=None):
        self.rho = np.asarray(rhos, float); self.l = np.zeros((r, len(rhos))); self.thr = np.log(1 / alpha)
        w = np.ones(len(rhos)) if weights is None else np.asarray(weights, float)
        self.lw = np.log(w / w.sum())

    def step(self, nc, ec, ns, es):
        ok = (nc > 0) & (ns > 0)
        pi0 = nc / np.maximum(nc + ns, 1)
        inc = ec[:, None] * np.log(self.rho)[None] - (ec + es)[:, None] * np.log1p((self.rho[None] - 1) * pi0[:, None])
        self.l += np.where(ok[:, None], inc, 0.0)
        return logaddexp_reduce(self.l + self.lw[None]) >= self.thr


class TurnerGrunwald:
    """Unconditional 2x2 'GROW'-type e-value per batch (Turner & Gruenwald): alternative (pc1, ps1),
    null replaced by the common rate p* = (nc pc1 + ns ps1)/(nc+ns) -> E_p[E] <= 1 for all p_c <= p_s.
    ps1 = predictable estimate of p_s, pc1 = rho * ps1 (mixture over rho)."""

    def __init__(self, r, rhos=(10.0,), alpha=ALPHA, oracle_ps=None):
        self.rho = np.asarray(rhos, float); self.l = np.zeros((r, len(rhos))); self.thr = np.log(1 / alpha)
        self.Ns = np.zeros(r); self.Es = np.zeros(r); self.oracle = oracle_ps

    def step(self, nc, ec, ns, es):
        ps1 = (self.Es + 0.5) / (self.Ns + 50) if self.oracle is None else np.full(len(nc), self.oracle)
        ps1 = ps1[:, None]
        pc1 = np.minimum(self.rho[None] * ps1, 0.95)
        n = (nc + ns)[:, None]
        pstar = (nc[:, None] * pc1 + ns[:, None] * ps1) / np.maximum(n, 1)
        ncc, ecc, nss, ess = nc[:, None], ec[:, None], ns[:, None], es[:, None]
        inc = (ecc * np.log(pc1 / pstar) + (ncc - ecc) * np.log((1 - pc1) / (1 - pstar))
               + ess * np.log(ps1 / pstar) + (nss - ess) * np.log((1 - ps1) / (1 - pstar)))
        self.l += np.where(n > 0, inc, 0.0)
        self.Ns += ns; self.Es += es
        return logaddexp_reduce(self.l) - np.log(len(self.rho)) >= self.thr


def _bern_ll(e, n, p):
    p = np.clip(p, 1e-300, 1 - 1e-16)
    return np.where(e > 0, e * np.log(p), 0.0) + np.where(n - e > 0, (n - e) * np.log1p(-p), 0.0)


class UniversalInference:
    """Running-MLE LRT (Wasserman-Ramdas-Balakrishnan): numerator = product of predictive likelihoods with
    past-only smoothed estimates (pc_hat, ps_hat); denominator = sup over H0 {p_c <= p_s} of the likelihood
    of all data so far.  Anytime valid (numerator is a product of predictable densities)."""

    def __init__(self, r, alpha=ALPHA, a=0.5, b=50.0):
        self.num = np.zeros(r); self.Nc = np.zeros(r); self.Ec = np.zeros(r); self.Ns = np.zeros(r); self.Es = np.zeros(r)
        self.a, self.b = a, b; self.thr = np.log(1 / alpha)

    def step(self, nc, ec, ns, es):
        pch = (self.Ec + self.a) / (self.Nc + self.b)
        psh = (self.Es + self.a) / (self.Ns + self.b)
        self.num += _bern_ll(ec, nc, pch) + _bern_ll(es, ns, psh)
        self.Nc += nc; self.Ec += ec; self.Ns += ns; self.Es += es
        pc, ps = self.Ec / np.maximum(self.Nc, 1), self.Es / np.maximum(self.Ns, 1)
        pool = (self.Ec + self.Es) / np.maximum(self.Nc + self.Ns, 1)
        viol = pc > ps
        pc0 = np.where(viol, pool, pc); ps0 = np.where(viol, pool, ps)
        den = _bern_ll(self.Ec, self.Nc, pc0) + _bern_ll(self.Es, self.Ns, ps0)
        return self.num - den >= self.thr


class DPBet:
    """Combined e-process  M = (alpha1/alpha) M1 + (alpha2/alpha) M2  (reject when M >= 1/alpha).
    M1: horizon-targeted bets from the DP policy table (dp.solve); after the table's horizon, fixed rho_after.
    M2: fallback mixture (default: current Baseline mixture) with weight alpha2/alpha."""

    def __init__(self, r, sol, alpha1=0.006, alpha=ALPHA, rho_after=10.0, fallback=None):
        self.sol = sol; self.m1 = np.zeros(r); self.b = 0
        self.w1 = np.log(alpha1 / alpha); self.alpha = alpha
        self.w2 = np.log(1 - alpha1 / alpha) if alpha1 < alpha else -np.inf
        self.fb = fallback(r) if (fallback is not None and alpha1 < alpha) else None
        self.rho_after = rho_after
        self.thr = np.log(1 / alpha)

    def rho_now(self):
        s = self.sol
        if self.b < s["pol"].shape[0]:
            w = s["w"]; idx = np.clip(np.rint((self.m1 - w[0]) / (w[1] - w[0])).astype(int), 0, len(w) - 1)
            return s["rhos"][s["pol"][self.b][idx]]
        return np.full(len(self.m1), self.rho_after)

    def step(self, nc, ec, ns, es):
        rho = self.rho_now()
        ok = (nc > 0) & (ns > 0)
        pi0 = nc / np.maximum(nc + ns, 1)
        inc = ec * np.log(rho) - (ec + es) * np.log1p((rho - 1) * pi0)
        self.m1 += np.where(ok, inc, 0.0)
        self.b += 1
        tot = self.w1 + self.m1
        if self.fb is not None:
            self.fb.step(nc, ec, ns, es)
            m2 = logaddexp_reduce(self.fb.l) - np.log(self.fb.l.shape[1])
            tot = np.logaddexp(tot, self.w2 + m2)
        return tot >= self.thr


class DPBet2(DPBet):
    """DPBet whose rho also depends on the batch's (n_c, n_s) (policy from dp2.solve2)."""

    def step(self, nc, ec, ns, es):
        s = self.sol
        if self.b < s["pol"].shape[0]:
            w = s["w"]; idx = np.clip(np.rint((self.m1 - w[0]) / (w[1] - w[0])).astype(int), 0, len(w) - 1)
            ci = np.minimum(nc, s["ncmax"])
            si = np.clip(np.searchsorted(s["ns_edges"], ns, side="left") - 1, 0, s["pol"].shape[2] - 1)
            rho = s["rhos"][s["pol"][self.b][ci, si, idx]]
        else:
            rho = np.full(len(nc), self.rho_after)
        ok = (nc > 0) & (ns > 0)
        pi0 = nc / np.maximum(nc + ns, 1)
        inc = ec * np.log(rho) - (ec + es) * np.log1p((rho - 1) * pi0)
        self.m1 += np.where(ok, inc, 0.0)
        self.b += 1
        tot = self.w1 + self.m1
        if self.fb is not None:
            self.fb.step(nc, ec, ns, es)
            m2 = logaddexp_reduce(self.fb.l) - np.log(self.fb.l.shape[1])
            tot = np.logaddexp(tot, self.w2 + m2)
        return tot >= self.thr


class Windowed:
    """Wrap a judge: feed it sums over windows of W batches (evaluated only at window ends)."""

    def __init__(self, inner, W):
        self.inner, self.W, self.k, self.acc, self.last = inner, W, 0, None, None

    def step(self, nc, ec, ns, es):
        cur = np.stack([nc, ec, ns, es])
        self.acc = cur if self.acc is None else self.acc + cur
        self.k += 1
        if self.k % self.W == 0:
            self.last = self.inner.step(*self.acc); self.acc = None
        return self.last if self.last is not None else np.zeros(len(nc), bool)


class DPBetJ(DPBet):
    """M1 bets a log-jump J per canary error from a 2-D table (dp3.solve3, or a fixed-pi0 dp.solve table
    translated by jump matching), converted to rho with the batch's actual pi0."""

    def __init__(self, r, sol, alpha1=0.006, alpha=ALPHA, J_after=None, fallback=None, pi_nom=0.1):
        super().__init__(r, sol, alpha1=alpha1, alpha=alpha, fallback=fallback)
        if "Js" in sol:
            self.Jtab = sol["Js"]
        else:
            rh = sol["rhos"]; self.Jtab = np.log(rh / (1 + (rh - 1) * pi_nom))
        self.J_after = np.log(10 / (1 + 9 * pi_nom)) if J_after is None else J_after

    def step(self, nc, ec, ns, es):
        from dp3 import rho_of
        s = self.sol
        if self.b < s["pol"].shape[0]:
            w = s["w"]; idx = np.clip(np.rint((self.m1 - w[0]) / (w[1] - w[0])).astype(int), 0, len(w) - 1)
            J = self.Jtab[s["pol"][self.b][idx]]
        else:
            J = np.full(len(nc), self.J_after)
        pi0 = nc / np.maximum(nc + ns, 1)
        rho = rho_of(J, pi0)
        ok = (nc > 0) & (ns > 0)
        inc = ec * np.log(rho) - (ec + es) * np.log1p((rho - 1) * pi0)
        self.m1 += np.where(ok, inc, 0.0)
        self.b += 1
        tot = self.w1 + self.m1
        if self.fb is not None:
            self.fb.step(nc, ec, ns, es)
            m2 = logaddexp_reduce(self.fb.l) - np.log(self.fb.l.shape[1])
            tot = np.logaddexp(tot, self.w2 + m2)
        return tot >= self.thr


class DPValue:
    """Recommended judge.  M = (alpha1/alpha) M1 + (1-alpha1/alpha) M2, reject when M >= 1/alpha.
    M1: value-function betting (dp4): for a batch with e >= 1 errors and share pi0, rho = argmax_rho
        sum_k Bin(k; e, q) V_{b+1}(log M1 + k log rho - e log1p((rho-1) pi0)),  q = q(pi0) under the design;
        after the horizon (b >= nT): fixed rho_after.
    M2: fallback mixture (current Baseline judge's 4 rate ratios)."""

    def __init__(self, r, sol, alpha1=0.007, alpha=ALPHA, rho_after=10.0, fallback=True, emax_exact=12):
        self.s = sol; self.m1 = np.zeros(r); self.b = 0
        self.w1 = np.log(alpha1 / alpha); self.w2 = np.log(1 - alpha1 / alpha) if alpha1 < alpha else -np.inf
        self.fb = Baseline(r) if (fallback and alpha1 < alpha) else None
        self.rho_after = rho_after; self.thr = np.log(1 / alpha); self.emax = emax_exact
        self.ratio = sol["pc"] / sol["ps"]

    def choose(self, w, pi0, e):
        s = self.s; rho = np.full(len(pi0), self.rho_after)
        if self.b >= s["nT"]:
            return rho
        Vn = None if self.b + 1 >= s["nT"] else s["V"][self.b + 1]
        q = self.ratio * pi0 / (self.ratio * pi0 + 1 - pi0)
        rh = s["rhos"]; L = s["L"]
        from scipy.stats import binom
        for ee in np.unique(e):
            idx = np.nonzero(e == ee)[0]
            eu = min(int(ee), self.emax)   # beyond emax_exact: choose as if emax errors (any choice is valid)
            k = np.arange(eu + 1)
            pk = binom.pmf(k[None, :], eu, q[idx][:, None])                                   # (n, k)
            lr = k[None, None, :] * np.log(rh)[None, :, None] - \
                eu * np.log1p((rh[None, :] - 1) * pi0[idx][:, None])[:, :, None]                # (n, A, k)
            nw = w[idx][:, None, None] + lr
            v = (nw >= L - 1e-12).astype(float) if Vn is None else np.where(nw >= L - 1e-12, 1.0, np.interp(nw, s["w"], Vn))
            ev = np.einsum("nak,nk->na", v, pk)
            rho[idx] = rh[np.argmax(ev, axis=1)]
        return rho

    def step(self, nc, ec, ns, es):
        pi0 = nc / np.maximum(nc + ns, 1)
        e = ec + es
        ok = (nc > 0) & (ns > 0) & (e > 0)
        rho = np.full(len(nc), self.rho_after)
        if ok.any():
            sub = np.nonzero(ok)[0]
            rho[sub] = self.choose(self.m1[sub], pi0[sub], e[sub]) if self.b < self.s["nT"] else self.rho_after
        inc = ec * np.log(rho) - e * np.log1p((rho - 1) * pi0)
        self.m1 += np.where(ok, inc, 0.0)
        self.b += 1
        tot = self.w1 + self.m1
        if self.fb is not None:
            self.fb.step(nc, ec, ns, es)
            m2 = logaddexp_reduce(self.fb.l) - np.log(self.fb.l.shape[1])
            tot = np.logaddexp(tot, self.w2 + m2)
        return tot >= self.thr
