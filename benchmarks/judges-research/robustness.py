"""(1) coarse value table (cheap enough to build at init in Swift) vs the fine one;
(2) mis-specified traffic (table built for 20/180 req/s, real traffic half / double);
(3) scalar reference implementation agrees with the vectorised one."""
import numpy as np, pickle, time, math
import sim
from sim import run, summarize
from judges import DPValue, Baseline
from dp4 import solve4
import os, pickle
from dp4 import solve4


def policy(alpha, horizon):
    """The DP betting policy for (alpha, horizon), solved once and cached beside this script."""
    path = f'pol4_{alpha}_{horizon}.pkl'
    if not os.path.exists(path):
        pickle.dump(solve4(alpha, horizon), open(path, 'wb'))
    return pickle.load(open(path, 'rb'))

sol = policy(0.007, 4.5)
t0 = time.time()
coarse = solve4(0.007, 4.5, dw=0.02, rhos=np.array([1.0, 1.5, 2, 3, 4, 6, 8, 10, 15, 20, 30, 50, 100, 250, 1e3, 1e4]))
print('coarse table (dw .02, 16 rhos) built in', round(time.time() - t0, 1), 's; V0', round(coarse['V0'], 3), 'fine V0', round(sol['V0'], 3))
t = run(lambda r: DPValue(r, coarse, alpha1=0.007), 0.05, 0.005, 6000, 60, seed=41)
print('coarse: design', summarize(t)[:2], 'P<=4.5', round(np.mean(t <= 4.5), 3), flush=True)
t = run(lambda r: DPValue(r, sol, alpha1=0.007), 0.05, 0.005, 6000, 60, seed=41)
print('fine  : design', summarize(t)[:2], 'P<=4.5', round(np.mean(t <= 4.5), 3), flush=True)
for scale in [0.5, 2.0]:
    sim.RATE_C, sim.RATE_S = 20 * scale, 180 * scale
    for name, f in [('baseline', lambda r: Baseline(r)), ('G (table for 20/180)', lambda r: DPValue(r, sol, alpha1=0.007))]:
        t = run(f, 0.05, 0.005, 4000, 120, seed=42)
        print(f'traffic x{scale}', name, summarize(t)[:2], flush=True)
    t = run(lambda r: DPValue(r, sol, alpha1=0.007), 0.005, 0.005, 10000, 60, seed=43)
    print(f'traffic x{scale} G type-I (10000 x 60 s)', np.mean(np.isfinite(t)), flush=True)
sim.RATE_C, sim.RATE_S = 20, 180
from ripcord_ref import ValueTable, ValueBettingJudge
t0 = time.time(); tab = ValueTable(); print('ref table built in', round(time.time() - t0, 1), 's; V0', round(float(np.interp(0, tab.w, tab.V[0])), 3))
rng = np.random.default_rng(44); times = []
for r in range(1000):
    j = ValueBettingJudge(table=tab); tt = math.inf
    for b in range(600):
        nc, ns = rng.poisson(2), rng.poisson(18)
        if j.observe(nc, rng.binomial(nc, 0.05), ns, rng.binomial(ns, 0.005)) == 'fail':
            tt = (b + 1) * 0.1; break
    times.append(tt)
times = np.array(times)
print('scalar ref, 1000 runs: median', np.median(times), 'p90', np.quantile(times, .9), 'P<=4.5', np.mean(times <= 4.5))
