#!/usr/bin/env python3
"""Coefficients of the bf16 path's GELU and GELU derivative (kernels/cpu/bf16_math.h), as 16 polynomial pieces in
u = |x| * S, piece i covering u in [i - 0.5, i + 0.5] (u rounded to nearest), each a Chebyshev interpolant in
t = u - i; piece 15 is the constant 0.5 (the function has rounded to its limit in float32 there, or nearly).
  GELU:       x / 2 + |x| h(|x|),          h(a) = erf(a / sqrt 2) / 2,                cubic pieces;
  derivative: 1 / 2 + sign(x) k(|x|),      k(a) = erf(a / sqrt 2) / 2 + a phi(a),     quartic pieces.
Prints the C++ tables and the worst |error| of each over a dense grid, evaluated in float32 like the kernel,
against math.erf / math.exp in double.  Usage: scripts/gelu_bf16_fit.py [S]   (S = 2.7 in the kernel)
"""
import math, sys
import numpy as np

S = float(sys.argv[1]) if len(sys.argv) > 1 else 2.7
PIECES = 16


def cheb_monomial(f, deg):
    k = np.arange(deg + 1)
    xs = np.cos(np.pi * (k + 0.5) / (deg + 1))            # Chebyshev nodes on [-1, 1]
    c = np.polynomial.chebyshev.chebfit(xs, f(xs / 2), deg)  # piece t in [-1/2, 1/2], xs = 2 t
    p = np.polynomial.chebyshev.cheb2poly(c)               # monomials in xs, then in t (the kernel's Horner)
    return [p[j] * 2.0 ** j for j in range(deg + 1)]


def half_erf(a):
    return 0.5 * math.erf(a / math.sqrt(2))


def k_fun(a):
    return half_erf(a) + a * math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)


def table(fun, deg):
    coef = np.zeros((PIECES, deg + 1))
    for i in range(PIECES - 1):
        coef[i] = cheb_monomial(lambda t: np.array([fun((i + v) / S) for v in np.atleast_1d(t)]), deg)
    coef[PIECES - 1] = [0.5] + [0.0] * deg
    coef[np.abs(coef) < 1e-12] = 0.0                      # piece 0's odd / even terms: exactly zero, fit noise
    return coef.astype(np.float32)


def pieces(c32, x):
    a = np.abs(x)
    u = np.minimum(a * np.float32(S), np.float32(PIECES - 1))
    n = (u + np.float32(12582912.0)) - np.float32(12582912.0)
    i = n.astype(np.int64) % PIECES
    t = u - n
    deg = c32.shape[1] - 1
    e = c32[i, deg]
    for j in range(deg - 1, -1, -1):
        e = e * t + c32[i, j]                              # fma in the kernel; float32 here
    return a, e


def report(name, c32, kernel, ref):
    x = np.concatenate([np.linspace(-12, 12, 2_400_001), np.linspace(-1e4, 1e4, 200_001)]).astype(np.float32)
    err = np.abs(kernel(c32, x).astype(np.float64) - np.array([ref(float(v)) for v in x]))
    small = np.abs(x) <= 12
    print(f"// {name}, S = {S}: max |error| {err[small].max():.3g} on |x| <= 12, "
          f"max |error| / (1 + |x|) {np.max(err / (1 + np.abs(x))):.3g} on |x| <= 1e4")
    for j in range(c32.shape[1]):
        print(f"// c{j}:", ", ".join(f"{v:.9g}f" for v in c32[:, j]))


def gelu_kernel(c32, x):
    a, h = pieces(c32, x)
    return (a * h + np.float32(0.5) * x).astype(np.float32)


def grad_kernel(c32, x):
    _, k = pieces(c32, x)
    return (np.float32(0.5) + np.copysign(k, x)).astype(np.float32)


report("GELU", table(half_erf, 3), gelu_kernel, lambda v: v * (0.5 + half_erf(v)))
report("GELU derivative", table(k_fun, 4), grad_kernel, lambda v: 0.5 + math.copysign(k_fun(abs(v)), v))
