#!/usr/bin/env python3
"""HF-bfloat16 goldens for the hf-bf16 precision policy (issue 9), made with the oracle kit.

Runs transformers v5.0.0 (imported unmodified, eager attention, CPU, torch 1.13 with the oracle's shims)
after `model.to(torch.bfloat16)` on the inputs of existing f32 goldens, and writes, per case,
tests/data/bf16/<case>/golden.safetensors (bf16 tensors stored as BF16, ids as I64) + manifest.json:

  tiny_a, tiny_b   text batch of 2 with padding + image+text (inputs of tests/data/tiny_*/golden):
                   encoder.last_hidden_state, logits, vision.projected (mm), greedy sequences (20 new tokens)
  demo             the 10 demo-model samples (5 image, 5 text): encoder output, logits, greedy sequences
  s270m_text       SHARED_DIR/golden/s270m_text_bf16 re-stored as BF16 (made by the oracle's make_golden_full.py)
  s270m_2k         270m-270m synthetic weights (seed 0), 2,000 encoder tokens from the token stream
                   's270m_2k/encoder' (BOS first), decoder 2 + 3 tokens of 's270m_2k/decoder':
                   encoder.last_hidden_state, logits, 8 greedy tokens

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread OPENBLAS_NUM_THREADS=2 \
    /usr/bin/python3 tools/make_bf16_goldens.py --oracle ORACLE_DIR --shared SHARED_DIR \
        --out tests/data/bf16 [--cases tiny_a,tiny_b,demo,s270m_text,s270m_2k]
"""
import argparse
import json
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--oracle", required=True, help="the oracle kit (make_golden_full.py, shims, synth_weights.py)")
ap.add_argument("--shared", required=True, help="the shared data folder (golden/, demo-model/)")
ap.add_argument("--out", required=True)
ap.add_argument("--cases", default="tiny_a,tiny_b,demo,s270m_text,s270m_2k")
args = ap.parse_args()
sys.path.insert(0, os.path.abspath(args.oracle))

import make_golden_full as mgf  # noqa: E402  (sets up transformers v5.0.0 + shims)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors import safe_open, save_numpy  # noqa: E402
from transformers import T5Gemma2ForConditionalGeneration  # noqa: E402

T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


def as_bf16_bits(t):
    """A bf16 (or bf16-valued) tensor as uint16 bit patterns; safetensors stores them with dtype BF16."""
    t = t.detach()
    if t.dtype != torch.bfloat16:
        b = t.to(torch.bfloat16)
        assert torch.equal(b.float(), t.float()), "value is not a bf16 number"
        t = b
    return t.contiguous().view(torch.int16).numpy().view(np.uint16)


