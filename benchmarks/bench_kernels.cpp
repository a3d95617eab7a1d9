// Throughput of the scalar reference kernels, whole forward passes and generation.
//   t5gemma2-bench [--benchmark_filter=...]
// Counters: FLOP/s for matmul (2·R·out·in per call), bytes/s of weights streamed; BM_StreamRead
// measures the memory bandwidth that bounds a one-row (decode) matmul: the roofline to compare
// weight_B/s against. BM_DemoGenerate: new tokens per second on the bundled demo model.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "t5gemma2/dump.hpp"
#include "t5gemma2/tokenizer.hpp"

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

// Memory bandwidth: reading a 256 MiB buffer with 8 independent accumulators.
static void BM_StreamRead(benchmark::State& state) {
  std::vector<float> buf(std::size_t(64) << 20, 1.0f);
  for (auto _ : state) {
    float acc[8] = {};
    for (std::size_t i = 0; i < buf.size(); i += 8)
      for (int j = 0; j < 8; ++j) acc[j] += buf[i + std::size_t(j)];
    benchmark::DoNotOptimize(acc);
  }
  state.counters["B/s"] = benchmark::Counter(double(buf.size() * sizeof(float)), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_StreamRead)->Unit(benchmark::kMillisecond);

// Greedy generation on the demo model: encode a text prompt once, then decode until EOS.
static void BM_DemoGenerate(benchmark::State& state) {
  const std::string dir = std::string(T5GEMMA2_SOURCE_DIR) + "/models/demo";
  const ReferenceModel model(dir);
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
