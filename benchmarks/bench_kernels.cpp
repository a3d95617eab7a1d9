// Throughput of the scalar reference kernels and of a whole forward pass.
//   t5gemma2-bench [--benchmark_filter=...]
// Counters: FLOP/s for matmul (2·R·out·in per call), bytes/s of weights streamed.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "t5gemma2/dump.hpp"

using namespace t5gemma2;

template <class W>
static void BM_Matmul(benchmark::State& state) {
  const int rows = int(state.range(0)), out = int(state.range(1)), in = int(state.range(2));
  std::mt19937 rng(1);
  std::normal_distribution<float> n;
  Tensor x(rows, in);
  for (float& v : x.data) v = n(rng);
  std::vector<W> w(std::size_t(out) * std::size_t(in));
  for (W& v : w) v = weight_from_f32<W>(n(rng));
  const WeightMatrix<W> m{w.data(), out, in};
  Tensor y;
  for (auto _ : state) {
    Ops<ScalarTarget>::matmul(x, m, y);
    benchmark::DoNotOptimize(y.data.data());
  }
  const double flops = 2.0 * rows * out * in;
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_B/s"] =
      benchmark::Counter(double(w.size() * sizeof(W)), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(weight_type_name<W>()));
}
// Decode-like (1 row) and prefill-like (64 rows) shapes of the 270m text stack (H 640, I 2048).
BENCHMARK_TEMPLATE(BM_Matmul, float)->Args({1, 2048, 640})->Args({64, 2048, 640})->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_Matmul, bf16_t)->Args({1, 2048, 640})->Args({64, 2048, 640})->Unit(benchmark::kMicrosecond);

static void BM_TinyForward(benchmark::State& state) {
  const std::string dir = std::string(T5GEMMA2_SOURCE_DIR) + "/tests/data/tiny_a";
  const ReferenceModel model(dir);
  const SafetensorsFile inputs(dir + "/golden.safetensors");
  for (auto _ : state) {
    ArrayMap out;
    run_case(model, inputs, "text.", out);
    benchmark::DoNotOptimize(out.size());
  }
}
BENCHMARK(BM_TinyForward)->Unit(benchmark::kMillisecond);
