"""What the golden-making scripts share: the command line (--oracle, --shared, --out), importing
transformers v5.0.0 through the oracle kit, and reading checkpoints / goldens as HF does.

    args = oracle_kit.setup(__doc__)          # before any torch / transformers import
    from oracle_kit import read, load_f32     # afterwards
"""
import argparse
import os
import sys


def setup(description, extra=()):
    """Parses the common arguments (plus `extra`: (flag, kwargs) pairs), puts the oracle kit on
    sys.path and imports it (transformers v5.0.0 with the torch 1.13 shims). Returns the args."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--oracle", required=True, help="the oracle kit (make_golden_full.py, shims, synth_weights.py)")
    ap.add_argument("--shared", required=True, help="the shared data folder (golden/, demo-model/)")
    ap.add_argument("--out", required=True)
    for flag, kwargs in extra:
        ap.add_argument(flag, **kwargs)
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.oracle))
    import make_golden_full  # noqa: F401  (sets up transformers v5.0.0 + shims)
    return args


def read(path):
    """Every tensor of a safetensors file, as torch tensors."""
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def load_f32(dir_):
    """T5Gemma2ForConditionalGeneration from DIR/config.json + DIR/model.safetensors, f32, eager
    attention (from_pretrained does not run on torch 1.13: config + load_state_dict instead)."""
    from transformers import T5Gemma2Config, T5Gemma2ForConditionalGeneration
    cfg = T5Gemma2Config.from_json_file(os.path.join(dir_, "config.json"))
    cfg._attn_implementation = "eager"
    model = T5Gemma2ForConditionalGeneration(cfg).eval()
    missing, unexpected = model.load_state_dict(read(os.path.join(dir_, "model.safetensors")), strict=False)
    model.tie_weights()
    assert not unexpected and all("decoder.embed_tokens" in m or m.startswith("lm_head") for m in missing), (missing, unexpected)
    return model


def tiny_cases(args):
    """(name, f32 model, golden tensors) for each shared tiny golden (tiny_a, tiny_b)."""
    for name in ("tiny_a", "tiny_b"):
        src = os.path.join(args.shared, "golden", name)
        yield name, load_f32(src), read(os.path.join(src, "golden.safetensors"))


def write_safetensors(path, arrays, metadata=None):
    """A safetensors file of numpy arrays (uint16 = bf16 bit patterns -> BF16, float32 -> F32,
    int64 -> I64), names sorted, with an optional metadata dict of strings. Needs numpy only."""
    import json
    dtypes = {"uint16": "BF16", "float32": "F32", "int64": "I64"}
    header, blobs, off = {}, [], 0
    for name in sorted(arrays):
        a = arrays[name]
        header[name] = {"dtype": dtypes[str(a.dtype)], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for blob in blobs:
            f.write(blob)
