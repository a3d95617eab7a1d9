#!/usr/bin/env python3
"""PGM/PPM images and what PIL makes of them (Image.open(f).convert("RGB")), for the pixel-exact
test of image_file.hpp: decode_pnm. Debian's Pillow (python3-pil, 9.4 — the one the HF oracle runs):

    /usr/bin/python3 tools/make_pnm_goldens.py tests/data/pnm_pil

Writes <case>.pnm (the input) and <case>.rgb (PIL's RGB bytes, row-major) per case: every sample
value 0..maxval (and a few above maxval, which PIL clamps) for P5 and P6, 8 and 16 bits, maxvals
1, 100, 254, 255, 256, 300, 1000, 4095, 65534, 65535.
"""
import os
import struct
import sys

import PIL
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for kind in ("P5", "P6"):
    for maxval in (1, 100, 254, 255, 256, 300, 1000, 4095, 65534, 65535):
        values = list(range(maxval + 1)) + ([maxval + 1, 2 * maxval] if maxval < 32768 else [])
        step = max(1, len(values) // 4096) if kind == "P6" else 1  # P6 at 16 bits: every 16th value
        values = values[::step] + ([values[-1]] if values[-1] != values[::step][-1] else [])
        ch = 1 if kind == "P5" else 3
        samples = []
        for i, v in enumerate(values):
            samples += [v] if ch == 1 else [v, values[(i * 7 + 3) % len(values)], values[(i * 13 + 5) % len(values)]]
        fmt = ">H" if maxval > 255 else ">B"
        if maxval <= 255:
            samples = [min(s, 255) for s in samples]
        body = b"".join(struct.pack(fmt, s) for s in samples)
        name = f"{kind.lower()}_max{maxval}"
        path = os.path.join(out, name + ".pnm")
        with open(path, "wb") as f:
            f.write(b"%s\n%d 1\n%d\n" % (kind.encode(), len(values), maxval) + body)
        rgb = Image.open(path).convert("RGB").tobytes()
        with open(os.path.join(out, name + ".rgb"), "wb") as f:
            f.write(rgb)
print(f"Pillow {PIL.__version__}: {len(os.listdir(out)) // 2} cases in {out}")
