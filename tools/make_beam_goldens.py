#!/usr/bin/env python3
"""Beam-search goldens (issue 10, part 2), made with the oracle kit (HF v5.0.0, f32, eager).

Runs `model.generate(...)` of transformers v5.0.0 — beam search, and greedy with the logits
processors — on tiny_a, tiny_b and the demo model, over several option sets (beam widths, length
penalties, early_stopping True/False/"never", num_return_sequences, no_repeat_ngram_size,
repetition_penalty, min_new_tokens) and batches with padding. For each run it stores HF's
`sequences` and `sequences_scores`. The option sets live in the manifest ("runs") and in the
golden as small int/float tensors, so the C++ test reads everything it needs from one file.

The tiny models are random: they rarely emit EOS, so their runs add a second EOS id (a token
the greedy run produces early), which exercises EOS handling with several EOS ids
(beams_to_keep = (1 + n_eos) * num_beams) as well.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 \
        tools/make_beam_goldens.py --oracle ORACLE_DIR --shared SHARED_DIR --out tests/data/beam
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

BOS, EOS, PAD = 2, 1, 0

# (name, options). Options are HF generate() keyword arguments.
RUNS = [
    ("b2", dict(num_beams=2)),
    ("b4_es_true_r2", dict(num_beams=4, early_stopping=True, num_return_sequences=2)),
    ("b4_lp0_never_r4", dict(num_beams=4, length_penalty=0.0, early_stopping="never", num_return_sequences=4)),
    ("b3_lp2_ngram2", dict(num_beams=3, length_penalty=2.0, no_repeat_ngram_size=2)),
    ("b3_lp1.5_never_rep_min", dict(num_beams=3, length_penalty=1.5, early_stopping="never", repetition_penalty=1.3,
                                    min_new_tokens=4, num_return_sequences=3)),
    ("b5_lpneg_rep", dict(num_beams=5, length_penalty=-0.5, repetition_penalty=0.8, num_return_sequences=2)),
    ("greedy_rep_ngram3_min", dict(num_beams=1, repetition_penalty=1.2, no_repeat_ngram_size=3, min_new_tokens=3)),
]
ES_CODE = {False: 0, True: 1, "never": 2}


def run_all(model, tensors, runs_meta, prefix, ids, mask, pixels, eos, max_new):
    tensors[prefix + "encoder_input_ids"] = ids
    tensors[prefix + "encoder_attention_mask"] = mask
    if pixels is not None:
        tensors[prefix + "pixel_values"] = pixels
    tensors[prefix + "eos_token_ids"] = torch.tensor(eos, dtype=torch.long)
    for name, opts in RUNS:
        kw = dict(max_new_tokens=max_new, do_sample=False, return_dict_in_generate=True, output_scores=True,
                  decoder_start_token_id=BOS, eos_token_id=eos if len(eos) > 1 else eos[0], pad_token_id=PAD,
                  use_cache=True, **opts)
        if pixels is not None:
            kw["pixel_values"] = pixels
        g = model.generate(input_ids=ids, attention_mask=mask, **kw)
        p = f"{prefix}{name}."
        tensors[p + "sequences"] = g.sequences
        if opts.get("num_beams", 1) > 1:
            tensors[p + "sequences_scores"] = g.sequences_scores
        # The options, as numbers: num_beams, num_return_sequences, early_stopping (0 False, 1 True,
        # 2 "never"), no_repeat_ngram_size, min_new_tokens, max_new_tokens | length_penalty,
        # repetition_penalty.
        tensors[p + "int_options"] = torch.tensor([opts.get("num_beams", 1), opts.get("num_return_sequences", 1),
                                                   ES_CODE[opts.get("early_stopping", False)],
                                                   opts.get("no_repeat_ngram_size", 0), opts.get("min_new_tokens", 0),
                                                   max_new], dtype=torch.long)
        tensors[p + "float_options"] = torch.tensor([opts.get("length_penalty", 1.0), opts.get("repetition_penalty", 1.0)],
                                                    dtype=torch.float64)
        runs_meta.append({"prefix": p, "options": {**opts, "max_new_tokens": max_new, "eos_token_id": eos},
                          "sequences": g.sequences.tolist(),
                          "sequences_scores": g.sequences_scores.tolist() if "sequences_scores" in dir(g) and
                          g.sequences_scores is not None else None})


def write(name, tensors, extra):
    d = os.path.join(args.out, name)
    os.makedirs(d, exist_ok=True)
    arrays = {k: (v.detach().float().numpy() if v.dtype == torch.float32 else
                  v.detach().double().numpy() if v.is_floating_point() else v.long().numpy()) for k, v in tensors.items()}
    save_numpy(arrays, os.path.join(d, "golden.safetensors"))
    man = {"case": name, "produced_by": {"script": "tools/make_beam_goldens.py", "transformers": "v5.0.0 (oracle kit)",
                                         "torch": torch.__version__, "dtype": "float32", "attn_implementation": "eager"}}
    man.update(extra)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    print("wrote", d, sum(a.nbytes for a in arrays.values()), "bytes")


def padded(rows):
    """Prompts as one batch, right-padded with PAD (mask 0), as a tokenizer pads."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
        mask[i, :len(r)] = 1
    return ids, mask


torch.set_num_threads(2)
with torch.no_grad():
    for name, model, g in oracle_kit.tiny_cases(args):
        # A second EOS id: a token the greedy run of the first text emits at step 3.
        extra_eos = int(g["gen.sequences"][0, 3])
        eos = [EOS, extra_eos]
        tensors, runs = {}, []
        run_all(model, tensors, runs, "text.", g["text.encoder_input_ids"], g["text.encoder_attention_mask"], None, eos, 12)
        mm = g["mm.encoder_input_ids"]
        run_all(model, tensors, runs, "mm.", mm, torch.ones_like(mm), g["mm.pixel_values"], eos, 12)
        write(name, tensors, {"source": f"golden/{name} inputs; HF generate() beam search / greedy with processors",
                              "eos_token_ids": eos, "runs": runs})
    src = os.path.join(args.shared, "demo-model")
    model = load(src)
    samples = sorted(os.listdir(os.path.join(src, "golden")))
    texts = [read(os.path.join(src, "golden", s, "golden.safetensors")) for s in samples if s.startswith("text")]
    images = [read(os.path.join(src, "golden", s, "golden.safetensors")) for s in samples if s.startswith("image")]
    tensors, runs = {}, []
    run_all(model, tensors, runs, "text.", *padded([t["text.encoder_input_ids"][0] for t in texts]), None, [EOS], 24)
    # Three image prompts (one image each) as one padded batch.
    pix = torch.cat([t["mm.pixel_values"] for t in images[:3]])
    run_all(model, tensors, runs, "mm.", *padded([t["mm.encoder_input_ids"][0] for t in images[:3]]), pix, [EOS], 24)
    write("demo", tensors, {"source": "demo-model/golden/<sample> inputs (text_* and image_00..02 as padded batches); HF generate()", "eos_token_ids": [EOS], "runs": runs})
