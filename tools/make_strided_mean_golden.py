#!/usr/bin/python3
"""torch 1.13's mean of squares along a STRIDED last dimension, as the projector's RMSNorm takes it
(issue 18): HF pools the patch grid to [1, Hv, T], flattens and transposes it, so mm_soft_emb_norm's
x.float().pow(2).mean(-1) sums each of the T tokens along a dimension of stride T. torch's sum
kernel then takes its outer-reduction order (torch113.hpp: sum_f32_strided), not the contiguous
one. This script writes random bf16 grids for T = 4, 6, 16, 40 and 256 tokens of 1,152 values (one
thread: with more, torch splits the tokens between threads and a group of 32 can break) and
torch's means: tests/test_hf_bf16.cpp checks sum_f32_strided against them bit for bit.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 tools/make_strided_mean_golden.py \
        tests/data/bf16/strided_mean/means.safetensors
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_kit  # noqa: E402  (write_safetensors only: no oracle needed)

torch.manual_seed(0)
torch.set_num_threads(1)
N = 1152
tensors = {}
for t in (4, 6, 16, 40, 256):
    grid = (torch.randn(1, N, t) * 2).to(torch.bfloat16)    # [1, Hv, T] as the pooling leaves it
    tokens = grid.transpose(1, 2)                           # [1, T, Hv], stride T along Hv
    mean = tokens.float().pow(2).mean(-1)                   # what T5Gemma2RMSNorm computes
    contiguous = tokens.contiguous().float().pow(2).mean(-1)
    print(f"T = {t}: {int((mean != contiguous).sum())} of {t} means differ from the contiguous order")
    tensors[f"tokens{t}"] = tokens[0].contiguous().view(torch.int16).numpy().view(np.uint16)
    tensors[f"mean{t}"] = mean[0].numpy().astype(np.float32)
oracle_kit.write_safetensors(sys.argv[1], {k: np.ascontiguousarray(v) for k, v in tensors.items()}, {"made_by": "tools/make_strided_mean_golden.py", "torch": torch.__version__, "torch_threads": "1"})
