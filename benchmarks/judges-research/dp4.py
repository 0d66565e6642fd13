"""Value-function betting (recommended).  Offline/at init: value iteration for
    V_t(w) = max P_design(log M1 reaches L1 = log(1/alpha1) by batch nT | log M1 = w at batch t),
where at each batch with e >= 1 errors and canary share pi0 = n_c/(n_c+n_s) the strategy picks a rate ratio rho
and log M1 moves by  e_c*log(rho) - e*log1p((rho-1)*pi0)  (a valid bet under H0 whatever rho is).
Design model: canary errors Poisson(n_c pc), stable errors Poisson(n_s ps) per batch, n_c ~ Pois(rate_c dt),
n_s ~ Pois(rate_s dt); given e errors the canary count is Binomial(e, q), q = n_c pc / (n_c pc + n_s ps).
Online: the bet for a batch is the argmax over the rho grid of the expected V_{t+1} given the batch's
actual (pi0, e)  -- so only the 2-D table V[t, w] is needed."""
import numpy as np
from scipy.stats import poisson, binom

RHOS = np.array([1.0, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 70, 100, 150, 250, 500, 1e3, 1e4])


def batch_mixture(pc, ps, rate_c, rate_s, dt, nbins=16, emax=4):
    """Distribution of (pi0, e>=1) per batch under the design model, binned in pi0.
    Returns list of (prob, pi0_rep, e, q_rep) and P(no usable batch)."""
    mc, ms = rate_c * dt, rate_s * dt
    ncs = np.arange(1, int(poisson.ppf(1 - 1e-7, mc)) + 2)
    nss = np.arange(0, int(poisson.ppf(1 - 1e-7, ms)) + 2)
    Pn = poisson.pmf(ncs, mc)[:, None] * poisson.pmf(nss, ms)[None]
    pi0 = ncs[:, None] / (ncs[:, None] + nss[None])
    lam = ncs[:, None] * pc + nss[None] * ps
    q = ncs[:, None] * pc / lam
    edges = np.quantile(pi0.ravel(), np.linspace(0, 1, nbins + 1))  # unweighted, then weighted reps
    edges = np.unique(np.concatenate([[0], np.linspace(0, 1, 4 * nbins + 1)]))
    bins = np.clip(np.searchsorted(edges, pi0, side="right") - 1, 0, len(edges) - 2)
    out = []
    for e in range(1, emax + 1):
        pe = Pn * poisson.pmf(e, lam)
        for bi in np.unique(bins):
            m = bins == bi
            pr = pe[m].sum()
            if pr < 1e-9: continue
            out.append((pr, (pe[m] * pi0[m]).sum() / pr, e, (pe[m] * q[m]).sum() / pr))
    tot = sum(o[0] for o in out)
    return out, 1 - tot


def expected_next(Vn, w_grid, L, w, pi0, e, q, rhos=RHOS):
    """E[V_{t+1}(w + increment)] for each rho (vectorised over w (array) and rhos). Vn=None: terminal."""
    k = np.arange(e + 1)
    pk = binom.pmf(k, e, q)
    lr = k[None, :] * np.log(rhos)[:, None] - e * np.log1p((rhos - 1) * pi0)[:, None]    # (A, k)
    nw = np.asarray(w)[..., None, None] + lr                                              # (..., A, k)
    if Vn is None:
        v = (nw >= L - 1e-12).astype(float)
    else:
        v = np.where(nw >= L - 1e-12, 1.0, np.interp(nw, w_grid, Vn))
    return v @ pk                                                                           # (..., A)


def solve4(alpha1, T, pc=0.05, ps=0.005, rate_c=20.0, rate_s=180.0, dt=0.1, wmin=-10.0, dw=0.01, rhos=RHOS, nbins=16, emax=4):
    L = np.log(1 / alpha1)
    w = np.arange(wmin, L + dw / 2, dw)
    nT = int(round(T / dt))
    mix, p_none = batch_mixture(pc, ps, rate_c, rate_s, dt, nbins=nbins, emax=emax)
    ncomp = len(mix)
    V = np.zeros((nT + 1, len(w)))
    V[nT] = (w >= L - 1e-12)
    for t in range(nT - 1, -1, -1):
        acc = p_none * V[t + 1]
        for pr, pi0, e, q in mix:
            acc = acc + pr * expected_next(V[t + 1], w, L, w, pi0, e, q, rhos).max(axis=-1)
        V[t] = np.where(w >= L - 1e-12, 1.0, acc)
    return dict(w=w, V=V, L=L, nT=nT, dt=dt, T=T, rhos=rhos, pc=pc, ps=ps, V0=np.interp(0.0, w, V[0]), ncomp=ncomp)


if __name__ == "__main__":
    import time
    for a1, T in [(0.007, 4.5)]:
        t0 = time.time(); s = solve4(a1, T); print(a1, T, "V0", s["V0"], f"{time.time()-t0:.1f}s")
