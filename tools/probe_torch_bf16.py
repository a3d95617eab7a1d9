#!/usr/bin/python3
"""Where PyTorch rounds in bfloat16 (groundwork for the HF-bf16 parity policy).

Compares torch's own bf16 CPU results with candidate f32 recipes, element by element, and prints
the fraction of bit-identical values. Run with Debian's torch 1.13 (the oracle's):

    OMP_NUM_THREADS=1 tools/probe_torch_bf16.py

Findings on the development machine (AMD Zen 5, AVX512-BF16; torch 1.13 built with MKLDNN,
ATen CPU capability AVX2) — each rule is what include/t5gemma2/precision.hpp implements:
  gelu(tanh) in bf16      = every elementary step rounded to bf16, constants rounded first: 100 %
                            (round(f32 gelu) only ~57 %)
  a + b, a * b (bf16)     = round(exact f32 result): 100 %
  x * python_scalar       = x * bf16(scalar), rounded: 100 % (the scalar is cast first)
  Linear (bf16)           = oneDNN order: K blocks of K / 512 / 1024 (K <= 512 / <= 1024 / more),
                            pairs (2j+1, 2j) in a block, f32: 0 mismatches (exact-rounded: 10-40)
  Linear with bias        = bias added to the f32 sum, one rounding
  bf16 matmul, small      = <= 16^3 multiply-adds per batch: K*M*N < 400 or B not transposed ->
                            running sum in bf16; q @ k^T view -> f32 in order; larger -> oneDNN
  torch.exp (f32)         = Sleef expf u10 (Horner, rint): 100 %
  softmax (f32, last dim) = 8 lanes by position, folded 4-2-1 (n < 8: left to right), * (1/sum)
  sum / mean (f32)        = AVX2 cascade sum (8 lanes, ILP 4, 4 levels of 16): 100 %
  LayerNorm (bf16)        = Welford in bf16 arithmetic (16 lanes), rstd and shift rounded: 100 %
                            and the last step (x*rstd + shift)*w + b one fused multiply-add
                            (tools/make_layer_norm_golden.py keeps the rows that show it)
"""
import math

import numpy as np
import torch

torch.manual_seed(0)
torch.set_num_threads(1)


def b(t):
    """Round an f32 tensor (or number) to bf16 and back."""
    if not torch.is_tensor(t):
        t = torch.tensor(t, dtype=torch.float32)
    return t.to(torch.bfloat16).float()


def share(x, y):
    return (x == y).float().mean().item()


def main():
    x = (torch.randn(400000) * 3).to(torch.bfloat16)
    xf = x.float()
    g = torch.nn.functional.gelu(x, approximate="tanh").float()
    beta, kappa = b(math.sqrt(2) * (2 / math.sqrt(math.pi)) * 0.5), b(0.044715)
    inner = b(beta * b(xf + b(kappa * b(b(xf * xf) * xf))))
    per_op = b(b(0.5 * xf) * b(1 + b(torch.tanh(inner))))
    print("gelu bf16 == per-op bf16 recipe:", share(g, per_op))
    print("gelu bf16 == round(f32 gelu):   ", share(g, b(torch.nn.functional.gelu(xf, approximate="tanh"))))
    y = torch.randn(400000).to(torch.bfloat16)
    print("add == round(exact):", share((x + y).float(), b(xf + y.float())))
    print("mul == round(exact):", share((x * y).float(), b(xf * y.float())))
    s = 256 ** -0.5 * 1.37
    print("x * scalar == round(x * bf16(scalar)):", share((x * s).float(), b(xf * b(s))))
    for (m, k, n) in [(64, 640, 1024), (6, 640, 1024), (1, 640, 1024), (64, 2048, 640)]:
        a = torch.randn(m, k).to(torch.bfloat16)
        w = (torch.randn(n, k) * 0.05).to(torch.bfloat16)
        out = torch.nn.functional.linear(a, w).float()
        exact = torch.from_numpy((a.float().numpy().astype(np.float64) @ w.float().numpy().astype(np.float64).T).astype(np.float32))
        print(f"linear {m}x{k}x{n} == round(f32 dot):", share(out, b(exact)))



# ---- the rules of precision.hpp, each against torch on random data ------------------------------

def rnd(x):
    return torch.from_numpy(np.asarray(x, np.float32)).to(torch.bfloat16).float().numpy()


def onednn_order(a, w):
    """a [M, K], w [N, K] (bf16 values, f32 arrays): sums in oneDNN's order, f32."""
    m, k = a.shape
    kb = k if k <= 512 else 512 if k <= 1024 else 1024
    total = None
    for k0 in range(0, k, kb):
        acc = np.zeros((m, w.shape[0]), np.float32)
        for j in range(k0, min(k, k0 + kb), 2):
            for kk in ([j + 1, j] if j + 1 < min(k, k0 + kb) else [j]):
                acc = (acc + np.outer(a[:, kk], w[:, kk]).astype(np.float32)).astype(np.float32)
        total = acc if total is None else (total + acc).astype(np.float32)
    return total


