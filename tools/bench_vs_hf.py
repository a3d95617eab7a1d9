#!/usr/bin/env python3
"""t5gemma2 against Hugging Face transformers on the same machine, in one run.

Runs, alternately, `rounds` times each: the HF peer (the oracle's bench_hf.py: transformers
v5.0.0 on torch, eager attention, 2 threads) and ours (build/benchmarks/t5gemma2-bench-270m),
on the 270m-270m preset with synthetic weights; then prints each side's medians and the ratios.

    tools/bench_vs_hf.py --oracle ORACLE_DIR [--build build] [--rounds 2] [--parts enc,dec,vision]
                         [--dtype float32|bfloat16]

With --dtype bfloat16 (HF: model.to(torch.bfloat16)) ours runs twice: bf16 weights (f32
activations) and the hf-bf16 policy, which computes the very bits of HF's run.

Needs the oracle set up (the oracle's setup_oracle.sh exports transformers v5.0.0 and
huggingface_hub v1.3.0 and installs Debian's python3-torch). HF is run with OpenBLAS 0.3.21 (openblas-pthread, 2 threads) as the
goldens were made. Machines are shared: compare ratios from one run, not absolute figures.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def run_hf(oracle, parts, dtype):
    env = dict(os.environ, LD_LIBRARY_PATH="/usr/lib/x86_64-linux-gnu/openblas-pthread", OPENBLAS_NUM_THREADS="2")
    cmd = ["/usr/bin/python3", os.path.join(oracle, "bench_hf.py"), "--preset", "270m-270m", "--dtype", dtype,
           "--parts", parts, "--runs", "3", "--vision-runs", "1"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    res = json.loads([l for l in out.splitlines() if l.startswith("RESULT ")][-1][len("RESULT "):])
    figures = {}
    if "enc" in res:
        figures["enc_tokens_per_s"] = res["enc"]["tokens_per_s"]
    if "dec" in res:
        figures["dec_tokens_per_s"] = res["dec"]["tokens_per_s"]
    if "vision" in res:
        figures["vision_s"] = res["vision"]["median_s"]
    figures["peak_rss_gib"] = res["mem_end_GiB"]["VmHWM"]
    return figures


def run_ours(build, parts, dtype, hf_bf16=False):
    """Our benchmarks for `parts`: f32 or bf16 weights, or (hf_bf16) the hf-bf16 policy, which
    computes HF's bf16 bits (encoder and decode only)."""
    w = "float" if dtype == "float32" else "bf16_t"
    names = {"enc": f"BM_Encode512<{w}>", "dec": f"BM_Decode32<{w}>", "vision": f"BM_Vision<{w}>"}
    if hf_bf16:
        names = {"enc": "BM_Encode512_HfBf16", "dec": "BM_Decode32_HfBf16"}
    wanted = [names[p] for p in parts.split(",") if p in names]
    exe = os.path.join(build, "benchmarks", "t5gemma2-bench-270m")
    figures = {}
    for name in wanted:  # one process per benchmark: its peak RSS is its own
        out = subprocess.run([exe, "--benchmark_filter=^" + name + "/",
                              "--benchmark_format=json"], capture_output=True, text=True, check=True).stdout
        b = json.loads(out)["benchmarks"][0]
        if name.startswith("BM_Encode"):
            figures["enc_tokens_per_s"] = b["tokens/s"]
            figures["enc_of_peak"] = b["FLOP/s"] / b["peak_FLOP/s"]
        elif name.startswith("BM_Decode"):
            figures["dec_tokens_per_s"] = b["tokens/s"]
            figures["dec_of_read"] = b["stream_B/s"] / b["read_B/s"]
        else:
            figures["vision_s"] = b["real_time"] if b["time_unit"] == "s" else b["real_time"] / 1e3
            figures["vision_of_peak"] = b["FLOP/s"] / b["peak_FLOP/s"]
        figures[name + " peak_rss_gib"] = b["peak_RSS_GiB"]
    return figures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--oracle", required=True, help="directory of the HF oracle scripts (bench_hf.py)")
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--parts", default="enc,dec,vision")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = ap.parse_args()
    hf, ours, ours_hf_bf16 = [], [], []
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}: HF ...", file=sys.stderr, flush=True)
        hf.append(run_hf(args.oracle, args.parts, args.dtype))
        print(f"round {r + 1}/{args.rounds}: t5gemma2 ...", file=sys.stderr, flush=True)
        ours.append(run_ours(args.build, args.parts, args.dtype))
        if args.dtype == "bfloat16":  # HF's bf16 bits: our hf-bf16 policy
            ours_hf_bf16.append(run_ours(args.build, args.parts, args.dtype, hf_bf16=True))
    med = lambda runs, k: statistics.median(x[k] for x in runs if k in x)
    print(json.dumps({"hf": hf, "t5gemma2": ours, "t5gemma2_hf_bf16": ours_hf_bf16}, indent=1))
    print(f"\n270m-270m {args.dtype}, 2 threads, medians of {args.rounds} alternating rounds")
    sides = [("t5gemma2" if args.dtype == "float32" else "bf16 weights", ours)]
    if ours_hf_bf16:
        sides.append(("hf-bf16 (HF's bits)", ours_hf_bf16))
    for side, runs in sides:
        print(f"{side:28}{'t5gemma2':>12}{'HF':>12}{'ratio':>9}")
        for key, label, higher_better in [("enc_tokens_per_s", "encoder 512 tokens, tok/s", True),
                                          ("dec_tokens_per_s", "greedy decode, tok/s", True),
                                          ("vision_s", "SigLIP+projector 896², s", False)]:
            if not any(key in x for x in runs):
                continue
            a, b = med(runs, key), med(hf, key)
            ratio = a / b if higher_better else b / a
            print(f"  {label:26}{a:12.3f}{b:12.3f}{ratio:8.2f}x")
        for key in ("enc_of_peak", "dec_of_read", "vision_of_peak"):
            if any(key in x for x in runs):
                print(f"  t5gemma2 {key}: {med(runs, key):.2f}")


if __name__ == "__main__":
    main()
