#!/usr/bin/python3
"""torch 1.13's mean of squares along a STRIDED last dimension, as the projector's RMSNorm takes it
(issue 18): HF pools the patch grid to [1, Hv, T], flattens and transposes it, so mm_soft_emb_norm's
x.float().pow(2).mean(-1) sums each of the T tokens along a dimension of stride T. torch's sum
kernel then takes its outer-reduction order (torch113.hpp: sum_f32_strided), not the contiguous
one. This script writes random bf16 grids for T = 4, 16, 40 and 256 tokens of 1,152 values (one
thread: with more, torch splits the tokens between threads and a group of 32 can break) and
torch's means: tests/test_hf_bf16.cpp checks sum_f32_strided against them bit for bit.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 tools/make_strided_mean_golden.py \
        tests/data/bf16/strided_mean/means.safetensors
"""
import json
import sys

import numpy as np
import torch

torch.manual_seed(0)
torch.set_num_threads(1)
N = 1152
tensors = {}
for t in (4, 16, 40, 256):
    grid = (torch.randn(1, N, t) * 2).to(torch.bfloat16)    # [1, Hv, T] as the pooling leaves it
    tokens = grid.transpose(1, 2)                           # [1, T, Hv], stride T along Hv
    mean = tokens.float().pow(2).mean(-1)                   # what T5Gemma2RMSNorm computes
    contiguous = tokens.contiguous().float().pow(2).mean(-1)
    print(f"T = {t}: {int((mean != contiguous).sum())} of {t} means differ from the contiguous order")
    tensors[f"tokens{t}"] = tokens[0].contiguous().view(torch.int16).numpy().view(np.uint16)
    tensors[f"mean{t}"] = mean[0].numpy().astype(np.float32)
header, blobs, off = {}, [], 0
for k in sorted(tensors):
    a = np.ascontiguousarray(tensors[k])
    header[k] = {"dtype": "BF16" if a.dtype == np.uint16 else "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
    blobs.append(a.tobytes())
    off += a.nbytes
header["__metadata__"] = {"made_by": "tools/make_strided_mean_golden.py", "torch": torch.__version__, "torch_threads": "1"}
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(len(h).to_bytes(8, "little"))
    f.write(h)
    for blob in blobs:
        f.write(blob)
