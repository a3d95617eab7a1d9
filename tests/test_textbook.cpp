// The textbook functions (textbook.hpp) against the fast path: the same bits on every compiled
// SIMD target and thread count, f32 and bf16 weights — and against HF's goldens within the
// usual tolerance, so the textbook is itself checked, not only self-consistent.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "t5gemma2/dump.hpp"
#include "t5gemma2/decoder_session.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/synthetic_weights.hpp"
#include "t5gemma2/textbook.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

static bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// fn() once per compiled target × thread count 1, 2, 3.
template <class Fn>
static void for_each_target_and_thread_count(Fn&& fn) {
  for (const std::string& t : available_targets(/*every_compiled=*/true)) {
    select_target(t);
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      INFO("target " << t << ", " << threads << " thread(s)");
      fn();
    }
  }
  select_target("best");
  set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
}

// Decoder tokens to feed: the start token, then a fixed walk through the vocabulary.
static std::vector<int> decoder_tokens(const ModelConfig& c, int n) {
  std::vector<int> t{c.decoder_start_token_id};
  for (int i = 1; i < n; ++i) t.push_back((i * 7919 + 3) % c.decoder.vocab_size);
  return t;
}

// What the textbook computes for one sample: the encoder output and the logits of `steps`
// decoder steps (one sequence, ring caches).
struct TextbookRun {
  Tensor encoder_output;
  std::vector<std::vector<float>> step_logits;
};

template <class M>
static TextbookRun run_textbook(const M& model, const Tensor& embeddings, const std::vector<uint8_t>& valid, int steps) {
  const auto& w = model.text_weights();
  TextbookRun r;
  r.encoder_output = textbook::encoder(embeddings, w.encoder, model.config().encoder, valid);
  textbook::DecoderState s = textbook::start_decoder(r.encoder_output, valid, w.decoder, model.config().decoder);
  for (int token : decoder_tokens(model.config(), steps)) r.step_logits.push_back(textbook::decoder_step(s, token, w, model.config()));
  return r;
}

// The fast path on the same sample: Model::encode_embeddings (chunked; several chunk sizes),
// DecoderSession steps (ring caches, interval attention), and the teacher-forced decoder.
template <class M>
static void check_fast_equals_textbook(const M& model, const Tensor& embeddings, const std::vector<uint8_t>& valid,
                                       const TextbookRun& want) {
  const std::vector<int> tokens = decoder_tokens(model.config(), int(want.step_logits.size()));
  for (int chunk : {kEncoderChunkRows, 3}) {
    const Tensor E = model.encode_embeddings(embeddings, valid, {}, chunk);
    CHECK(same_bits(E.data, want.encoder_output.data));
  }
  DecoderSession<M> session(model, want.encoder_output, valid);
  const Tensor teacher_forced = model.logits(model.decode(tokens, want.encoder_output, valid));  // [steps, V]
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    INFO("decoder step " << i);
    CHECK(same_bits(session.step(tokens[i]), want.step_logits[i]));
    const float* row = teacher_forced.row(int(i));
    CHECK(same_bits(std::vector<float>(row, row + teacher_forced.cols), want.step_logits[i]));
  }
}

template <class W>
static void check_golden_case(const std::string& dir) {
  const SafetensorsFile golden(dir + "/golden.safetensors");
  const Model<RuntimeDims, W, ScalarTarget> reference(dir);
  const Model<RuntimeDims, W, HwyDynamicTarget> fast(dir);
  const CaseInputs in = read_case_inputs(golden, "text.", reference.config());
  const int steps = reference.config().decoder.sliding_window + 4;  // past the ring's wrap
  for (std::size_t b = 0; b < in.encoder_ids.size(); ++b) {
    INFO(dir << " sample " << b);
    const Tensor embeddings = reference.embed(in.encoder_ids[b]);
    const TextbookRun want = run_textbook(reference, embeddings, in.encoder_valid[b], steps);
    if (std::is_same_v<W, float>) {  // the textbook against HF: the golden's encoder output
      const std::vector<float> hf = to_f32_vector(golden.get("text.encoder.last_hidden_state"));
      const std::size_t n = want.encoder_output.data.size(), H = std::size_t(want.encoder_output.cols);
      double max_abs = 0, max_ref = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!in.encoder_valid[b][i / H]) continue;  // HF's rows at padding are not compared (docs/validation.md)
        max_abs = std::max(max_abs, double(std::fabs(want.encoder_output.data[i] - hf[b * n + i])));
        max_ref = std::max(max_ref, double(std::fabs(hf[b * n + i])));
      }
      INFO("textbook encoder vs HF: max|d| " << max_abs << ", max|ref| " << max_ref);
      CHECK(max_abs <= 1e-5 * std::max(1.0, max_ref));
    }
    set_num_threads(1);
    check_fast_equals_textbook(reference, embeddings, in.encoder_valid[b], want);
    for_each_target_and_thread_count([&] { check_fast_equals_textbook(fast, embeddings, in.encoder_valid[b], want); });
  }
}