class Case:
    def __init__(self, name):
        self.name, self.tensors, self.desc, self.bf16 = name, {}, {}, set()

    def put(self, name, t, desc, f32=False):
        t = t.detach() if torch.is_tensor(t) else torch.as_tensor(t)
        if f32:
            self.tensors[name] = t.to(torch.float32).numpy()
        elif t.dtype in (torch.bfloat16, torch.float32):
            self.tensors[name] = as_bf16_bits(t)
            self.bf16.add(name)
        else:
            self.tensors[name] = t.to(torch.int64).numpy()
        self.desc[name] = desc

    def write(self, extra):
        d = os.path.join(args.out, self.name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "golden.safetensors")
        save_numpy({k: v for k, v in self.tensors.items() if k not in self.bf16}, path + ".tmp")
        # numpy has no bfloat16: write the BF16 entries by hand (uint16 bits, dtype "BF16").
        header, blobs, off = {}, [], 0
        with safe_open(path + ".tmp", "np") as f:
            for k in f.keys():
                a = f.get_tensor(k)
                header[k] = {"dtype": "F32" if a.dtype == np.float32 else "I64", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
                blobs.append(a.tobytes()); off += a.nbytes
        os.remove(path + ".tmp")
        for k in sorted(self.bf16):
            a = self.tensors[k]
            header[k] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
            blobs.append(a.tobytes()); off += a.nbytes
        h = json.dumps(header).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        with open(path, "wb") as f:
            f.write(len(h).to_bytes(8, "little")); f.write(h)
            for b in blobs:
                f.write(b)
        man = {"case": self.name, "produced_by": {
            "script": "tools/make_bf16_goldens.py", "transformers": "v5.0.0 (oracle kit, imported unmodified)",
            "torch": torch.__version__, "attn_implementation": "eager", "dtype": "bfloat16 (model.to(torch.bfloat16))",
            "device": "cpu", "torch_num_threads": torch.get_num_threads(),
            "mkldnn_bf16_matmul": bool(torch.backends.mkldnn.is_available())},
            "tensors": {k: {"shape": list(self.tensors[k].shape),
                            "dtype": "BF16" if k in self.bf16 else str(self.tensors[k].dtype).upper(),
                            "desc": self.desc[k]} for k in self.tensors}}
        man.update(extra)
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(man, f, indent=1)
        log(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


def hooked_vision(model):
    """Records the projector output (image features) of the next forward pass."""
    rec = {}
    for name, m in model.named_modules():
        if name.endswith("multi_modal_projector"):
            m.register_forward_hook(lambda mod, a, out: rec.__setitem__("projected", out))
    return rec


def gen(model, **kw):
    g = model.generate(do_sample=False, num_beams=1, return_dict_in_generate=True, output_logits=True, use_cache=True,
                       decoder_start_token_id=mgf.BOS, eos_token_id=mgf.EOS, pad_token_id=mgf.PAD, **kw)
    return g.sequences


def margin(logits):
    top2 = torch.topk(logits.float(), 2, dim=-1).values
    return float((top2[..., 0] - top2[..., 1]).min())


def load_bf16(dir_):
    """config.json + model.safetensors of a hub-layout folder (from_pretrained needs torch >= 2 here)."""
    from transformers import T5Gemma2Config
    cfg = T5Gemma2Config.from_json_file(os.path.join(dir_, "config.json"))
    cfg._attn_implementation = "eager"
    model = T5Gemma2ForConditionalGeneration(cfg).eval()
    state = read(os.path.join(dir_, "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    model.tie_weights()
    tied = ("model.decoder.embed_tokens.weight", "model.decoder.embed_tokens.eoi_embedding", "lm_head.out_proj.weight")
    assert not unexpected and set(missing) <= set(tied), (missing, unexpected)
    assert model.lm_head.out_proj.weight.data_ptr() == model.model.encoder.embed_tokens.weight.data_ptr()
    assert model.model.decoder.embed_tokens.eoi_embedding.data_ptr() == \
        model.model.encoder.embed_tokens.eoi_embedding.data_ptr()
    return model.to(torch.bfloat16)


def read(path):
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def case_tiny(name):
    src = os.path.join(args.shared, "golden", name)
    model = load_bf16(src)
    g = read(os.path.join(src, "golden.safetensors"))
    c = Case(name)
    rec = hooked_vision(model)
    with torch.no_grad():
        ids, mask, dec = g["text.encoder_input_ids"], g["text.encoder_attention_mask"], g["text.decoder_input_ids"]
        out = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, use_cache=False)
        for k in ("text.encoder_input_ids", "text.encoder_attention_mask", "text.decoder_input_ids"):
            c.put(k, g[k], "input, as in the f32 golden")
        c.put("text.encoder.last_hidden_state", out.encoder_last_hidden_state, "bf16")
        c.put("text.logits", out.logits, "bf16")
        m_text = margin(out.logits)
        mm_ids, pix, mm_dec = g["mm.encoder_input_ids"], g["mm.pixel_values"], g["mm.decoder_input_ids"]
        out = model(input_ids=mm_ids, attention_mask=torch.ones_like(mm_ids), pixel_values=pix, decoder_input_ids=mm_dec,
                    use_cache=False)
        for k in ("mm.encoder_input_ids", "mm.decoder_input_ids"):
            c.put(k, g[k], "input, as in the f32 golden")
        c.put("mm.pixel_values", pix, "f32 input, as in the f32 golden (the vision tower casts it to bf16)", f32=True)
        c.put("mm.vision.projected", rec["projected"], "bf16 image features [1, T, H]")
        c.put("mm.encoder.last_hidden_state", out.encoder_last_hidden_state, "bf16")
        c.put("mm.logits", out.logits, "bf16")
        # One sequence per generate call (its padded row and mask as in the batch): for small
        # attention products torch picks other kernels when several sequences share a batch.
        seqs = [gen(model, input_ids=ids[b:b + 1], attention_mask=mask[b:b + 1], max_new_tokens=20) for b in range(ids.shape[0])]
        width = max(x.shape[1] for x in seqs)
        seq = torch.full((len(seqs), width), mgf.PAD, dtype=torch.long)
        for b, x in enumerate(seqs):
            seq[b, :x.shape[1]] = x[0]
        c.put("gen.sequences", seq, "greedy, 20 new tokens, KV cache, each sequence generated alone; after EOS: PAD")
        seq_mm = gen(model, input_ids=mm_ids, attention_mask=torch.ones_like(mm_ids), pixel_values=pix, max_new_tokens=20)
        c.put("gen_mm.sequences", seq_mm, "greedy for the image+text input")
    c.write({"source": f"golden/{name} (weights model.safetensors f32, rounded by model.to(bfloat16)); pixel_values "
                       "of the f32 golden (mm.pixel_values, f32) are the image input",
             "teacher_forced_min_top1_top2_margin": m_text})


def case_demo():
    src = os.path.join(args.shared, "demo-model")
    model = load_bf16(src)
    rec = hooked_vision(model)
    c = Case("demo")
    samples = sorted(os.listdir(os.path.join(src, "golden")))
    with torch.no_grad():
        for s in samples:
            g = read(os.path.join(src, "golden", s, "golden.safetensors"))
            p = "mm" if "mm.encoder_input_ids" in g else "text"
            ids, dec = g[f"{p}.encoder_input_ids"], g[f"{p}.decoder_input_ids"]
            kw = {"pixel_values": g["mm.pixel_values"]} if p == "mm" else {}
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), decoder_input_ids=dec, use_cache=False, **kw)
            c.put(f"{s}.encoder_input_ids", ids, "input")
            c.put(f"{s}.decoder_input_ids", dec, "input (teacher forcing)")
            if p == "mm":
                c.put(f"{s}.pixel_values", kw["pixel_values"], "f32 input of the f32 golden", f32=True)
                c.put(f"{s}.vision.projected", rec["projected"], "bf16 image features")
            c.put(f"{s}.encoder.last_hidden_state", out.encoder_last_hidden_state, "bf16")
            c.put(f"{s}.logits", out.logits, "bf16")
            seq = gen(model, input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, **kw)
            c.put(f"{s}.gen.sequences", seq, "greedy, up to 24 new tokens, KV cache")
            log(s, seq.tolist())
    c.write({"source": "demo-model (f32 checkpoint rounded by model.to(bfloat16)); inputs and pixel_values of "
                       "demo-model/golden/<sample>", "samples": samples})


def case_s270m_text():
    g = read(os.path.join(args.shared, "golden", "s270m_text_bf16", "golden.safetensors"))
    c = Case("s270m_text")
    for k, v in g.items():
        c.put(k, v, "from golden/s270m_text_bf16 (oracle make_golden_full.py case d), bf16 values")
    c.write({"source": "golden/s270m_text_bf16 re-stored as BF16 (values unchanged)"})


def case_s270m_2k():
    mgf.FAST_INIT = True
    cfg, model = mgf.build_model("270m-270m")
    model = model.to(torch.bfloat16)
    n = 2000
    enc = torch.tensor([[mgf.BOS] + list(mgf.token_stream("s270m_2k/encoder", n - 1))], dtype=torch.long)
    dec = torch.tensor([[mgf.BOS] + list(mgf.token_stream("s270m_2k/decoder", 3))], dtype=torch.long)
    c = Case("s270m_2k")
    with torch.no_grad():
        t = time.time()
        out = model(input_ids=enc, attention_mask=torch.ones_like(enc), decoder_input_ids=dec, use_cache=False)
        log(f"forward {time.time() - t:.1f}s")
        c.put("text.encoder_input_ids", enc, "2 then stream 's270m_2k/encoder' j=0..1998")
        c.put("text.decoder_input_ids", dec, "2 then stream 's270m_2k/decoder' j=0..2")
        c.put("text.encoder.last_hidden_state", out.encoder_last_hidden_state, "bf16 [1,2000,640]")
        c.put("text.logits", out.logits, "bf16 [1,4,262144]")
        t = time.time()
        seq = gen(model, input_ids=enc, attention_mask=torch.ones_like(enc), max_new_tokens=8)
        log(f"generate {time.time() - t:.1f}s", seq.tolist())
        c.put("gen.sequences", seq, "greedy, 8 new tokens, KV cache")
    c.write({"preset": "270m-270m", "weights": "synthetic-weights v1, seed 0 (synthetic_weights.hpp)",
             "token_ids": mgf.TOKEN_FORMULA, "teacher_forced_min_top1_top2_margin": margin(out.logits)})


torch.set_num_threads(2)
for name in args.cases.split(","):
    log("case", name)
    {"tiny_a": lambda: case_tiny("tiny_a"), "tiny_b": lambda: case_tiny("tiny_b"), "demo": case_demo,
     "s270m_text": case_s270m_text, "s270m_2k": case_s270m_2k}[name]()
