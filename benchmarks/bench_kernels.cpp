// Kernel throughput against the machine's own rooflines, measured in the same process:
//   BM_ReadBandwidth/T streaming read of 1 GiB on T threads (8 vector accumulators): bytes/s roofline
//   BM_FmaPeak/T       register-only FMA chains on T threads: FLOP/s roofline
//   BM_Bf16DotPeak/T   the same with VDPBF16PS (AVX512-BF16 CPUs only)
//   BM_Gemv<W>         decode-shaped matmul (1 × 262144 × 640, the LM head): weight bytes/s and
//                      its fraction of the read probe
//   BM_Gemm<W>         encoder-shaped matmul (512 × 2048 × 640): FLOP/s and fraction of the peak
//   BM_GemmOneDnnOrder the same shape in oneDNN's bf16 order (hf-bf16's linear layers)
//   BM_GemmFree/BM_GemvFree  the fastest non-canonical kernels we wrote (probes.cpp): what
//                      bit-exactness costs is BM_Gemm / BM_GemmFree
//   BM_ScalarMatmul<W> the scalar reference, for the speed-up
//   BM_TinyForward, BM_DemoGenerate  whole small models on the dynamic target
// Fractions: divide a kernel's weight_B/s by BM_ReadBandwidth/2's B/s, its FLOP/s by
// BM_FmaPeak/2's, from the same run. Machines are shared: compare ratios, not absolutes.
#include <benchmark/benchmark.h>

#include <atomic>
#include <random>
#include <vector>

#include "probes.hpp"
#include "t5gemma2/dump.hpp"
#include "t5gemma2/memory.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/tokenizer.hpp"

using namespace t5gemma2;

namespace {

// Streaming read of 1 GiB split over T threads (the GEMV benchmarks use all threads too).
void BM_ReadBandwidth(benchmark::State& state) {
  const int threads = int(state.range(0));
  set_num_threads(threads);
  std::vector<float> buf(std::size_t(256) << 20, 1.0f);  // 1 GiB
  const std::size_t chunk = buf.size() / std::size_t(threads);
  for (auto _ : state)
    parallel_for(threads, 1L << 40, [&](int b, int e) {
      for (int i = b; i < e; ++i) benchmark::DoNotOptimize(probes::read_stream(buf.data() + std::size_t(i) * chunk, chunk));
    });
  const double bytes = double(buf.size() * sizeof(float));
  state.counters["B/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
}
BENCHMARK(BM_ReadBandwidth)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

void BM_FmaPeak(benchmark::State& state) {
  const int threads = int(state.range(0));
  set_num_threads(threads);
  const std::size_t iters = std::size_t(1) << 24;
  for (auto _ : state) {
    std::atomic<float> sink{0};
    parallel_for(threads, 1L << 40, [&](int b, int e) {
      for (int i = b; i < e; ++i) sink = sink + probes::fma_peak(iters);
    });
    benchmark::DoNotOptimize(sink.load());
  }
  state.counters["FLOP/s"] = benchmark::Counter(probes::flops_per_fma_iteration() * double(iters) * threads,
                                                benchmark::Counter::kIsIterationInvariantRate);
  set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
}
BENCHMARK(BM_FmaPeak)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);

// VDPBF16PS chains on T threads (AVX512-BF16 CPUs): the instruction HF's bf16 matmuls run on. Its
// FLOP/s against BM_FmaPeak's says whether a kernel on it could beat the f32-fma emulation of
// the same bits (hf-bf16's matmul_onednn_order). On this project's Xeon: HALF the FMA FLOP rate
// (one instruction every two cycles, twice the products of an FMA each), so the emulation stays.
void BM_Bf16DotPeak(benchmark::State& state) {
  const int threads = int(state.range(0));
  float probe = 0;
  if (!probes::bf16_dot_peak(1, &probe)) {
    state.SkipWithError("this CPU has no AVX512-BF16");
    return;
  }
  set_num_threads(threads);
  const std::size_t iters = std::size_t(1) << 24;
  for (auto _ : state) {
    std::atomic<float> sink{0};
    parallel_for(threads, 1L << 40, [&](int b, int e) {
      for (int i = b; i < e; ++i) {
        float s = 0;
        probes::bf16_dot_peak(iters, &s);
        sink = sink + s;
      }
    });
    benchmark::DoNotOptimize(sink.load());
  }
  state.counters["FLOP/s"] = benchmark::Counter(12.0 * 16 * 2 * 2 * double(iters) * threads, benchmark::Counter::kIsIterationInvariantRate);
  set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
}
BENCHMARK(BM_Bf16DotPeak)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);

template <class W>
std::vector<W> random_weights(std::size_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<W> w(n);
  for (W& v : w) v = weight_from_f32<W>(normal(rng));
  return w;
}

Tensor random_rows(int rows, int cols) {
  std::mt19937 rng(2);
  std::normal_distribution<float> normal;
  Tensor x(rows, cols);
  for (float& v : x.data) v = normal(rng);
  return x;
}

