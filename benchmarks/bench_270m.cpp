// Full-size presets on synthetic weights (synth-weights-v1, seed 0), measured as the HF
// oracle's bench_hf.py measures transformers, so that the two compare as ratios:
//   BM_Encode512<W>    encoder forward over 512 tokens, batch 1               -> tokens/s
//   BM_Decode32<W>     32 greedy steps with the KV cache after a 512-token encode
//                      (encode excluded)                                      -> tokens/s
//   BM_Vision<W>       SigLIP (896², 4096 patches) + projector, one image     -> seconds
//   BM_1b_*, BM_4b_*   the 1b-1b and 4b-4b presets, bf16 weights (4b: ~14 GiB, run it alone)
//   BM_*Long*          8K/32K (and, on request, 128K) inputs: see "long inputs" below
// Models are built once, outside the timed region. Rooflines are probed in the same process:
//   FLOP/s ÷ peak_FLOP/s  = fraction of the register-only FMA peak over the threads used
//   stream_B/s ÷ read_B/s = bytes a decode step streams (weights + cross K/V + self K/V) ×
//                           tokens/s, as a fraction of the streaming-read probe
// Encode and decode get one untimed warm-up run, as bench_hf.py does; vision none (neither does
// bench_hf.py by default). tools/bench_vs_hf.py runs this and the HF peer alternately.
// Dynamic SIMD dispatch (the best target of the CPU), threads = all cores unless
// --threads is given through T5GEMMA2_THREADS.
//   t5gemma2-bench-270m [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>

#include "probes.hpp"
#include "t5gemma2/generate.hpp"
#include "t5gemma2/memory.hpp"
#include "t5gemma2/attention.hpp"
#include "t5gemma2/encoder.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/synthetic_weights.hpp"

using namespace t5gemma2;

namespace {

int threads() {
  const char* t = std::getenv("T5GEMMA2_THREADS");
  return t ? std::max(1, std::atoi(t)) : int(std::max(1u, std::thread::hardware_concurrency()));
}

// "<what> <SIMD target> <threads>T", the label of every result.
std::string run_label(const std::string& what) {
  return what + " " + HwyDynamicTarget::name() + " " + std::to_string(threads()) + "T";
}

// Every benchmark runs as the CLI does: freed memory stays with the process, so a tensor of a
// size seen before does not fault its pages in again (memory.hpp). Set before main, so that it
// holds whichever benchmarks the filter selects.
const bool kFreedMemoryKept = (keep_freed_memory(), true);

// Rooflines of this machine over the threads used, measured once.
struct Rooflines {
  double flops = 0;  // FMA peak, FLOP/s
  double bytes = 0;  // streaming read, B/s
};
const Rooflines& rooflines() {
  static const Rooflines r = [] {
    Rooflines out;
    set_num_threads(threads());
    const int t = threads();
    const std::size_t iters = std::size_t(1) << 24;
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      parallel_for(t, 1L << 40, [&](int b, int e) {
        for (int i = b; i < e; ++i) benchmark::DoNotOptimize(probes::fma_peak(iters));
      });
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    out.flops = probes::flops_per_fma_iteration() * double(iters) * t / best;
    std::vector<float> buf(std::size_t(256) << 20, 1.0f);  // 1 GiB, split over the threads
    best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::size_t chunk = buf.size() / std::size_t(t);
      parallel_for(t, 1L << 40, [&](int b, int e) {
        for (int i = b; i < e; ++i) benchmark::DoNotOptimize(probes::read_stream(buf.data() + std::size_t(i) * chunk, chunk));
      });
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    out.bytes = double(buf.size() * sizeof(float)) / best;
    return out;
  }();
  return r;
}

template <class W, class P = F32>
const Model<RuntimeDims, W, HwyDynamicTarget, P>& model(const std::string& preset, bool with_vision) {
  // One model resident per type at a time (the last one asked for).
  static std::unique_ptr<Model<RuntimeDims, W, HwyDynamicTarget, P>> resident;
  static std::string resident_key;
  const std::string key = preset + (with_vision ? "+vision" : "");
  if (!resident || resident_key != key) {
    resident.reset();
    resident = std::make_unique<Model<RuntimeDims, W, HwyDynamicTarget, P>>(
        load_model_config(std::string(T5GEMMA2_SOURCE_DIR) + "/tests/data/configs/" + preset), synthetic_checkpoint(0, with_vision));
    resident_key = key;
  }
  return *resident;
}

// BOS, then the oracle's token stream "bench/encoder" (as bench_hf.py builds its input).
std::vector<int> encoder_ids(int n) {
  std::vector<int> ids{2};
  const std::vector<int> stream = synthetic_token_stream("bench/encoder", n - 1);
  ids.insert(ids.end(), stream.begin(), stream.end());
  return ids;
}

// A field of /proc/self/status in GiB (VmHWM: peak resident set, VmRSS: resident now).
double status_gib(const char* field) {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field))) / (1024.0 * 1024.0);
  return 0;
}
double peak_rss_gib() { return status_gib("VmHWM:"); }

