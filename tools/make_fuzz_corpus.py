#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/): small valid inputs of
every kind each target reads, so that libFuzzer starts from the interesting paths.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 tools/make_fuzz_corpus.py
(needs numpy and PIL, both in Debian; run from the repository root)"""
import io
import json
import os
import shutil
import struct

import numpy as np
from PIL import Image

root = os.path.join("tests", "fuzz", "corpus")


def out(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors):
    """tensors: name -> numpy array. Returns the bytes of a safetensors file."""
    header, blobs, at = {}, [], 0
    codes = {np.float32: "F32", np.int64: "I64", np.float16: "F16", np.int32: "I32", np.uint8: "U8"}
    for name, a in tensors.items():
        b = a.tobytes()
        header[name] = {"dtype": codes[a.dtype.type], "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


if os.path.isdir(root):
    shutil.rmtree(root)
rng = np.random.default_rng(0)
# safetensors
out("safetensors", "f32_i64", safetensors({"w": rng.standard_normal((3, 4)).astype(np.float32), "ids": np.arange(5, dtype=np.int64)}))
out("safetensors", "f16_u8", safetensors({"h": np.ones((2, 2), np.float16), "m": np.array([1, 0, 1], np.uint8)}))
out("safetensors", "empty_header", struct.pack("<Q", 8) + b"{}      ")
# dump inputs
ids = np.array([[2, 10, 11, 12], [2, 13, 0, 0]], np.int64)
out("dump_inputs", "text_batch", safetensors({"text.encoder_input_ids": ids,
                                              "text.encoder_attention_mask": (ids != 0).astype(np.int64),
                                              "text.decoder_input_ids": np.array([[2, 5], [2, 6]], np.int64)}))
mm = np.array([[2, 7, 4] + [6] * 4 + [5, 7, 20]], np.int64)  # tiny_a: 4 tokens per image
out("dump_inputs", "image", safetensors({"mm.encoder_input_ids": mm,
                                         "mm.pixel_values": rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)}))
# configs
for src, name in (("tests/data/tiny_a/config.json", "tiny_a"), ("tests/data/tiny_b/config.json", "tiny_b"),
                  ("models/demo/config.json", "demo"), ("tests/data/configs/270m-270m/config.json", "270m"),
                  ("models/demo/generation_config.json", "generation")):
    with open(src, "rb") as f:
        out("config", name, f.read())
out("config", "beams", json.dumps({"num_beams": 4, "length_penalty": 0.5, "early_stopping": "never",
                                   "num_return_sequences": 2, "repetition_penalty": 1.2, "max_new_tokens": 9}))
# images: every accepted format, small
img = Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8), "RGB")
for fmt, name in (("PNG", "rgb.png"), ("JPEG", "rgb.jpg"), ("BMP", "rgb.bmp"), ("GIF", "rgb.gif"), ("PPM", "rgb.ppm")):
    b = io.BytesIO()
    img.save(b, fmt)
    out("image", name, b.getvalue())
b = io.BytesIO()
img.convert("L").save(b, "PPM")
out("image", "grey.pgm", b.getvalue())
b = io.BytesIO()
img.convert("RGBA").save(b, "PNG")
out("image", "rgba.png", b.getvalue())
# tokenizer: first byte 0 = prompt text, 1 = model proto bytes
for i, p in enumerate(["reverse: one two three", "<start_of_image> caption:", "upper: hello <b>wörld</b>\n\n  tabs\t",
                       "<bos><eos><pad> <start_of_image><start_of_image> x <end_of_image>"]):
    out("tokenizer", f"prompt{i}", b"\x00" + p.encode())
with open("models/demo/tokenizer.model", "rb") as f:
    out("tokenizer", "proto_head", b"\x01" + f.read()[:4096])
print("wrote", sum(len(fs) for _, _, fs in os.walk(root)), "files under", root)
