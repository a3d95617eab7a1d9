#!/usr/bin/python3
"""torch 1.13's LayerNorm on bf16 rows, kept where its last step's fusion shows (issue 18).

torch's AVX2 LayerNorm kernel writes y = (x·rstd + shift)·w + β and its compiler contracts that
into fused multiply-adds; x·rstd is exact (both bf16), so only the second one, fma(t, w, β),
changes bits — rarely: 25 of 23 M values on random rows of 1,152. This script runs torch's
layer_norm on 20,000 random bf16 rows of 1,152 (SigLIP's width) and keeps the rows where the
unfused recipe rounds to another bf16 than the fused one (decided from torch's own mean and
rstd), with torch's outputs: tests/test_hf_bf16.cpp checks torch113.hpp's
layer_norm_torch113_bf16 against them bit for bit.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 tools/make_layer_norm_golden.py \
        tests/data/bf16/layer_norm/rows.safetensors
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_kit  # noqa: E402  (write_safetensors only: no oracle needed)

torch.manual_seed(0)
torch.set_num_threads(1)
R, N, EPS = 20000, 1152, 1e-6


def bf16(a):
    """f32 array -> nearest-even bf16 values, as f32."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(torch.bfloat16).float().numpy()


x = (torch.randn(R, N) * 3 + torch.randn(R, 1)).to(torch.bfloat16)
w = (torch.randn(N) * 0.5 + 1).to(torch.bfloat16)
b = (torch.randn(N) * 0.3).to(torch.bfloat16)
y, mean, rstd = torch.native_layer_norm(x, (N,), w, b, EPS)
xf, wf, bfl, yf = x.float().numpy(), w.float().numpy(), b.float().numpy(), y.float().numpy()
m, rs = mean.float().numpy().reshape(R, 1), rstd.float().numpy().reshape(R, 1)
shift = bf16(-rs * m)
t = (xf * rs + shift).astype(np.float32)                       # x·rstd exact, one f32 rounding
unfused = bf16((t * wf).astype(np.float32) + bfl)
fused = bf16((t.astype(np.float64) * wf + bfl).astype(np.float32))  # exact in f64, one rounding
assert (fused == yf).mean() > 0.999, "torch's rows are not the fused recipe at all"
rows = np.nonzero((unfused != fused).any(axis=1))[0]
print(f"{len(rows)} of {R} rows distinguish the fused last step; torch == fused on them:",
      bool((fused[rows] == yf[rows]).all()))
tensors = {"x": xf[rows], "weight": wf, "bias": bfl, "y": yf[rows]}
oracle_kit.write_safetensors(sys.argv[1], {k: np.ascontiguousarray(v) for k, v in tensors.items()}, {"eps": str(EPS), "made_by": "tools/make_layer_norm_golden.py", "torch": torch.__version__})
