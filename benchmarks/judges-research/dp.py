"""Dynamic programme for a horizon-targeted betting strategy on the conditional allocation null.

Under H0 (p_c <= p_s), given a batch's request counts (n_c, n_s) and its error count e, the number of canary
errors is (noncentral) hypergeometric, dominated in convex order by Binomial(e, pi0), pi0 = n_c/(n_c+n_s).
So for ANY rho >= 1 chosen before the batch's allocation is seen, the factor
        f = rho^{e_c} / (1 + (rho-1) pi0)^{e}
has conditional mean <= 1, and  M_t = prod f  is a test supermartingale whatever rule picks rho.
Here rho is picked by a policy table rho*(batch index, log M) that maximises P_design(M reaches 1/alpha1
by time T) (computed under a nominal design model: pi0 = share, canary errors Poisson(rate_c*pc*dt),
stable errors Poisson(rate_s*ps*dt)).  Validity does not depend on the model: only power does.
"""
import numpy as np
from scipy.stats import poisson

RHOS = np.array([1.0, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 70, 100, 150, 250, 500, 1e3, 1e4])


def solve(alpha1, T, pc=0.05, ps=0.005, rate_c=20.0, rate_s=180.0, dt=0.1, wmin=-12.0, dw=0.01,
          rhos=RHOS, kmax=5):
    L = np.log(1 / alpha1)
    w = np.arange(wmin, L + dw / 2, dw)          # grid; last point >= L-ish
    nT = int(round(T / dt))
    pi0 = rate_c / (rate_c + rate_s)
    mc, ms = rate_c * pc * dt, rate_s * ps * dt
    k = np.arange(kmax + 1)
    pk = poisson.pmf(k, mc); pj = poisson.pmf(k, ms)
    pk[-1] += 1 - pk.sum(); pj[-1] += 1 - pj.sum()
    P = pk[:, None] * pj[None, :]                 # (kc, ks)
    lr = np.log(rhos)[:, None, None] * k[None, :, None] - \
        (k[None, :, None] + k[None, None, :]) * np.log1p((rhos - 1) * pi0)[:, None, None]   # (A, kc, ks)
    V = (w >= L - 1e-12).astype(float)
    pol = np.zeros((nT, len(w)), dtype=np.int16)
    vals = []
    for t in range(nT - 1, -1, -1):
        # V_next as function of w: interpolate, >= L -> 1, below wmin -> value at wmin
        best = np.full(len(w), -1.0); arg = np.zeros(len(w), np.int16)
        for a in range(len(rhos)):
            nw = w[:, None, None] + lr[a][None]
            v = np.where(nw >= L - 1e-12, 1.0, np.interp(nw, w, V))
            ev = np.tensordot(v, P, axes=([1, 2], [0, 1]))
            better = ev > best + 1e-12
            best = np.where(better, ev, best); arg = np.where(better, a, arg)
        best = np.where(w >= L - 1e-12, 1.0, best)
        V = best; pol[t] = arg
        vals.append(V[np.argmin(np.abs(w))])
    return dict(w=w, pol=pol, rhos=rhos, L=L, dt=dt, T=T, V0=V[np.argmin(np.abs(w))])


if __name__ == "__main__":
    import sys, time
    for T in [3.5, 4.0, 4.5, 5.0]:
        t0 = time.time()
        s = solve(0.006, T)
        print(T, "P(reach 1/0.006 by T) =", round(s["V0"], 4), f"{time.time()-t0:.1f}s", flush=True)
