import numpy as np, time
from sim import run, summarize
from judges import DPValue
from dp4 import solve4
R16 = np.array([1.0, 1.5, 2, 3, 4, 6, 8, 10, 15, 20, 30, 50, 100, 250, 1e3, 1e4])
for nb, em in [(4, 3), (2, 2)]:
    t0 = time.time(); s = solve4(0.007, 4.5, dw=0.02, rhos=R16, nbins=nb, emax=em)
    print('pi0 bins', 4*nb, 'emax', em, 'components', s['ncomp'], 'build', round(time.time()-t0, 1), 's V0', round(s['V0'], 3), flush=True)
    t = run(lambda r: DPValue(r, s, alpha1=0.007), 0.05, 0.005, 6000, 60, seed=41)
    print('   design', summarize(t)[:2], 'P<=4.5', round(np.mean(t <= 4.5), 3), flush=True)
