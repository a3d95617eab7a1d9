#!/usr/bin/python3
"""Cuts the oracle's s270m_long8k golden (77 MB) down to what tests/test_golden_full_size.cpp
reads (~2.5 MB), into tests/data/full/s270m_long8k:

    tools/make_long8k_test_data.py SHARED_GOLDEN_DIR/s270m_long8k tests/data/full/s270m_long8k

Kept: 64 sampled rows of encoder layers 5 and 11 and of the encoder output (window and
4,096-token boundaries, both ends, a seeded spread), the first 16 encoder ids (the test
regenerates all 8,192 from the token-stream formula and checks them against these), the
decoder ids and output, logits rows 0 and 7 in full and the top-64 of every row, the greedy
tokens and the top-8 logits of each step. Inputs are not stored beyond that: they follow from
their formula (manifest.json: token_ids).
"""
import json
import os
import random
import struct
import sys

import numpy as np

DT = {"F32": np.float32, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            f.seek(base + b)
            out[name] = np.frombuffer(f.read(e - b), dtype=DT[info["dtype"]]).reshape(info["shape"])
        return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        raw = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    src, dst = sys.argv[1], sys.argv[2]
    g = read_safetensors(os.path.join(src, "golden.safetensors"))
    S = g["text.encoder_input_ids"].shape[1]
    fixed = [0, 1, 2, 255, 256, 257, 511, 512, 513, 4095, 4096, 4097, S // 2, S - 513, S - 257, S - 2, S - 1]
    rng = random.Random(8192)
    rows = sorted(set(fixed) | set(rng.sample(range(S), 64 - len(fixed))))
    while len(rows) < 64:
        rows = sorted(set(rows) | {rng.randrange(S)})
    rows = np.array(rows, dtype=np.int64)
    out = {"text.rows": rows, "text.encoder_input_ids_first16": g["text.encoder_input_ids"][:, :16].copy(),
           "text.decoder_input_ids": g["text.decoder_input_ids"]}
    for name in ["text.encoder.layer5", "text.encoder.layer11", "text.encoder.last_hidden_state"]:
        out[name + "_rows"] = g[name][:, rows, :]
    out["text.decoder.last_hidden_state"] = g["text.decoder.last_hidden_state"]
    logits = g["text.logits"]
    out["text.logits_row0"] = logits[:, 0:1, :]
    out["text.logits_row7"] = logits[:, 7:8, :]
    top = np.argsort(-logits, axis=-1, kind="stable")[:, :, :64]
    out["text.logits_top64_ids"] = top.astype(np.int64)
    out["text.logits_top64"] = np.take_along_axis(logits, top, axis=-1)
    for name in ["gen.sequences", "gen.step_top8_ids", "gen.step_top8_logits"]:
        out[name] = g[name]
    os.makedirs(dst, exist_ok=True)
    write_safetensors(os.path.join(dst, "golden.safetensors"), out)
    m = json.load(open(os.path.join(src, "manifest.json")))
    keep = {k: m[k] for k in ["case", "produced_by", "weights", "token_ids", "special_ids", "preset", "dtype",
                              "sliding_window", "seq_len", "inputs", "generation", "positions",
                              "min_top1_top2_logit_margin", "generation_min_top1_top2_margin", "suggested_tolerance",
                              "timing_in_process", "peak_rss_GiB_VmHWM", "files_sha256"]}
    keep["cut_by"] = "tools/make_long8k_test_data.py: sampled rows (text.rows) of the stored encoder layers, logits rows 0 and 7 plus top-64 per row, greedy tokens"
    keep["tensors"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in out.items()}
    json.dump(keep, open(os.path.join(dst, "manifest.json"), "w"), indent=1)
    with open(os.path.join(src, "config.json")) as f, open(os.path.join(dst, "config.json"), "w") as o:
        o.write(f.read())


if __name__ == "__main__":
    main()
