#!/usr/bin/env python3
"""The Python module's overhead: Model.encode on the demo model vs the C++ call it wraps.

Runs, alternating, the C++ benchmark BM_DemoEncode/N (t5gemma2-bench: Model::encode on N tokens)
and the module's Model.encode on the same N tokens, and prints the median times and their ratio.

  PYTHONPATH=build/python python3 benchmarks/bench_module.py --bench build/benchmarks/t5gemma2-bench
"""
import argparse
import json
import statistics
import subprocess
import time

import numpy as np

import t5gemma2


def cpp_ms(bench, n):
    out = subprocess.run([bench, f"--benchmark_filter=^BM_DemoEncode/{n}/", "--benchmark_format=json",
                          "--benchmark_min_time=0.5"], check=True, capture_output=True, text=True).stdout
    [run] = json.loads(out)["benchmarks"]
    return run["real_time"] * {"ms": 1.0, "us": 1e-3, "ns": 1e-6}[run["time_unit"]]


def module_ms(model, n, reps):
    ids = np.full(n, 300, np.int64)
    model.encode(ids)  # warm
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        model.encode(ids)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="path of t5gemma2-bench")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    model = t5gemma2.Model(t5gemma2.demo_model)
    print(f"{'tokens':>6}  {'C++ ms':>8}  {'module ms':>9}  module / C++")
    for n in (64, 512, 4096):
        cpp, mod = [], []
        for _ in range(args.rounds):
            cpp.append(cpp_ms(args.bench, n))
            mod.append(module_ms(model, n, reps=20 if n < 4096 else 5))
        c, m = statistics.median(cpp), statistics.median(mod)
        print(f"{n:>6}  {c:8.3f}  {m:9.3f}  {m / c:.3f}")


if __name__ == "__main__":
    main()
