"""Fixed-horizon power ceilings at the design point (Poisson model, share 0.1 known): what no level-0.008 test
observing data up to time T can beat (NP simple-vs-least-favourable-simple), and the UMPU conditional test."""
import numpy as np
from scipy.stats import poisson, binom
A=0.008
def np_power(T, pc=0.05, ps=0.005, rc=20, rs=180):
    lc1, ls1 = rc*pc*T, rs*ps*T
    p0 = (rc*pc+rs*ps)/(rc+rs); lc0, ls0 = rc*p0*T, rs*p0*T
    C=np.arange(80); B=np.arange(120)
    P1=poisson.pmf(C,lc1)[:,None]*poisson.pmf(B,ls1)[None]
    P0=poisson.pmf(C,lc0)[:,None]*poisson.pmf(B,ls0)[None]
    lr=(np.log(P1+1e-300)-np.log(P0+1e-300)).ravel(); o=np.argsort(-lr)
    c0=np.cumsum(P0.ravel()[o]); c1=np.cumsum(P1.ravel()[o])
    i=np.searchsorted(c0,A)           # randomise at i
    p1i=P1.ravel()[o][i]; p0i=P0.ravel()[o][i]
    base1=c1[i-1] if i>0 else 0; base0=c0[i-1] if i>0 else 0
    return base1 + p1i*(A-base0)/p0i
def umpu_power(T, pc=0.05, ps=0.005, rc=20, rs=180):
    lc1, ls1 = rc*pc*T, rs*ps*T; q1=lc1/(lc1+ls1); pi0=rc/(rc+rs)
    pw=0
    for E in range(0,100):
        pE=poisson.pmf(E,lc1+ls1)
        if pE<1e-14: continue
        k=np.arange(E+1); p0=binom.pmf(k,E,pi0); p1=binom.pmf(k,E,q1)
        tail0=np.cumsum(p0[::-1])[::-1]   # P0(X>=k)
        kk=np.argmax(tail0<=A)            # smallest k with tail<=A
        if tail0[kk]>A: continue
        g=(A-tail0[kk])/p0[kk-1] if kk>0 else 0
        pw+=pE*(p1[kk:].sum()+ (g*p1[kk-1] if kk>0 else 0))
    return pw
for T in [3.0,3.5,4.0,4.5,5.0]:
    print(T, 'NP(simple LF null)', round(np_power(T),3), 'UMPU conditional', round(umpu_power(T),3))
