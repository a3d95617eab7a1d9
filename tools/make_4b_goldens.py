#!/usr/bin/env python3
"""HF goldens for the larger presets (issue 18), made with the oracle kit (transformers v5.0.0 imported
unmodified, eager attention, CPU, torch 1.13 with the oracle's shims), synthetic weights seed 0:

  s4b_text_bf16    4b-4b in bfloat16: encoder 64 tokens (2, then stream 's4b/encoder'), decoder
                   2 + 3 tokens ('s4b/decoder'): encoder.last_hidden_state, logits, 8 greedy tokens
  s4b_vision_bf16  4b-4b in bfloat16 on the s270m_vision inputs (896² synthetic image, 281 encoder
                   tokens, 4 decoder tokens): SigLIP output (first/last 64 rows), projected image
                   tokens, encoder output (first 32 rows), logits of the last position
  s4b_f32_6l       4b-4b dimensions with 6 + 6 layers (5 sliding, 1 full each) in f32, text:
                   encoder.last_hidden_state, decoder.last_hidden_state, logits (first and last row)
  s1b_vision       1b-1b in f32 on the s270m_vision inputs: as s4b_vision_bf16, f32
  s270m_vision_bf16_2l  the full-size SigLIP (896², 4,096 patches) with 2 of its 27 layers, the 270m
                   projector and 1 + 1 text layers, in bfloat16, on the s270m_vision inputs: as
                   s4b_vision_bf16 (small enough for CI: it checks the patch-embedding convolution's
                   order and SigLIP's bf16 layer at full size)

The 4b model in bf16 is built directly in bf16 (an f32 build needs ~30 GB): parameters created with
bf16 as torch's default dtype, filled from the f32 synthetic values (round to nearest even, as
.to(bfloat16) rounds), then model.to(torch.bfloat16) for the buffers. check_direct_bf16() proves on a
1-layer 4b model that this gives every parameter and buffer of model.to(torch.bfloat16).

On a CPU with AMX (Sapphire Rapids and later) oneDNN runs bf16 matmuls on AMX tiles, which sum
in another order than the AVX512-BF16 kernels that the hf-bf16 policy reproduces (and that AMD Zen
4/5 run): HF's own bf16 bits then depend on the machine. Run with ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16
there (the manifest records it); measured on this project's Xeon: without it, 9.5 % of the 4b
encoder output's values equal the AVX512-BF16 run's.

    ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread OPENBLAS_NUM_THREADS=2 \
    /usr/bin/python3 tools/make_4b_goldens.py --oracle ORACLE_DIR --shared SHARED_DIR --out tests/data/full \
        [--cases check,s4b_bf16,s4b_f32_6l,s1b_vision,s270m_vision_bf16_2l]   (s4b_bf16 = s4b_text_bf16 + s4b_vision_bf16)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_kit  # noqa: E402

args = oracle_kit.setup(__doc__, extra=[("--cases", dict(default="check,s4b_bf16,s4b_f32_6l,s1b_vision"))])

import make_golden_full as mgf  # noqa: E402
import numpy as np  # noqa: E402
import presets  # noqa: E402
import synth_weights as sw  # noqa: E402
import torch  # noqa: E402
from transformers import T5Gemma2ForConditionalGeneration  # noqa: E402
from transformers.initialization import no_init_weights  # noqa: E402

T0 = time.time()
HERE = os.path.dirname(os.path.abspath(__file__))


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


def config(preset, layers=None):
    cfg = presets.build_config(preset, attn="eager")
    if layers is not None:  # fewer layers, same pattern (the 6th is full)
        for t in (cfg.encoder.text_config, cfg.decoder):
            t.num_hidden_layers = layers
            t.layer_types = t.layer_types[:layers]
    return cfg


def build(cfg, dtype):
    """The model of `cfg` with synthetic weights (seed 0) in `dtype`, parameters created in dtype."""
    torch.set_default_dtype(dtype)
    try:
        with no_init_weights():
            model = T5Gemma2ForConditionalGeneration(cfg).eval()
    finally:
        torch.set_default_dtype(torch.float32)
    model.tie_weights()
    sw.fill_model(model, 0)  # f32 values -> dtype, round to nearest even
    assert model.lm_head.out_proj.weight.data_ptr() == model.model.encoder.embed_tokens.weight.data_ptr()
    return model.to(dtype)


def check_direct_bf16():
    """Direct bf16 construction == f32 construction + .to(bfloat16), every parameter and buffer (1-layer 4b)."""
    cfg = config("4b-4b", layers=1)
    cfg.encoder.vision_config.num_hidden_layers = 1
    a, b = build(cfg, torch.float32).to(torch.bfloat16), build(cfg, torch.bfloat16)
    sa, sb = dict(a.named_parameters()), dict(b.named_parameters())
    sa.update(dict(a.named_buffers()))
    sb.update(dict(b.named_buffers()))
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k
    log(f"direct bf16 build == f32 build .to(bfloat16): {len(sa)} parameters and buffers identical")


def as_bf16_bits(t):
    t = t.detach()
    assert t.dtype == torch.bfloat16
    return t.contiguous().view(torch.int16).numpy().view(np.uint16)


def write(name, cfg, tensors, desc, extra):
    """config.json of `cfg` and tensors: name -> torch tensor (bf16 stored as BF16, float32 as F32,
    integers as I64)."""
    d = os.path.join(args.out, name)
    os.makedirs(d, exist_ok=True)
    cfg.to_json_file(os.path.join(d, "config.json"))
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].detach()
        if t.dtype == torch.bfloat16:
            a, dt = as_bf16_bits(t), "BF16"
        elif t.is_floating_point():
            a, dt = t.to(torch.float32).numpy(), "F32"
        else:
            a, dt = t.to(torch.int64).numpy(), "I64"
        header[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    path = os.path.join(d, "golden.safetensors")
    with open(path + ".tmp", "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for blob in blobs:
            f.write(blob)
    os.replace(path + ".tmp", path)
    man = {"case": name, "produced_by": {"script": "tools/make_4b_goldens.py",
                                         "transformers": "v5.0.0 (oracle kit, imported unmodified)",
                                         "torch": torch.__version__, "attn_implementation": "eager", "device": "cpu",
                                         "torch_num_threads": torch.get_num_threads(),
                                         "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA", "(unset)")},
           "weights": "synthetic-weights v1, seed 0 (synthetic_weights.hpp)", "token_ids": mgf.TOKEN_FORMULA,
           "tensors": {k: {"shape": header[k]["shape"], "dtype": header[k]["dtype"], "desc": desc.get(k, "")} for k in header}}
    man.update(extra)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    log(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


def gen(model, **kw):
    return model.generate(do_sample=False, num_beams=1, use_cache=True, decoder_start_token_id=mgf.BOS,
                          eos_token_id=mgf.EOS, pad_token_id=mgf.PAD, **kw)


def text_case(name, cfg, model, dtype_desc, greedy):
    enc = torch.tensor([[mgf.BOS] + list(mgf.token_stream("s4b/encoder", 63))], dtype=torch.long)
    dec = torch.tensor([[mgf.BOS] + list(mgf.token_stream("s4b/decoder", 3))], dtype=torch.long)
    rec = mgf.Recorder(model)
    with torch.no_grad():
        t = time.time()
        out = model(input_ids=enc, attention_mask=torch.ones_like(enc), decoder_input_ids=dec, use_cache=False)
        log(f"{name}: forward {time.time() - t:.1f}s")
        s = rec.take()
        tensors = {"text.encoder_input_ids": enc, "text.decoder_input_ids": dec,
                   "text.encoder.last_hidden_state": out.encoder_last_hidden_state,
                   "text.decoder.last_hidden_state": s["decoder.last_hidden_state"][0]}
        if greedy:
            tensors["text.logits"] = out.logits
            t = time.time()
            seq = gen(model, input_ids=enc, attention_mask=torch.ones_like(enc), max_new_tokens=8)
            log(f"{name}: generate {time.time() - t:.1f}s", seq.tolist())
            tensors["gen.sequences"] = seq
        else:
            tensors["text.logits_first"] = out.logits[:, :1]
            tensors["text.logits_last"] = out.logits[:, -1:]
    top2 = torch.topk(out.logits.float(), 2, dim=-1).values
    write(name, cfg, tensors, {"text.encoder_input_ids": "2 then stream 's4b/encoder' j=0..62",
                          "text.decoder_input_ids": "2 then stream 's4b/decoder' j=0..2"},
          {"model": dtype_desc, "teacher_forced_min_top1_top2_margin": float((top2[..., 0] - top2[..., 1]).min())})


def vision_case(name, cfg, model, dtype_desc):
    g = oracle_kit.read(os.path.join(HERE, "..", "tests", "data", "full", "s270m_vision", "golden.safetensors"))
    ids, dec = g["mm.encoder_input_ids"], g["mm.decoder_input_ids"]
    pix = g["mm.pixel_values_x128"].to(torch.float32) / 128.0
    rec = mgf.Recorder(model)
    with torch.no_grad():
        t = time.time()
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pix, decoder_input_ids=dec, use_cache=False)
        log(f"{name}: forward {time.time() - t:.1f}s")
        s = rec.take()
    v = s["vision.last_hidden_state"][0]
    tensors = {"mm.encoder_input_ids": ids, "mm.decoder_input_ids": dec,
               "mm.vision.last_hidden_state_first64": v[:, :64], "mm.vision.last_hidden_state_last64": v[:, -64:],
               "mm.vision.projected": s["vision.projected"][0],
               "mm.encoder.last_hidden_state_first32": out.encoder_last_hidden_state[:, :32],
               "mm.logits_last": out.logits[:, -1:]}
    write(name, cfg, tensors, {"mm.encoder_input_ids": "as tests/data/full/s270m_vision (pixels: its mm.pixel_values_x128 / 128)"},
          {"model": dtype_desc})


torch.set_num_threads(2)
for case in args.cases.split(","):
    log("case", case)
    if case == "check":
        check_direct_bf16()
    elif case in ("s4b_bf16", "s4b_text_bf16", "s4b_vision_bf16"):  # s4b_bf16: both on one build (~20 min to fill)
        cfg = config("4b-4b")
        model = build(cfg, torch.bfloat16)
        desc = "4b-4b, bf16 (parameters made in bf16; buffers .to(bf16))"
        if case != "s4b_vision_bf16":
            text_case("s4b_text_bf16", cfg, model, desc, True)
        if case != "s4b_text_bf16":
            vision_case("s4b_vision_bf16", cfg, model, desc)
        del model
    elif case == "s4b_f32_6l":
        cfg = config("4b-4b", layers=6)
        text_case(case, cfg, build(cfg, torch.float32), "4b-4b dimensions, 6 + 6 layers, f32", False)
    elif case == "s1b_vision":
        cfg = config("1b-1b")
        vision_case(case, cfg, build(cfg, torch.float32), "1b-1b, f32")
    elif case == "s270m_vision_bf16_2l":
        cfg = config("270m-270m", layers=1)
        cfg.encoder.vision_config.num_hidden_layers = 2
        vision_case(case, cfg, build(cfg, torch.bfloat16), "270m-270m with 1 + 1 text layers and 2 SigLIP layers, bf16")
    else:
        raise SystemExit(f"unknown case {case}")
