#!/usr/bin/env python3
"""Coefficients of the bf16 path's GELU (kernels/cpu/bf16_math.h): 0.5 * erf(x / sqrt 2) for x >= 0 as 16
cubic pieces in u = x * S, piece i covering u in [i - 0.5, i + 0.5] (u rounded to nearest), each a Chebyshev
interpolant in t = u - i; piece 15 is the constant 0.5 (erf has rounded to 1 in float32 there).
Prints the C++ tables and the worst |GELU error| over a dense grid, evaluated in float32 like the kernel,
against math.erf in double.  Usage: scripts/gelu_bf16_fit.py [S]
"""
import math, sys
import numpy as np

S = float(sys.argv[1]) if len(sys.argv) > 1 else 2.5
DEG, PIECES = 3, 16


def cheb_monomial(f, lo, hi, deg):
    k = np.arange(deg + 1)
    xs = np.cos(np.pi * (k + 0.5) / (deg + 1))            # Chebyshev nodes on [-1, 1]
    t = lo + (xs + 1) * (hi - lo) / 2
    c = np.polynomial.chebyshev.chebfit(xs, f(t), deg)
    # to monomials in t (the kernel evaluates Horner in t = u - i)
    p = np.polynomial.chebyshev.cheb2poly(c)               # in xs
    # xs = (t - mid) * 2 / (hi - lo); here mid = 0, hi - lo = 1: xs = 2 t
    return [p[j] * 2.0 ** j for j in range(deg + 1)]


def half_erf(u):
    return np.array([0.5 * math.erf(v / S / math.sqrt(2)) for v in np.atleast_1d(u)])


coef = np.zeros((PIECES, DEG + 1))
for i in range(PIECES - 1):
    coef[i] = cheb_monomial(lambda t: half_erf(i + t), -0.5, 0.5, DEG)
coef[PIECES - 1] = [0.5] + [0.0] * DEG
c32 = coef.astype(np.float32)


def gelu_kernel(x):
    x = x.astype(np.float32)
    a = np.abs(x)
    u = np.minimum(a * np.float32(S), np.float32(PIECES - 1))
    n = (u + np.float32(12582912.0)) - np.float32(12582912.0)
    i = n.astype(np.int64) % PIECES
    t = u - n
    e = c32[i, DEG]
    for j in range(DEG - 1, -1, -1):
        e = e * t + c32[i, j]                              # fma in the kernel; float32 here
    return (a * e + np.float32(0.5) * x).astype(np.float32)


x = np.concatenate([np.linspace(-12, 12, 2_400_001), np.linspace(-1e4, 1e4, 200_001)]).astype(np.float32)
ref = np.array([0.5 * float(v) * (1 + math.erf(float(v) / math.sqrt(2))) for v in x])
err = np.abs(gelu_kernel(x).astype(np.float64) - ref)
small = np.abs(x) <= 12
print(f"// S = {S}: max |error| {err[small].max():.3g} on |x| <= 12, "
      f"max |error| / (1 + |x|) {np.max(err / (1 + np.abs(x))):.3g} on |x| <= 1e4")
for j in range(DEG + 1):
    print(f"// c{j}:", ", ".join(f"{v:.9g}f" for v in c32[:, j]))
