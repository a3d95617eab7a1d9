#!/usr/bin/env python3
"""Encoder-embedding goldens (issue 10, part 1), made with the oracle kit (HF v5.0.0, f32, eager).

For tiny_a, tiny_b (text batch of 2 with padding, and an image + text input) and the demo model
(its 10 samples), runs `model.get_encoder()` — the encoder alone, as an embedding user does — and
pools its last_hidden_state over the unpadded tokens the way sentence-transformers does:
  mean  = Σ E·mask / Σ mask     first = E[first unpadded]     last = E[last unpadded]
and the same L2-normalised (torch.nn.functional.normalize). Writes
tests/data/embeddings/<case>/golden.safetensors (+ manifest.json).

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 \
        tools/make_embedding_goldens.py --oracle ORACLE_DIR --shared SHARED_DIR --out tests/data/embeddings
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_kit  # noqa: E402

args = oracle_kit.setup(__doc__)
import torch  # noqa: E402
from oracle_kit import load_f32 as load, read  # noqa: E402,F401
from safetensors import save_numpy  # noqa: E402


def pooled(states, mask):
    m = mask.to(states.dtype)[..., None]
    mean = (states * m).sum(1) / m.sum(1).clamp(min=1e-9)
    idx = torch.arange(mask.shape[1])
    first = torch.stack([states[b, int(idx[mask[b] > 0].min())] for b in range(states.shape[0])])
    last = torch.stack([states[b, int(idx[mask[b] > 0].max())] for b in range(states.shape[0])])
    out = {"mean": mean, "first": first, "last": last}
    for k in list(out):
        out[k + "_normalized"] = torch.nn.functional.normalize(out[k], dim=-1)
    return out


def write(name, tensors, extra):
    d = os.path.join(args.out, name)
    os.makedirs(d, exist_ok=True)
    arrays = {k: (v.detach().float().numpy() if v.is_floating_point() else v.long().numpy()) for k, v in tensors.items()}
    save_numpy(arrays, os.path.join(d, "golden.safetensors"))
    man = {"case": name, "produced_by": {"script": "tools/make_embedding_goldens.py", "transformers": "v5.0.0 (oracle kit)",
                                         "torch": torch.__version__, "dtype": "float32", "attn_implementation": "eager"},
           "tensors": {k: list(a.shape) for k, a in arrays.items()}}
    man.update(extra)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    print("wrote", d, sum(a.nbytes for a in arrays.values()), "bytes")


def encode(model, ids, mask, pixels=None):
    kw = {"pixel_values": pixels} if pixels is not None else {}
    return model.get_encoder()(input_ids=ids, attention_mask=mask, **kw).last_hidden_state


torch.set_num_threads(2)
with torch.no_grad():
    for name, model, g in oracle_kit.tiny_cases(args):
        t = {}
        for p, pix in (("text.", None), ("mm.", "mm.pixel_values")):
            ids = g[p + "encoder_input_ids"]
            mask = g.get(p + "encoder_attention_mask", torch.ones_like(ids))
            states = encode(model, ids, mask, g[pix] if pix else None)
            t[p + "encoder_input_ids"], t[p + "encoder_attention_mask"] = ids, mask
            if pix:
                t[pix] = g[pix]
            t[p + "encoder.last_hidden_state"] = states
            for k, v in pooled(states, mask).items():
                t[p + "pooled." + k] = v
        write(name, t, {"source": f"golden/{name} inputs; model.get_encoder() outputs"})
    src = os.path.join(args.shared, "demo-model")
    model = load(src)
    t = {}
    for s in sorted(os.listdir(os.path.join(src, "golden"))):
        g = read(os.path.join(src, "golden", s, "golden.safetensors"))
        p = "mm." if "mm.encoder_input_ids" in g else "text."
        ids = g[p + "encoder_input_ids"]
        mask = torch.ones_like(ids)
        states = encode(model, ids, mask, g.get("mm.pixel_values"))
        t[s + ".encoder_input_ids"] = ids
        if "mm.pixel_values" in g:
            t[s + ".pixel_values"] = g["mm.pixel_values"]
        t[s + ".encoder.last_hidden_state"] = states
        for k, v in pooled(states, mask).items():
            t[s + ".pooled." + k] = v
    write("demo", t, {"source": "demo-model/golden/<sample> inputs; model.get_encoder() outputs"})