template <class Target, class W>
void run_matmul(benchmark::State& state, int rows, int out, int in) {
  const Tensor x = random_rows(rows, in);
  const std::vector<W> w = random_weights<W>(std::size_t(out) * std::size_t(in));
  const WeightMatrix<W> m{w.data(), out, in};
  Tensor y;
  for (auto _ : state) {
    Ops<Target>::matmul(x, m, y);
    benchmark::DoNotOptimize(y.data.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * rows * out * in, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_B/s"] = benchmark::Counter(double(w.size() * sizeof(W)), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(weight_type_name<W>()) + " " + Ops<Target>::name());
}

template <class W>
void BM_Gemv(benchmark::State& state) { run_matmul<HwyDynamicTarget, W>(state, 1, 262144, 640); }
BENCHMARK_TEMPLATE(BM_Gemv, float)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK_TEMPLATE(BM_Gemv, bf16_t)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

template <class W>
void BM_Gemm(benchmark::State& state) { run_matmul<HwyDynamicTarget, W>(state, 512, 2048, 640); }
BENCHMARK_TEMPLATE(BM_Gemm, float)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK_TEMPLATE(BM_Gemm, bf16_t)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

// The hf-bf16 policy's linear layers: oneDNN's order (one fma chain per output), bf16 weights.
void BM_GemmOneDnnOrder(benchmark::State& state) {
  const int rows = 512, out = 2048, in = 640;
  const Tensor x = random_rows(rows, in);
  const std::vector<bf16_t> w = random_weights<bf16_t>(std::size_t(out) * in);
  Tensor y;
  for (auto _ : state) {
    Ops<HwyDynamicTarget>::matmul_onednn_order(x, WeightMatrix<bf16_t>{w.data(), out, in}, y);
    benchmark::DoNotOptimize(y.data.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * rows * out * in, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string("bf16 oneDNN order ") + Ops<HwyDynamicTarget>::name());
}
BENCHMARK(BM_GemmOneDnnOrder)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

template <class W>
void BM_ScalarMatmul(benchmark::State& state) { run_matmul<ScalarTarget, W>(state, int(state.range(0)), 2048, 640); }
BENCHMARK_TEMPLATE(BM_ScalarMatmul, float)->Arg(1)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_ScalarMatmul, bf16_t)->Arg(1)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_GemmFree(benchmark::State& state) {
  const int rows = 512, out = 2048, in = 640;
  const Tensor x = random_rows(rows, in);
  const std::vector<float> w = random_weights<float>(std::size_t(out) * in);
  const std::vector<float> packed = probes::pack_for_gemm_free(w.data(), out, in);
  std::vector<float> y(std::size_t(rows) * out);
  for (auto _ : state) {
    probes::gemm_free(x.data.data(), rows, packed.data(), out, in, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * rows * out * in, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("f32 non-canonical");
}
BENCHMARK(BM_GemmFree)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

void BM_GemvFree(benchmark::State& state) {
  const int out = 262144, in = 640;
  const Tensor x = random_rows(1, in);
  const std::vector<float> w = random_weights<float>(std::size_t(out) * in);
  std::vector<float> y(static_cast<std::size_t>(out));
  for (auto _ : state) {
    probes::gemv_free(x.data.data(), w.data(), out, in, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["weight_B/s"] = benchmark::Counter(double(w.size() * sizeof(float)), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("f32 non-canonical");
}
BENCHMARK(BM_GemvFree)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

void BM_TinyForward(benchmark::State& state) {
  const std::string dir = std::string(T5GEMMA2_SOURCE_DIR) + "/tests/data/tiny_a";
  const Model<RuntimeDims, float, HwyDynamicTarget> model(dir);
  const SafetensorsFile inputs(dir + "/golden.safetensors");
  for (auto _ : state) {
    ArrayMap out;
    run_case(model, inputs, "text.", out);
    benchmark::DoNotOptimize(out.size());
  }
}
BENCHMARK(BM_TinyForward)->Unit(benchmark::kMillisecond);

// The demo model's encoder on N tokens (id 300), the call the Python module's Model.encode makes
// (benchmarks/bench_module.py times the module on the same input: the ratio is its overhead).
void BM_DemoEncode(benchmark::State& state) {
  keep_freed_memory();  // as the CLI and the module do: freed buffers are reused, not faulted in again
  const std::string dir = std::string(T5GEMMA2_SOURCE_DIR) + "/models/demo";
  const Model<RuntimeDims, float, HwyDynamicTarget> model(dir);
  const std::vector<int> ids(std::size_t(state.range(0)), 300);
  const std::vector<uint8_t> valid(ids.size(), 1);
  for (auto _ : state) benchmark::DoNotOptimize(model.encode(ids, valid).data.data());
}
BENCHMARK(BM_DemoEncode)->Arg(64)->Arg(512)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

// Greedy generation on the demo model: encode a text prompt once, then decode until EOS.
void BM_DemoGenerate(benchmark::State& state) {
  const std::string dir = std::string(T5GEMMA2_SOURCE_DIR) + "/models/demo";
  const Model<RuntimeDims, float, HwyDynamicTarget> model(dir);
  const Tokenizer tok = load_tokenizer(dir, model.config());
  const std::vector<int> ids = encode_prompt(tok, model.config(), "reverse: red green blue cat dog", 0);
  const std::vector<uint8_t> valid(ids.size(), 1);
  std::size_t tokens = 0;
  for (auto _ : state) {
    const Tensor enc = model.encode(ids, valid);
    GenerationOptions o;
    o.max_new_tokens = 32;
    const auto out = generate_from_encoded(model, {enc}, {valid}, o);
    tokens += out[0].sequence.size() - 1;
  }
  state.counters["tokens/s"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DemoGenerate)->Unit(benchmark::kMillisecond);

}  // namespace
