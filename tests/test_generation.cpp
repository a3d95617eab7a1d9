// Generation: HF's greedy outputs, KV cache == recomputation, sampling reproducibility.
#include <string>

#include "t5gemma2/dump.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/tokenizer.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

static void check_generation(const std::string& model_dir, const std::string& golden_path, const std::string& prefix,
                             const std::string& gen_prefix, int max_new_tokens) {
  const Model<RuntimeDims, float, HwyDynamicTarget> model(model_dir);  // == ReferenceModel bit for bit
  const SafetensorsFile golden(golden_path);
  ArrayMap out;
  run_generation(model, golden, prefix, gen_prefix, max_new_tokens, out);
  const auto cs = compare_with_golden(out, golden, 1e-5);
  REQUIRE(cs.size() == 2);
  for (const auto& c : cs) {
    INFO(golden_path << ": " << c.name << " max|d| " << c.max_abs << " mismatches " << c.mismatches);
    CHECK(c.ok);
  }
}

TEST_CASE("tiny_a / tiny_b: greedy sequences identical to HF, step logits within tolerance") {
  for (const char* name : {"tiny_a", "tiny_b"}) {
    check_generation(test_data(name), test_data(std::string(name) + "/golden.safetensors"), "text.", "gen.", 20);
    check_generation(test_data(name), test_data(std::string(name) + "/golden.safetensors"), "mm.", "gen_mm.", 20);
  }
}

TEST_CASE("demo model: the 10 golden samples generate HF's tokens (stopping at EOS)") {
  for (int i = 0; i < 5; ++i) {
    const std::string n = two_digits(i);
    check_generation(demo_model(), demo_model("golden/image_" + n + "/golden.safetensors"), "mm.", "gen.", 24);
    check_generation(demo_model(), demo_model("golden/text_" + n + "/golden.safetensors"), "text.", "gen.", 24);
  }
}

static std::vector<Generation> tiny_generate(const ReferenceModel& model, GenerationOptions o) {
  const CaseInputs in = read_case_inputs(SafetensorsFile(test_data("tiny_a/golden.safetensors")), "text.", model.config());
  std::vector<Tensor> enc;
  for (std::size_t b = 0; b < in.encoder_ids.size(); ++b) enc.push_back(encode_sample(model, in, b));
  return generate_from_encoded(model, enc, in.encoder_valid, o);
}

TEST_CASE("KV-cache generation equals recomputing without cache, bit for bit (ring buffer wraps)") {
  const ReferenceModel model(test_data("tiny_a"));  // sliding window 8, 20 steps: the ring wraps
  GenerationOptions o;
  o.max_new_tokens = 20;
  o.keep_step_logits = true;
  const auto cached = tiny_generate(model, o);
  o.use_cache = false;
  const auto recomputed = tiny_generate(model, o);
  REQUIRE(cached.size() == 2);
  for (std::size_t b = 0; b < cached.size(); ++b) {
    CHECK(cached[b].sequence == recomputed[b].sequence);
    CHECK(cached[b].step_logits == recomputed[b].step_logits);  // exact float equality
  }
}

TEST_CASE("the self-attention cache keeps W entries on sliding layers and all on full layers") {
  const ReferenceModel model(test_data("tiny_a"));
  const std::vector<int> ids{2, 10, 11, 12};
  const std::vector<uint8_t> valid(ids.size(), 1);
  DecoderSession<ReferenceModel> session(model, model.encode(ids, valid), valid);
  for (int t = 0; t < 13; ++t) session.step(t == 0 ? 2 : 40 + t);
  const int window = model.config().decoder.sliding_window;  // 8
  for (int i = 0; i < int(model.text_weights().decoder.layers.size()); ++i) {
    const bool sliding = model.text_weights().decoder.layers[std::size_t(i)].type == LayerType::kSliding;
    CHECK(session.cache(i).size() == (sliding ? window : 13));
    const SelfKeys keys = session.cache(i).keys();
    CHECK(keys.positions.back() == 12);  // chronological order
    CHECK(keys.positions.front() == (sliding ? 12 - window + 1 : 0));
  }
}

