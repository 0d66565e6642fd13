"""Vectorised simulation harness for anytime-valid canary error-rate judges.

Traffic: canary 20 req/s, stable 180 req/s, 100 ms batches, Poisson arrivals,
Bernoulli errors.  A judge is a class with  __init__(runs)  and  step(nc, ec, ns, es) -> bool array
(True = rejected now or before).  Everything is numpy, single process.
"""
import numpy as np

ALPHA = 0.008
DT = 0.1
RATE_C, RATE_S = 20.0, 180.0


def run(judge_factory, pc, ps, runs, horizon_s, seed=0, chunk=None, traffic="poisson"):
    """Returns array of rejection times in seconds (np.inf if never within horizon).
    traffic="poisson": independent Poisson arrivals 20 and 180 req/s (as in the brief);
    traffic="swrr": 200 req/s Poisson arrivals split 1:9 by smooth weighted round-robin (Ripcord's router:
    every 10th request goes to the canary, the phase carries over between batches)."""
    rng = np.random.default_rng(seed)
    chunk = chunk or runs
    out = []
    for start in range(0, runs, chunk):
        r = min(chunk, runs - start)
        judge = judge_factory(r)
        t_rej = np.full(r, np.inf)
        alive = np.ones(r, bool)
        nb = int(round(horizon_s / DT))
        cnt = rng.integers(0, 10, r)
        for b in range(nb):
            if traffic == "swrr":
                n = rng.poisson((RATE_C + RATE_S) * DT, r)
                nc = (cnt + n) // 10 - cnt // 10
                ns = n - nc; cnt = cnt + n
            else:
                nc = rng.poisson(RATE_C * DT, r)
                ns = rng.poisson(RATE_S * DT, r)
            ec = rng.binomial(nc, pc)
            es = rng.binomial(ns, ps)
            rej = judge.step(nc, ec, ns, es)
            newly = rej & alive
            t_rej[newly] = (b + 1) * DT
            alive &= ~rej
            if not alive.any():
                break
        out.append(t_rej)
    return np.concatenate(out)


def summarize(t):
    t = np.asarray(t)
    q = np.quantile(t, [0.5, 0.9])
    return q[0], q[1], np.mean(np.isfinite(t))


def logaddexp_reduce(a, axis=-1):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))
