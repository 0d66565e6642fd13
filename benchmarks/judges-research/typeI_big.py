"""Large type-I check of the recommended judge G (alpha1 = 0.007, fallback alpha2 = 0.001)."""
import numpy as np, pickle, json
from sim import run
from judges import DPValue
import os, pickle
from dp4 import solve4


def policy(alpha, horizon):
    """The DP betting policy for (alpha, horizon), solved once and cached beside this script."""
    path = f'pol4_{alpha}_{horizon}.pkl'
    if not os.path.exists(path):
        pickle.dump(solve4(alpha, horizon), open(path, 'wb'))
    return pickle.load(open(path, 'rb'))

sol = policy(0.007, 4.5)
out = {}
for (pc, ps, tr, runs, hor) in [(0.001,0.001,'poisson',40000,30),(0.005,0.005,'poisson',40000,30),(0.02,0.02,'poisson',40000,30),
                                (0.10,0.10,'poisson',40000,30),(0.30,0.30,'poisson',20000,30),(0.005,0.005,'swrr',40000,30),
                                (0.02,0.02,'swrr',40000,30),(0.005,0.02,'poisson',20000,30)]:
    t = run(lambda r: DPValue(r, sol, alpha1=0.007), pc, ps, runs, hor, seed=int(pc*1e4)+int(ps*1e5)+len(tr), chunk=10000, traffic=tr)
    k = int(np.isfinite(t).sum()); rate = k / runs
    se = np.sqrt(rate * (1 - rate) / runs)
    out[f'{pc}/{ps} {tr}'] = (rate, se, runs, hor)
    print(pc, ps, tr, runs, hor, 'rejections', k, 'rate', round(rate, 5), '+-', round(se, 5), flush=True)
json.dump(out, open('typeI_big.json', 'w'), indent=1)
