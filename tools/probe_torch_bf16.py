#!/usr/bin/python3
"""Where PyTorch rounds in bfloat16 (groundwork for the HF-bf16 parity policy).

Compares torch's own bf16 CPU results with candidate f32 recipes, element by element, and prints
the fraction of bit-identical values. Run with Debian's torch 1.13 (the oracle's):

    OMP_NUM_THREADS=1 tools/probe_torch_bf16.py

Findings on the development machine (AVX-512, torch built with MKLDNN):
  gelu(tanh) in bf16      = every elementary step rounded to bf16, constants rounded first: 100 %
                            (round(f32 gelu) only ~57 %)
  a + b, a * b (bf16)     = round(exact f32 result): 100 %
  x * python_scalar       = x * bf16(scalar), rounded: 100 % (the scalar is cast first)
  Linear (bf16)           = round(f32 dot): 99.97-100 % per output, whatever the f32 order
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


if __name__ == "__main__":
    main()
