// The 270m preset at full size on synthetic weights, measured as the HF oracle's bench_hf.py
// measures transformers (so the two can be compared as a ratio):
//   BM_Encode512   encoder forward over 512 tokens, batch 1            -> tokens/s
//   BM_Decode32    32 greedy steps with the KV cache, given the encoder
//                  output of 512 tokens (encode excluded)              -> tokens/s
// Weights f32, activations f32, threads = --threads of t5gemma2 (default: all cores).
//   t5gemma2-bench-270m [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <fstream>
#include <string>

#include "t5gemma2/generate.hpp"
#include "t5gemma2/synthetic_weights.hpp"

using namespace t5gemma2;
using Model270m = Model<Preset270m, float>;

static const Model270m& model() {
  static const Model270m m(load_model_config(std::string(T5GEMMA2_SOURCE_DIR) + "/tests/data/configs/270m-270m"),
                           synthetic_checkpoint(0, /*with_vision=*/false));
  return m;
}

static std::vector<int> encoder_ids(int n) {
  std::vector<int> ids{2};
  for (int j = 1; j < n; ++j) ids.push_back(4 + int(splitmix64(fnv1a64("bench/encoder") + uint64_t(j)) % 255995));
  return ids;
}

// Peak resident memory of the process in GiB (VmHWM).
static double peak_rss_gib() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / (1024.0 * 1024.0);
  return 0;
}

static void BM_Encode512(benchmark::State& state) {
  const std::vector<int> ids = encoder_ids(512);
  const std::vector<uint8_t> valid(ids.size(), 1);
  for (auto _ : state) benchmark::DoNotOptimize(model().encode(ids, valid).data.data());
  state.counters["tokens/s"] = benchmark::Counter(512.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_RSS_GiB"] = peak_rss_gib();
}
BENCHMARK(BM_Encode512)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

static void BM_Decode32(benchmark::State& state) {
  const std::vector<int> ids = encoder_ids(512);
  const std::vector<uint8_t> valid(ids.size(), 1);
  const Tensor enc = model().encode(ids, valid);
  for (auto _ : state) {
    GenerationOptions o;
    o.max_new_tokens = 32;
    o.eos_ids = {-1};  // never stop early: exactly 32 steps, as min_new_tokens in bench_hf.py
    benchmark::DoNotOptimize(generate_from_encoded(model(), {enc}, {valid}, o).size());
  }
  state.counters["tokens/s"] = benchmark::Counter(32.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_RSS_GiB"] = peak_rss_gib();
}
BENCHMARK(BM_Decode32)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();
