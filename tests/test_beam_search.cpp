// Beam search and the logits processors against HF generate() (tests/data/beam, made by
// tools/make_beam_goldens.py with the transformers v5.0.0 oracle): tiny_a, tiny_b and the demo
// model, text batches with padding and image inputs, 7 option sets each — beam widths 2-5,
// length_penalty -0.5/0/1/1.5/2, early_stopping False/True/"never", num_return_sequences,
// no_repeat_ngram_size, repetition_penalty, min_new_tokens, and greedy with the processors.
// Sequences must be identical; sequences_scores within 1e-5·max(1, |score|).
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "t5gemma2/dump.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

namespace {

std::vector<double> f64_values(const TensorEntry& t) {
  REQUIRE(t.dtype == DType::F64);
  std::vector<double> v(std::size_t(t.numel()));
  std::memcpy(v.data(), t.data, v.size() * sizeof(double));
  return v;
}

// The option set stored with run P (see make_beam_goldens.py: int_options, float_options).
GenerationOptions options_of(const SafetensorsFile& golden, const std::string& run, const std::vector<int>& eos) {
  const std::vector<int64_t> i = to_i64_vector(golden.get(run + "int_options"));
  const std::vector<double> f = f64_values(golden.get(run + "float_options"));
  GenerationOptions o;
  o.beam.num_beams = int(i[0]);
  o.beam.num_return_sequences = int(i[1]);
  o.beam.early_stopping = i[2] == 0 ? EarlyStopping::kHeuristic : i[2] == 1 ? EarlyStopping::kWhenFull : EarlyStopping::kNever;
  o.processing.no_repeat_ngram_size = int(i[3]);
  o.processing.min_new_tokens = int(i[4]);
  o.max_new_tokens = int(i[5]);
  o.beam.length_penalty = f[0];
  o.processing.repetition_penalty = float(f[1]);
  o.eos_ids = eos;
  return o;
}

// Runs every option set of input group P ("text." or "mm.") of a beam golden; returns the
// number of runs compared.
template <class M>
int check_runs(const M& model, const SafetensorsFile& golden, const std::string& prefix) {
  const CaseInputs in = read_case_inputs(golden, prefix, model.config());
  std::vector<Tensor> encoded;
  for (std::size_t b = 0; b < in.encoder_ids.size(); ++b) encoded.push_back(encode_sample(model, in, b));
  std::vector<int> eos;
  for (int64_t e : to_i64_vector(golden.get(prefix + "eos_token_ids"))) eos.push_back(int(e));
  int runs = 0;
  for (const TensorEntry& t : golden.tensors()) {
    const std::string suffix = "int_options";
    if (t.name.rfind(prefix, 0) != 0 || t.name.size() < suffix.size() ||
        t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string run = t.name.substr(0, t.name.size() - suffix.size());
    const GenerationOptions o = options_of(golden, run, eos);
    const std::vector<Generation> got = generate_from_encoded(model, encoded, in.encoder_valid, o);
    const auto want = read_rows(golden, run + "sequences");
    INFO(golden.path() << " run " << run);
    REQUIRE(got.size() == want.size());
    for (std::size_t r = 0; r < got.size(); ++r) {
      INFO("hypothesis " << r);
      CHECK(got[r].sequence == to_ids(want[r], run + "sequences"));
    }
    if (o.beam.num_beams > 1) {
      const std::vector<float> scores = to_f32_vector(golden.get(run + "sequences_scores"));
      REQUIRE(scores.size() == got.size());
      for (std::size_t r = 0; r < got.size(); ++r) {
        INFO("hypothesis " << r << ": score " << got[r].score << " vs HF " << scores[r]);
        CHECK(std::fabs(got[r].score - scores[r]) <= 1e-5f * std::max(1.0f, std::fabs(scores[r])));
      }
    }
    ++runs;
  }
  return runs;
}

}  // namespace

TEST_CASE("beam search: tiny_a and tiny_b sequences and scores equal HF generate()") {
  for (const char* name : {"tiny_a", "tiny_b"}) {
    const Model<RuntimeDims, float, HwyDynamicTarget> model(test_data(name));
    const SafetensorsFile golden(test_data(std::string("beam/") + name + "/golden.safetensors"));
    CHECK(check_runs(model, golden, "text.") == 7);
    CHECK(check_runs(model, golden, "mm.") == 7);
  }
}

TEST_CASE("beam search: the demo model's padded text and image batches equal HF generate()") {
  const Model<RuntimeDims, float, HwyDynamicTarget> model(demo_model());
  const SafetensorsFile golden(test_data("beam/demo/golden.safetensors"));
  CHECK(check_runs(model, golden, "text.") == 7);
  CHECK(check_runs(model, golden, "mm.") == 7);
}

TEST_CASE("logits processors: repetition penalty, no-repeat n-grams and min new tokens act as HF's") {
  LogitsProcessing p;
  p.repetition_penalty = 2.0f;
  std::vector<float> s = {1.0f, -1.0f, 3.0f, -4.0f, 5.0f};
  process_scores(p, {0, 1, 1, 3}, 1, {4}, s);  // tokens 0, 1, 3 seen (1 twice: penalised once)
  CHECK(s == std::vector<float>{0.5f, -2.0f, 3.0f, -8.0f, 5.0f});

  LogitsProcessing n;
  n.no_repeat_ngram_size = 2;
  s = {0, 0, 0, 0, 0};
  process_scores(n, {2, 3, 1, 3}, 1, {4}, s);  // bigrams (2,3) (3,1) (1,3): after 3, 1 is banned
  CHECK(std::isinf(s[1]));
  CHECK(s[0] == 0.0f);
  CHECK(s[2] == 0.0f);
  CHECK(s[3] == 0.0f);

  LogitsProcessing m;
  m.min_new_tokens = 2;
  s = {0, 0, 0, 0, 0};
  process_scores(m, {2, 3}, 1, {4, 0}, s);  // one new token so far: both EOS ids banned
  CHECK((std::isinf(s[4]) && std::isinf(s[0]) && s[1] == 0.0f));
  s = {0, 0, 0, 0, 0};
  process_scores(m, {2, 3, 3}, 1, {4, 0}, s);  // two: allowed
  CHECK(s == std::vector<float>(5, 0.0f));

  LogitsProcessing bad;
  bad.repetition_penalty = 0.0f;
  REQUIRE_ERROR_MENTIONS(bad.validate(), "repetition_penalty");
}

TEST_CASE("beam search: option errors are named, beams of one input share the cross keys/values") {
  const ReferenceModel model(test_data("tiny_a"));
  const CaseInputs in = read_case_inputs(SafetensorsFile(test_data("tiny_a/golden.safetensors")), "text.", model.config());
  std::vector<Tensor> enc;
  for (std::size_t b = 0; b < in.encoder_ids.size(); ++b) enc.push_back(encode_sample(model, in, b));
  GenerationOptions o;
  o.beam.num_beams = 2;
  o.beam.num_return_sequences = 3;
  REQUIRE_ERROR_MENTIONS(generate_from_encoded(model, enc, in.encoder_valid, o), "num_return_sequences");
  o.beam.num_return_sequences = 1;
  o.sampling.temperature = 0.7f;
  REQUIRE_ERROR_MENTIONS(generate_from_encoded(model, enc, in.encoder_valid, o), "beam sampling");

  const BatchDecoderSession<ReferenceModel> one(model, enc, in.encoder_valid, false, 1);
  const BatchDecoderSession<ReferenceModel> four(model, enc, in.encoder_valid, false, 4);
  CHECK(four.size() == 4 * one.size());
  CHECK(four.cross_bytes() == one.cross_bytes());  // shared, not copied
}

TEST_CASE("beam search with one beam per input is greedy, and reorder carries a beam's caches") {
  const ReferenceModel model(test_data("tiny_a"));
  const CaseInputs in = read_case_inputs(SafetensorsFile(test_data("tiny_a/golden.safetensors")), "text.", model.config());
  std::vector<Tensor> enc;
  for (std::size_t b = 0; b < in.encoder_ids.size(); ++b) enc.push_back(encode_sample(model, in, b));
  // Two copies of input 0: step both with different tokens, then let copy 1 continue copy 0.
  BatchDecoderSession<ReferenceModel> s(model, {enc[0]}, {in.encoder_valid[0]}, false, 2);
  DecoderSession<ReferenceModel> alone(model, enc[0], in.encoder_valid[0]);
  s.step({2, 2});
  alone.step(2);
  s.step({17, 99});
  const std::vector<float> want = (alone.step(17), alone.step(5));
  s.reorder({0, 0});
  const auto got = s.step({5, 5});
  CHECK(got[0] == want);
  CHECK(got[1] == want);  // bit for bit: copy 1 now holds copy 0's history
  REQUIRE_ERROR_MENTIONS(s.reorder({0}), "one source per sequence");
}

TEST_CASE("generation_config.json: beam and processor defaults are read, bad values named") {
  TempDir dir;
  std::filesystem::copy_file(test_data("tiny_a/config.json"), dir / "config.json");
  const auto with = [&](const std::string& json) {
    std::ofstream(dir / "generation_config.json") << json;
    return load_model_config(dir.path.string());
  };
  const ModelConfig c = with(R"({"num_beams": 4, "num_return_sequences": 2, "length_penalty": 0.5, "early_stopping": "never",
                                 "repetition_penalty": 1.2, "no_repeat_ngram_size": 3, "min_new_tokens": 2, "max_new_tokens": 9})");
  CHECK(c.generation.num_beams == 4);
  CHECK(c.generation.num_return_sequences == 2);
  CHECK(c.generation.length_penalty == 0.5);
  CHECK(c.generation.early_stopping == "never");
  CHECK(c.generation.repetition_penalty == 1.2);
  CHECK(c.generation.no_repeat_ngram_size == 3);
  CHECK(c.generation.min_new_tokens == 2);
  CHECK(c.generation.max_new_tokens == 9);
  CHECK(with(R"({"early_stopping": true})").generation.early_stopping == "true");
  REQUIRE_ERROR_MENTIONS(with(R"({"num_beams": 0})"), "generation_config.json", "'num_beams'");
  REQUIRE_ERROR_MENTIONS(with(R"({"num_beams": 2, "num_return_sequences": 3})"), "'num_return_sequences'");
  REQUIRE_ERROR_MENTIONS(with(R"({"early_stopping": "sometimes"})"), "'early_stopping'");
  REQUIRE_ERROR_MENTIONS(with(R"({"max_new_tokens": -5})"), "'max_new_tokens'");
  REQUIRE_ERROR_MENTIONS(with(R"({"max_new_tokens": 1099511627776})"), "'max_new_tokens'");
  REQUIRE_ERROR_MENTIONS(with(R"({"repetition_penalty": "high"})"), "'repetition_penalty'");
}