// Restarts the peak-RSS count from the current RSS (Linux: clear_refs 5).
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// FLOPs of an encoder forward over S tokens (progress.hpp: encoder_layer_flops).
LayerFlops encoder_flops(const ModelConfig& c, int s) {
  LayerFlops f;
  for (LayerType type : c.encoder.layer_types) {
    const LayerFlops l = encoder_layer_flops(c.encoder, type, s);
    f.linear += l.linear;
    f.attention += l.attention;
  }
  return f;
}

// "f32", "bf16" (weights) or "hf-bf16" (the HF-parity policy).
template <class W, class P>
std::string precision_label() {
  return std::is_same_v<P, HfBf16> ? std::string(HfBf16::name) : std::string(weight_type_name<W>());
}

template <class W, class P = F32>
void encode(benchmark::State& state, const std::string& preset) {
  set_num_threads(threads());
  const Rooflines& roof = rooflines();
  const auto& m = model<W, P>(preset, false);
  const std::vector<int> ids = encoder_ids(512);
  const std::vector<uint8_t> valid(ids.size(), 1);
  benchmark::DoNotOptimize(m.encode(ids, valid).data.data());  // untimed warm-up, as bench_hf.py
  for (auto _ : state) benchmark::DoNotOptimize(m.encode(ids, valid).data.data());
  const LayerFlops f = encoder_flops(m.config(), 512);
  state.counters["tokens/s"] = benchmark::Counter(512.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"] = (f.linear + f.attention) / 1e9;
  state.counters["attn_GFLOP"] = f.attention / 1e9;
  state.counters["FLOP/s"] = benchmark::Counter(f.linear + f.attention, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_FLOP/s"] = roof.flops;
  state.counters["peak_RSS_GiB"] = peak_rss_gib();
  state.SetLabel(run_label(precision_label<W, P>()));
}

// Bytes one decode step streams: every decoder weight matrix, the LM head, the cross K/V of
// every layer (S rows) and the self K/V so far (average over the steps).
// cross_bytes: bytes per stored cross key/value element (4, or 2 with the bf16 cross K/V).
template <class W>
double decode_bytes_per_token(const ModelConfig& c, int s, int steps, double cross_bytes = sizeof(float)) {
  const TextConfig& t = c.decoder;
  const double h = t.hidden_size, q = double(t.num_heads) * t.head_dim, kv = double(t.num_kv_heads) * t.head_dim;
  const double weights = (h * q + 2 * h * kv + q * h + 3 * h * t.intermediate_size) * t.num_layers + double(t.vocab_size) * h;
  const double cache = (2.0 * kv * s * cross_bytes + 2.0 * kv * steps / 2.0 * sizeof(float)) * t.num_layers;
  return weights * sizeof(W) + cache;
}

template <class W, class P = F32>
void decode(benchmark::State& state, const std::string& preset) {
  set_num_threads(threads());
  const Rooflines& roof = rooflines();
  const auto& m = model<W, P>(preset, false);
  const std::vector<int> ids = encoder_ids(512);
  const std::vector<uint8_t> valid(ids.size(), 1);
  const Tensor enc = m.encode(ids, valid);
  {  // untimed warm-up, as bench_hf.py
    GenerationOptions o;
    o.max_new_tokens = 4;
    generate_from_encoded(m, {enc}, {valid}, o);
  }
  for (auto _ : state) {
    GenerationOptions o;
    o.max_new_tokens = 32;
    o.eos_ids = {-1};  // never stop early: exactly 32 steps, as min_new_tokens in bench_hf.py
    benchmark::DoNotOptimize(generate_from_encoded(m, {enc}, {valid}, o).size());
  }
  state.counters["tokens/s"] = benchmark::Counter(32.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["B/token"] = decode_bytes_per_token<W>(m.config(), 512, 32);
  state.counters["stream_B/s"] =
      benchmark::Counter(32.0 * decode_bytes_per_token<W>(m.config(), 512, 32), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["read_B/s"] = roof.bytes;
  state.counters["peak_RSS_GiB"] = peak_rss_gib();
  state.SetLabel(run_label(precision_label<W, P>()));
}

// Batched greedy decoding (BatchDecoderSession): B sequences of 128 encoder tokens step together,
// 16 steps; one matrix product per layer streams each weight once per step for all B.
void BM_DecodeBatch(benchmark::State& state) {
  set_num_threads(threads());
  const Rooflines& roof = rooflines();
  const auto& m = model<bf16_t>("270m-270m", false);
  const int B = int(state.range(0)), S = 128, steps = 16;
  std::vector<Tensor> enc;
  std::vector<std::vector<uint8_t>> valid;
  for (int b = 0; b < B; ++b) {
    std::vector<int> ids{2};
    const std::vector<int> stream = synthetic_token_stream("bench/batch/" + std::to_string(b), S - 1);
    ids.insert(ids.end(), stream.begin(), stream.end());
    valid.emplace_back(ids.size(), 1);
    enc.push_back(m.encode(ids, valid.back()));
  }
  for (auto _ : state) {
    state.PauseTiming();
    BatchDecoderSession<std::decay_t<decltype(m)>> session(m, enc, valid);  // cross K/V: not timed
    std::vector<int> tokens(std::size_t(B), 2);
    state.ResumeTiming();
    for (int t = 0; t < steps; ++t) {
      const auto logits = session.step(tokens);
      for (int b = 0; b < B; ++b) tokens[std::size_t(b)] = argmax(logits[std::size_t(b)]);
    }
  }
  // Bytes a step reads: the weights once, and every sequence's cross and (average) self K/V.
  const TextConfig& t = m.config().decoder;
  const double kv = double(t.num_kv_heads) * t.head_dim;
  const double per_sequence = (2.0 * kv * S * sizeof(float) + 2.0 * kv * steps / 2.0 * sizeof(float)) * t.num_layers;
  const double bytes = decode_bytes_per_token<bf16_t>(m.config(), 0, 0) + B * per_sequence;
  state.counters["tokens/s"] = benchmark::Counter(double(B) * steps, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["B/step"] = bytes;
  state.counters["stream_B/s"] = benchmark::Counter(bytes * steps, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["read_B/s"] = roof.bytes;
  state.SetLabel(run_label("bf16, batch " + std::to_string(B)));
}
BENCHMARK(BM_DecodeBatch)->Arg(1)->Arg(4)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

// Beam search (beam_search.hpp) on one 128-token input, 16 new tokens with no EOS (length
// penalty etc. at HF's defaults; the synthetic weights never end early): num_beams 1 (greedy)
// against 2, 4, 8. A step decodes num_beams rows as one batch, then reorders the beams' caches.
void BM_BeamSearch(benchmark::State& state) {
  set_num_threads(threads());
  const auto& m = model<bf16_t>("270m-270m", false);
  std::vector<int> ids{2};
  const std::vector<int> stream = synthetic_token_stream("bench/beam", 127);
  ids.insert(ids.end(), stream.begin(), stream.end());
  const std::vector<uint8_t> valid(ids.size(), 1);
  const Tensor enc = m.encode(ids, valid);
  GenerationOptions o;
  o.max_new_tokens = 16;
  o.eos_ids = {m.config().decoder.vocab_size - 1};  // a token the run does not produce: 16 steps
  o.beam.num_beams = int(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(generate_from_encoded(m, {enc}, {valid}, o).size());
  state.counters["steps/s"] = benchmark::Counter(16.0, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(run_label("bf16, num_beams " + std::to_string(o.beam.num_beams)));
}
BENCHMARK(BM_BeamSearch)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

// Embedding many short texts (Model::encode_many): 64 texts of 16 tokens, one by one (arg 0) or
// in stacks of 32 texts = 512 rows (arg 1); the same bits either way.
void BM_EncodeShortTexts(benchmark::State& state) {
  set_num_threads(threads());
  const auto& m = model<bf16_t>("270m-270m", false);
  std::vector<Tensor> emb;
  std::vector<std::vector<uint8_t>> valid;
  for (int i = 0; i < 64; ++i) {
    std::vector<int> ids{2};
    const std::vector<int> stream = synthetic_token_stream("bench/short/" + std::to_string(i), 15);
    ids.insert(ids.end(), stream.begin(), stream.end());
    emb.push_back(m.embed(ids));
    valid.emplace_back(ids.size(), 1);
  }
  const bool stacked = state.range(0) == 1;
  if (state.range(0) == 2) {  // reference: ONE sequence of 1,024 tokens
    const std::vector<int> ids = encoder_ids(1024);
    benchmark::DoNotOptimize(m.encode(ids, std::vector<uint8_t>(ids.size(), 1)).data.data());  // warm-up
    for (auto _ : state) benchmark::DoNotOptimize(m.encode(ids, std::vector<uint8_t>(ids.size(), 1)).data.data());
    state.SetLabel(run_label("bf16, one 1,024-token sequence"));
    return;
  }
  benchmark::DoNotOptimize(m.encode_many(emb, valid).size());  // untimed warm-up (first-touch page faults)
  for (auto _ : state) {
    if (stacked)  // stacks of 32 texts (512 rows: one row chunk of the encoder)
      for (std::size_t i = 0; i < emb.size(); i += 32)
        benchmark::DoNotOptimize(m.encode_many(std::vector<Tensor>(emb.begin() + long(i), emb.begin() + long(i) + 32),
                                               std::vector<std::vector<uint8_t>>(valid.begin() + long(i), valid.begin() + long(i) + 32)).size());
    else
      for (std::size_t i = 0; i < emb.size(); ++i) benchmark::DoNotOptimize(m.encode_embeddings(emb[i], valid[i]).data.data());
  }
  state.counters["texts/s"] = benchmark::Counter(64.0, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(run_label(stacked ? "bf16, stacks of 512 rows" : "bf16, one by one"));
}
BENCHMARK(BM_EncodeShortTexts)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

template <class W>
void BM_Encode512(benchmark::State& state) { encode<W>(state, "270m-270m"); }
template <class W>
void BM_Decode32(benchmark::State& state) { decode<W>(state, "270m-270m"); }
// The HF-parity policy (bf16 weights, activations rounded where PyTorch rounds).
void BM_Encode512_HfBf16(benchmark::State& state) { encode<bf16_t, HfBf16>(state, "270m-270m"); }
void BM_Decode32_HfBf16(benchmark::State& state) { decode<bf16_t, HfBf16>(state, "270m-270m"); }
BENCHMARK_TEMPLATE(BM_Encode512, float)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Decode32, float)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Encode512, bf16_t)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Decode32, bf16_t)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_Encode512_HfBf16)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_Decode32_HfBf16)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// SigLIP + projector on one 896² image (the pixels do not matter for the timing).
template <class W>
void vision(benchmark::State& state, const std::string& preset) {
  set_num_threads(threads());
  const Rooflines& roof = rooflines();
  const auto& m = model<W>(preset, true);
  const VisionConfig& v = m.config().vision;
  Tensor pixels(3, v.image_size * v.image_size);
  for (std::size_t i = 0; i < pixels.data.size(); ++i) pixels.data[i] = float(int(i % 511) - 255) / 255.0f;
  for (auto _ : state) benchmark::DoNotOptimize(m.image_features(pixels).data.data());
  const double n = v.num_patches(), hv = v.hidden_size, iv = v.intermediate_size;
  const double linear = 2.0 * n * (4 * hv * hv + 2 * hv * iv) * v.num_layers + 2.0 * n * hv * 3 * v.patch_size * v.patch_size;
  const double attention = 2.0 * 2.0 * n * n * hv * v.num_layers;
  state.counters["GFLOP"] = (linear + attention) / 1e9;
  state.counters["FLOP/s"] = benchmark::Counter(linear + attention, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_FLOP/s"] = roof.flops;
  state.counters["peak_RSS_GiB"] = peak_rss_gib();
  state.SetLabel(run_label(weight_type_name<W>()));
}
template <class W>
void BM_Vision(benchmark::State& state) { vision<W>(state, "270m-270m"); }

// The attention of ONE SigLIP layer (f32): 4,096 queries × 4,096 keys, 16 heads of 72, no mask
// (vision.hpp: vision_self_attention without its projections) -> FLOP rate vs the FMA probe.
void BM_VisionAttention(benchmark::State& state) {
  set_num_threads(threads());
  const Rooflines& roof = rooflines();
  const VisionConfig& c = model<float>("270m-270m", true).config().vision;
  const int n = c.num_patches();
  const AttentionShape a = attention_shape(c);
  Tensor q(n, c.hidden_size), k(n, c.hidden_size), v(n, c.hidden_size);
  for (Tensor* t : {&q, &k, &v})
    for (std::size_t i = 0; i < t->data.size(); ++i) t->data[i] = float(int(i % 97) - 48) / 480.0f;
  const auto every_key = [n](int, std::vector<KeyInterval>& out) { out.push_back({0, n}); };
  benchmark::DoNotOptimize(attention<HwyDynamicTarget>(q, {{&k, &v}}, every_key, a).data.data());  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(attention<HwyDynamicTarget>(q, {{&k, &v}}, every_key, a).data.data());
  const double flops = 2.0 * 2.0 * double(n) * n * c.hidden_size;
  state.counters["GFLOP"] = flops / 1e9;
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_FLOP/s"] = roof.flops;
  state.SetLabel(run_label("f32"));
}
BENCHMARK(BM_VisionAttention)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Vision, float)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Vision, bf16_t)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

// ---- long inputs (issue: 8K to 128K tokens) ---------------------------------------------------
//   BM_EncodeLong<W>/S     one encoder forward over S tokens (no warm-up: minutes at 128K)
//                          -> seconds, FLOP rate (linear and attention FLOPs counted apart),
//                          peak RSS during the encode and RSS before it (the weights)
//   BM_AttentionLong/S/F   the attention core of one encoder layer alone, 512 query rows at a
//                          time as in the encoder (F = 1: full layer, 0: sliding), 4 heads × 256,
//                          one kv head -> its FLOP rate
//   BM_DecodeLong<W>/S/B   16 greedy steps after an S-token encode; B = 1: bf16 cross K/V.
//                          The cross K/V of every layer, computed once per input before
//                          the first step, are timed apart (cross_kv_setup_s)
// S = 8,192 and 32,768 always; 131,072 only with T5GEMMA2_BENCH_128K=1 (about 20 minutes):
//   T5GEMMA2_BENCH_128K=1 t5gemma2-bench-270m --benchmark_filter='Long.*131072'

// The encoder output of the last (W, S) asked for (the decode benchmarks share it).
template <class W>
const Tensor& long_encoder_output(int s) {
  static Tensor enc;
  static int held = 0;
  if (held != s) {
    enc = Tensor();
    enc = model<W>("270m-270m", false).encode(encoder_ids(s), std::vector<uint8_t>(std::size_t(s), 1));
    held = s;
  }
  return enc;
}

template <class W>
void BM_EncodeLong(benchmark::State& state) {
  set_num_threads(threads());
  const Rooflines& roof = rooflines();
  const auto& m = model<W>("270m-270m", false);
  const int s = int(state.range(0));
  const std::vector<int> ids = encoder_ids(s);
  const std::vector<uint8_t> valid(ids.size(), 1);
  const double rss_before = status_gib("VmRSS:");
  reset_peak_rss();
  for (auto _ : state) benchmark::DoNotOptimize(m.encode(ids, valid).data.data());
  const LayerFlops f = encoder_flops(m.config(), s);
  state.counters["tokens/s"] = benchmark::Counter(double(s), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["linear_GFLOP"] = f.linear / 1e9;
  state.counters["attn_GFLOP"] = f.attention / 1e9;
  state.counters["FLOP/s"] = benchmark::Counter(f.linear + f.attention, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_FLOP/s"] = roof.flops;
  state.counters["RSS_before_GiB"] = rss_before;
  state.counters["peak_RSS_GiB"] = peak_rss_gib();
  state.SetLabel(run_label(weight_type_name<W>()));
}

void BM_AttentionLong(benchmark::State& state) {
  set_num_threads(threads());
  const Rooflines& roof = rooflines();
  const TextConfig& c = model<float>("270m-270m", false).config().encoder;
  const int s = int(state.range(0));
  const bool full = state.range(1) != 0;
  const AttentionShape a = attention_shape(c);
  Tensor q(s, a.heads * a.head_dim), k(s, a.kv_heads * a.head_dim), v(s, a.kv_heads * a.head_dim);
  for (Tensor* t : {&q, &k, &v})
    for (std::size_t i = 0; i < t->data.size(); ++i) t->data[i] = float(int(i % 97) - 48) / 480.0f;
  const EncoderVisibility visible(std::vector<uint8_t>(std::size_t(s), 1), full ? 0 : c.sliding_window);
  // As encoder_layer runs it: the queries of one 512-row chunk at a time (a whole [S, n_h·d]
  // output would be a fresh mapping every call, and first-touch page faults would dominate).
  auto run = [&] {
    for_row_chunks(s, kEncoderChunkRows, [&](int r0, int r1) {
      const Tensor qc = row_range(q, r0, r1);
      const auto rows = [&](int t, std::vector<KeyInterval>& out) { visible(r0 + t, out); };
      benchmark::DoNotOptimize(attention<HwyDynamicTarget>(qc, {{&k, &v}}, rows, a).data.data());
    });
  };
  if (!full) run();  // warm-up
  for (auto _ : state) run();
  const double flops = encoder_layer_flops(c, full ? LayerType::kFull : LayerType::kSliding, s).attention;
  state.counters["GFLOP"] = flops / 1e9;
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_FLOP/s"] = roof.flops;
  state.SetLabel(run_label(full ? "full" : "sliding"));
}

template <class W>
void BM_DecodeLong(benchmark::State& state) {
  set_num_threads(threads());
  const Rooflines& roof = rooflines();
  const auto& m = model<W>("270m-270m", false);
  const int s = int(state.range(0));
  const bool cross_bf16 = state.range(1) != 0;
  const Tensor& enc = long_encoder_output<W>(s);
  const std::vector<uint8_t> valid(std::size_t(s), 1);
  using Session = DecoderSession<std::remove_cvref_t<decltype(m)>>;
  constexpr int kSteps = 16;
  { Session warm(m, enc, valid, cross_bf16); }  // untimed: the first session's buffers fault their pages in
  double setup_s = 0;
  for (auto _ : state) {
    // The cross K/V of all layers (once per input, like the encoder) are timed apart.
    state.PauseTiming();
    const auto t0 = std::chrono::steady_clock::now();
    Session session(m, enc, valid, cross_bf16);
    setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.ResumeTiming();
    int token = m.config().decoder_start_token_id;
    for (int i = 0; i < kSteps; ++i) token = argmax(session.step(token));  // greedy
    benchmark::DoNotOptimize(token);
  }
  const double bytes = decode_bytes_per_token<W>(m.config(), s, kSteps, cross_bf16 ? 2.0 : 4.0);
  state.counters["tokens/s"] = benchmark::Counter(kSteps, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["cross_kv_setup_s"] = setup_s;
  state.counters["B/token"] = bytes;
  state.counters["stream_B/s"] = benchmark::Counter(kSteps * bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["read_B/s"] = roof.bytes;
  state.counters["peak_RSS_GiB"] = peak_rss_gib();
  state.SetLabel(run_label(std::string(weight_type_name<W>()) + (cross_bf16 ? " cross-kv-bf16" : "")));
}

void long_sizes(benchmark::internal::Benchmark* b, bool with_flag) {
  std::vector<int> sizes{8192, 32768};
  if (const char* e = std::getenv("T5GEMMA2_BENCH_128K"); e && std::string(e) == "1") sizes.push_back(131072);
  for (int s : sizes) {
    if (with_flag) {
      b->Args({s, 0});
      b->Args({s, 1});
    } else {
      b->Args({s});
    }
  }
}
BENCHMARK_TEMPLATE(BM_EncodeLong, float)->Apply([](auto* b) { long_sizes(b, false); })->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK_TEMPLATE(BM_EncodeLong, bf16_t)->Apply([](auto* b) { long_sizes(b, false); })->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK(BM_AttentionLong)->Apply([](auto* b) { long_sizes(b, true); })->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK_TEMPLATE(BM_DecodeLong, float)->Apply([](auto* b) { long_sizes(b, true); })->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK_TEMPLATE(BM_DecodeLong, bf16_t)->Apply([](auto* b) { long_sizes(b, true); })->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

void BM_1b_Encode512(benchmark::State& state) { encode<bf16_t>(state, "1b-1b"); }
void BM_1b_Decode32(benchmark::State& state) { decode<bf16_t>(state, "1b-1b"); }
BENCHMARK(BM_1b_Encode512)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();
BENCHMARK(BM_1b_Decode32)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();
void BM_1b_Vision(benchmark::State& state) { vision<bf16_t>(state, "1b-1b"); }
BENCHMARK(BM_1b_Vision)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

// The 4b-4b preset, bf16 weights (~14 GiB resident: run these alone, --benchmark_filter=BM_4b_).
void BM_4b_Encode512(benchmark::State& state) { encode<bf16_t>(state, "4b-4b"); }
void BM_4b_Decode32(benchmark::State& state) { decode<bf16_t>(state, "4b-4b"); }
void BM_4b_Vision(benchmark::State& state) { vision<bf16_t>(state, "4b-4b"); }
BENCHMARK(BM_4b_Encode512)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();
BENCHMARK(BM_4b_Decode32)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();
BENCHMARK(BM_4b_Vision)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

}  // namespace
