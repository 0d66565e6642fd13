"""Full evaluation: power (median / p90 time to reject) and long-horizon type-I for all candidates."""
import numpy as np, pickle, json, time, sys
from sim import run, summarize
from judges import *
from dp import solve
from dp4 import solve4

sol_fix = solve(0.007, 4.5)
sol4 = policy(0.007, 4.5)
sol4b = policy(0.006, 4.5)
import os
import os, pickle
from dp4 import solve4


def policy(alpha, horizon):
    """The DP betting policy for (alpha, horizon), solved once and cached beside this script."""
    path = f'pol4_{alpha}_{horizon}.pkl'
    if not os.path.exists(path):
        pickle.dump(solve4(alpha, horizon), open(path, 'wb'))
    return pickle.load(open(path, 'rb'))

sol4c = policy(0.008, 4.5)
lr = np.linspace(np.log(10) - 2.0, np.log(10) + 2.0, 21)
wts = np.exp(-0.5 * ((lr - np.log(10)) / 0.8) ** 2)
C = {
  'A current baseline (4 ratios, Ville)': lambda r: Baseline(r),
  'B fixed ratio rho=10 (log-optimal at design)': lambda r: FixedRho(r, (10.0,)),
  'C log-normal prior on rho (21-pt grid)': lambda r: FixedRho(r, tuple(np.exp(lr)), weights=wts),
  'D Turner-Grunwald 2x2, plug-in p_s, rho {4,8,16}': lambda r: TurnerGrunwald(r, (4., 8., 16.)),
  'E universal inference, running MLE': lambda r: UniversalInference(r),
  'F DP rho-table (fixed pi0) + fallback': lambda r: DPBet(r, sol_fix, alpha1=0.007, fallback=lambda r: Baseline(r)),
  'G value-function betting + fallback (recommended)': lambda r: DPValue(r, sol4, alpha1=0.007),
  'H value-function betting, alpha1=0.006': lambda r: DPValue(r, sol4b, alpha1=0.006),
  'I value-function betting, alpha1=0.008, no fallback': lambda r: DPValue(r, sol4c, alpha1=0.008),
}
pts = [(0.05, 0.005), (0.02, 0.005), (0.10, 0.02), (0.03, 0.001)]
only = sys.argv[1:] 
res = {}
for name, f in C.items():
    if only and name[0] not in only: continue
    t0 = time.time(); row = {}
    for pc, ps in pts:
        t = run(f, pc, ps, 4000, 200, seed=21)
        m, q9, _ = summarize(t); row[f'{pc}/{ps}'] = (m, q9)
    t = run(f, 0.05, 0.005, 4000, 200, seed=22, traffic='swrr'); row['design swrr'] = summarize(t)[:2]
    t = run(f, 0.05, 0.005, 4000, 60, seed=23); row['P<=4.5'] = float(np.mean(t <= 4.5))
    for p in [0.001, 0.005, 0.02, 0.10]:
        t = run(f, p, p, 5000, 300, seed=31 + int(p * 1000))
        row[f'typeI {p}'] = float(np.mean(np.isfinite(t)))
    res[name] = row
    print(name, {k: (tuple(round(float(x), 2) for x in v) if isinstance(v, tuple) else round(v, 4)) for k, v in row.items()},
          f'{time.time()-t0:.0f}s', flush=True)
    json.dump(res, open(f'results_{"".join(only) or "all"}.json', 'w'), indent=1, default=float)