TEST_CASE("textbook encoder and decoder steps == fast path bit for bit: tiny_a and tiny_b with f32 and bf16 weights") {
  for (const char* name : {"tiny_a", "tiny_b"}) {
    check_golden_case<float>(test_data(name));
    check_golden_case<bf16_t>(test_data(name));
  }
}

// SigLIP: patch embedding + position, the textbook blocks, post-LayerNorm.
template <class W>
static Tensor textbook_vision_tower(const Tensor& pixels, const VisionWeights<W>& w, const VisionConfig& c) {
  Tensor h = textbook::linear(unfold_patches(pixels, c.image_size, c.patch_size), w.patch_embedding);  // [N, Hv]
  for (int n = 0; n < h.rows; ++n)
    for (int i = 0; i < h.cols; ++i) h.at(n, i) += to_f32(w.position_embedding.row(n)[i]);
  for (const auto& layer : w.layers) textbook::siglip_layer(h, layer, c);
  return textbook::layer_norm(std::move(h), w.post_layernorm, float(c.layer_norm_eps));
}

template <class W>
static void check_vision(const std::string& dir) {
  const SafetensorsFile golden(dir + "/golden.safetensors");
  const Model<RuntimeDims, W, HwyDynamicTarget> fast(dir);
  const CaseInputs in = read_case_inputs(golden, "mm.", fast.config());
  REQUIRE(!in.images.empty());
  REQUIRE(!in.images[0].empty());
  const Tensor& pixels = in.images[0][0];
  const Tensor want = textbook_vision_tower(pixels, fast.vision_weights(), fast.config().vision);
  if (std::is_same_v<W, float>) {
    const std::vector<float> hf = to_f32_vector(golden.get("mm.vision.last_hidden_state"));
    double max_abs = 0, max_ref = 0;
    for (std::size_t i = 0; i < want.data.size(); ++i) {
      max_abs = std::max(max_abs, double(std::fabs(want.data[i] - hf[i])));
      max_ref = std::max(max_ref, double(std::fabs(hf[i])));
    }
    INFO("textbook SigLIP vs HF: max|d| " << max_abs);
    CHECK(max_abs <= 1e-5 * std::max(1.0, max_ref));
  }
  for_each_target_and_thread_count([&] {
    CHECK(same_bits(vision_tower<HwyDynamicTarget>(pixels, fast.vision_weights(), fast.config().vision).data, want.data));
  });
}

TEST_CASE("textbook SigLIP layers == fast vision tower bit for bit: tiny_a and tiny_b with f32 and bf16 weights") {
  for (const char* name : {"tiny_a", "tiny_b"}) {
    check_vision<float>(test_data(name));
    check_vision<bf16_t>(test_data(name));
  }
}

TEST_CASE("textbook attention: a key the predicate hides changes nothing and the merged softmax spans both blocks") {
  // 1 query, 2 self keys + 3 cross keys, one head of d = 4: hiding the cross keys must give the
  // self-only result, and the weights of all visible keys sum to one softmax (the output is a
  // convex combination: with all values equal to 1, every output element is 1 up to rounding).
  AttentionShape a;
  a.heads = a.kv_heads = 1;
  a.head_dim = 4;
  a.scale = 0.5f;
  Tensor q(1, 4), k(5, 4), v(5, 4), ones(5, 4);
  for (int i = 0; i < 4; ++i) q.at(0, i) = 0.3f * float(i + 1);
  for (int c = 0; c < 5; ++c)
    for (int i = 0; i < 4; ++i) k.at(c, i) = 0.1f * float(c - i), v.at(c, i) = float(c * 4 + i), ones.at(c, i) = 1.0f;
  const Tensor self_only = textbook::attention(q, k, v, [](int, int c) { return c < 2; }, a);
  const Tensor first_two = textbook::attention(q, row_range(k, 0, 2), row_range(v, 0, 2), [](int, int) { return true; }, a);
  CHECK(same_bits(self_only.data, first_two.data));
  const Tensor merged = textbook::attention(q, k, ones, [](int, int) { return true; }, a);
  for (float x : merged.data) CHECK(std::fabs(x - 1.0f) < 1e-6f);
  const Tensor merged_v = textbook::attention(q, k, v, [](int, int) { return true; }, a);
  CHECK(!same_bits(merged_v.data, self_only.data));
}

#ifdef T5GEMMA2_FULL_SIZE_TESTS
TEST_CASE("textbook == fast path on the full-size 270m preset: synthetic weights with 24 tokens and 3 steps") {
  using M = Model<Preset270m, float, HwyDynamicTarget>;
  const M model(load_model_config(test_data("full/s270m_text")), synthetic_checkpoint(0, false));
  std::vector<int> ids{model.config().bos_token_id};
  for (int id : synthetic_token_stream("textbook/encoder", 23)) ids.push_back(id);
  std::vector<uint8_t> valid(ids.size(), 1);
  valid.back() = 0;  // one padding key
  const Tensor embeddings = model.embed(ids);
  const TextbookRun want = run_textbook(model, embeddings, valid, 3);
  set_num_threads(2);
  check_fast_equals_textbook(model, embeddings, valid, want);
  set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
}
#endif