def sleef_exp(d):
    d = d.astype(np.float32)
    f64 = np.float64
    fma = lambda a, b, c: (a.astype(f64) * b.astype(f64) + c.astype(f64)).astype(np.float32)
    q = np.rint((d * np.float32(1.442695040888963407359924681)).astype(np.float32)).clip(-300, 300).astype(np.int32)
    qf = q.astype(np.float32)
    s = fma(qf, np.full_like(d, -0.693145751953125), d)
    s = fma(qf, np.full_like(d, -1.428606765330187045e-06), s)
    u = np.full_like(d, 0.000198527617612853646278381)
    for c in (0.00139304355252534151077271, 0.00833336077630519866943359, 0.0416664853692054748535156,
              0.166666671633720397949219, 0.5):
        u = fma(u, s, np.full_like(d, c))
    u = (np.float32(1) + fma((s * s).astype(np.float32), u, s)).astype(np.float32)
    h = q >> 1
    u = (u * np.ldexp(np.float32(1), h).astype(np.float32)).astype(np.float32)
    u = (u * np.ldexp(np.float32(1), q - h).astype(np.float32)).astype(np.float32)
    return np.where(d < -104, np.float32(0), u).astype(np.float32)


def cascade_sum(x):
    """torch 1.13's f32 sum over a contiguous row (AVX2)."""
    f32 = np.float32
    n = len(x)
    vs = n // 8
    groups = x[:vs // 4 * 32].reshape(-1, 4, 8)
    size = len(groups)
    lp = max(4, (int(size - 1).bit_length() if size > 1 else 0) // 4)
    step = 1 << lp
    acc = np.zeros((4, 4, 8), f32)
    i = 0
    while i + step <= size:
        for j in range(step):
            acc[0] = (acc[0] + groups[i + j]).astype(f32)
        i += step
        for j in range(1, 4):
            acc[j] = (acc[j] + acc[j - 1]).astype(f32)
            acc[j - 1] = 0
            if i & ((step - 1) << (j * lp)):
                break
    for ii in range(i, size):
        acc[0] = (acc[0] + groups[ii]).astype(f32)
    for j in range(1, 4):
        acc[0] = (acc[0] + acc[j]).astype(f32)
    part = acc[0]
    for v in range(size * 4, vs):
        part[0] = (part[0] + x[v * 8:(v + 1) * 8]).astype(f32)
    for k in range(1, 4):
        part[0] = (part[0] + part[k]).astype(f32)
    total = f32(0)
    for k in range(vs * 8, n):
        total = f32(total + x[k])
    for k in range(8):
        total = f32(total + part[0][k])
    return total


def rules():
    rs = np.random.RandomState(0)
    for (m, k, n) in [(64, 640, 512), (64, 1152, 256), (32, 2048, 256), (1, 640, 2048)]:
        a = torch.randn(m, k).to(torch.bfloat16)
        w = (torch.randn(n, k) * 0.05).to(torch.bfloat16)
        out = torch.nn.functional.linear(a, w).float().numpy()
        print(f"linear {m}x{k}x{n}: oneDNN-order mismatches", int((rnd(onednn_order(a.float().numpy(), w.float().numpy())) != out).sum()))
    x = (rs.randn(100000) * 10).astype(np.float32)
    print("exp == Sleef expf u10:", (sleef_exp(x) == torch.exp(torch.from_numpy(x)).numpy()).mean())
    ok = 0
    for n in (16, 48, 192, 640, 2048, 5000):
        for _ in range(50):
            v = (rs.randn(n) * 3).astype(np.float32)
            ok += cascade_sum(v) == torch.from_numpy(v).sum().item()
    print("sum == cascade order:", ok / 300)
    ok = 0
    for n in (5, 8, 31, 100, 2000):
        for _ in range(40):
            row = rnd(rs.randn(n) * 3)
            row[rs.rand(n) < 0.2] = -3.3895314e38
            e = sleef_exp(row - row.max())
            lanes = np.zeros(8, np.float32)
            for i in range(n):
                lanes[i % 8] = np.float32(lanes[i % 8] + e[i])
            if n < 8:
                s = np.float32(0)
                for i in range(n):
                    s = np.float32(s + lanes[i])
            else:
                for wdt in (4, 2, 1):
                    lanes[:wdt] = (lanes[:wdt] + lanes[wdt:2 * wdt]).astype(np.float32)
                s = lanes[0]
            p = (e * (np.float32(1) / s)).astype(np.float32)
            ok += (p == torch.softmax(torch.from_numpy(row), -1).numpy()).all()
    print("softmax rows equal:", ok / 200)


if __name__ == "__main__":
    main()
    rules()