TEST_CASE("sampling is reproducible for a seed and temperature 0 or top-k 1 or a tiny top-p are greedy") {
  const ReferenceModel model(test_data("tiny_a"));
  GenerationOptions greedy;
  greedy.max_new_tokens = 12;
  const auto g = tiny_generate(model, greedy);
  GenerationOptions s = greedy;
  s.sampling.temperature = 1.5f;
  s.sampling.seed = 7;
  const auto a = tiny_generate(model, s), b = tiny_generate(model, s);
  CHECK(a[0].sequence == b[0].sequence);
  CHECK(a[1].sequence == b[1].sequence);
  CHECK(a[0].sequence != g[0].sequence);  // at T = 1.5 over a near-flat distribution
  s.sampling.seed = 8;
  CHECK(tiny_generate(model, s)[0].sequence != a[0].sequence);
  GenerationOptions k1 = s;
  k1.sampling.top_k = 1;
  CHECK(tiny_generate(model, k1)[0].sequence == g[0].sequence);
  GenerationOptions p = s;
  p.sampling.top_p = 1e-6f;
  CHECK(tiny_generate(model, p)[0].sequence == g[0].sequence);
}

TEST_CASE("argmax breaks ties toward the lowest id and finished samples emit PAD") {
  CHECK(argmax({0.5f, 2.0f, 2.0f, 1.0f}) == 1);
  const ReferenceModel model(demo_model());
  const Tokenizer tok = load_tokenizer(demo_model(), model.config());
  // Two prompts of different answer lengths in one lock-step batch.
  std::vector<Tensor> enc;
  std::vector<std::vector<uint8_t>> valid;
  for (const char* prompt : {"upper: hello world", "reverse: red green blue cat dog"}) {
    const auto ids = encode_prompt(tok, model.config(), prompt, 0);
    valid.emplace_back(ids.size(), 1);
    enc.push_back(model.encode(ids, valid.back()));
  }
  GenerationOptions o;
  o.max_new_tokens = 24;
  const auto out = generate_from_encoded(model, enc, valid, o);
  CHECK(tok.decode(out[0].sequence, true) == "HELLO WORLD");
  CHECK(tok.decode(out[1].sequence, true) == "dog cat blue green red");
  CHECK(out[0].sequence.size() == out[1].sequence.size());
  const auto eos = std::find(out[0].sequence.begin(), out[0].sequence.end(), 1);
  REQUIRE(eos != out[0].sequence.end());
  CHECK(std::all_of(eos + 1, out[0].sequence.end(), [](int t) { return t == 0; }));
}

// Batched decoding: the batch's rows go through every linear layer as one matrix product, yet
// each sequence gets the bits it gets alone (different encoder lengths, padding, positions past
// the sliding window), on the reference and on the SIMD targets, f32 and hf-bf16.
template <class M>
static void check_batch_equals_alone(const M& model) {
  const std::vector<std::vector<int>> inputs = {{2, 17, 33, 41, 1}, {2, 9, 8, 7, 6, 5, 4, 3, 1}, {2, 100, 200, 300, 400, 1, 0, 0}};
  std::vector<Tensor> encoded;
  std::vector<std::vector<uint8_t>> valid;
  for (const auto& ids : inputs) {
    std::vector<uint8_t> v(ids.size(), 1);
    if (ids.back() == 0) v[v.size() - 1] = v[v.size() - 2] = 0;  // two PAD rows
    encoded.push_back(model.encode(ids, v));
    valid.push_back(v);
  }
  BatchDecoderSession<M> batch(model, encoded, valid);
  std::vector<DecoderSession<M>> alone;
  for (std::size_t b = 0; b < inputs.size(); ++b) alone.emplace_back(model, encoded[b], valid[b]);
  std::vector<int> tokens{2, 2, 2};
  for (int step = 0; step < 12; ++step) {  // past the sliding window (tiny_a: 8)
    const std::vector<std::vector<float>> got = batch.step(tokens);
    for (std::size_t b = 0; b < inputs.size(); ++b) {
      const std::vector<float> want = alone[b].step(tokens[b]);
      INFO("step " << step << " sequence " << b);
      CHECK(got[b] == want);
      tokens[b] = 3 + int((b * 131 + std::size_t(step) * 17) % 400);
    }
  }
}

TEST_CASE("batched decode steps give every sequence its bits when stepped alone") {
  check_batch_equals_alone(Model<RuntimeDims, float, ScalarTarget>(test_data("tiny_a")));
  check_batch_equals_alone(Model<RuntimeDims, float, HwyDynamicTarget>(test_data("tiny_a")));
  check_batch_equals_alone(Model<RuntimeDims, bf16_t, HwyDynamicTarget, HfBf16>(test_data("tiny_a")));
}
