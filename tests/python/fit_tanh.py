#!/usr/bin/env python3
"""Fit the int8 forecaster's tanh: x*P(x^2)/Q(x^2), P of degree 2 and Q of degree 2 in x^2 (odd 5 / even 4), Q(0) = 1,
on [0, c], minimax in absolute error by Lawson's iteratively reweighted least squares, then evaluated the way
src/EdgeRnn.Numerics/Activations.cs does it (float32, clamp to +-c, Horner, no FMA) over [-20, 20] step 1e-4.

Usage: /usr/bin/python3 tests/python/fit_tanh.py [clamp ...]   (needs only numpy)
Printed for c = 5.05 (the shipped one): P0..P2, Q1..Q2 and the measured maximum error (4.6e-5).
"""
import sys
import numpy as np


def fit(c, n_p=3, n_q=2, iters=400):
    x = np.linspace(0, c, 20000)
    t, x2 = np.tanh(x), x * x
    lw, q_prev = np.ones_like(x), np.ones_like(x)
    for _ in range(iters):
        a = np.hstack([np.stack([x * x2 ** k for k in range(n_p)], 1),
                       np.stack([-t * x2 ** k for k in range(1, n_q + 1)], 1)])
        w = np.sqrt(lw) / q_prev
        sol, *_ = np.linalg.lstsq(a * w[:, None], t * w, rcond=None)
        p, q = sol[:n_p], np.concatenate([[1.0], sol[n_p:]])
        big_p = sum(p[k] * x * x2 ** k for k in range(n_p))
        q_prev = sum(q[k] * x2 ** k for k in range(n_q + 1))
        err = np.abs(big_p / q_prev - t)
        lw = lw * err
        lw /= lw.sum()
    return p.astype(np.float32), q.astype(np.float32)


def eval_f32(p, q, c, x):
    f = np.float32
    xc = np.maximum(f(-c), np.minimum(f(c), x.astype(f)))
    x2 = xc * xc
    big_p = f(p[-1])
    for k in range(len(p) - 2, -1, -1):
        big_p = big_p * x2 + p[k]
    big_p = big_p * xc
    big_q = f(q[-1])
    for k in range(len(q) - 2, -1, -1):
        big_q = big_q * x2 + q[k]
    return big_p / big_q


if __name__ == "__main__":
    grid = np.arange(-20, 20, 1e-4)
    for c in [float(a) for a in sys.argv[1:]] or [5.05]:
        p, q = fit(c)
        e_tanh = np.abs(eval_f32(p, q, c, grid).astype(np.float64) - np.tanh(grid)).max()
        sig = 0.5 * eval_f32(p, q, c, (0.5 * grid).astype(np.float32)) + 0.5
        e_sig = np.abs(sig.astype(np.float64) - 1 / (1 + np.exp(-grid))).max()
        print(f"clamp {c}: P = {[repr(v) for v in p]}, Q = {[repr(v) for v in q[1:]]}, "
              f"max |error| tanh {e_tanh:.3e}, sigmoid {e_sig:.3e}")
