// The larger presets against HF (tools/make_4b_goldens.py, synthetic weights seed 0):
//   s1b_vision       1b-1b, f32: SigLIP at 896², the 1b projector (1152 -> 1152), logits
//   s270m_vision_bf16_2l  the full-size SigLIP with 2 layers, hf-bf16 — 100 % bit-identical
//   s4b_f32_6l       4b-4b dimensions with 6 + 6 layers, f32 (both layer types, merged attention)
//   s4b_text_bf16    4b-4b, hf-bf16: encoder output, logits, 8 greedy tokens — 100 % bit-identical
//   s4b_vision_bf16  4b-4b, hf-bf16 with an image — 100 % bit-identical
// f32 within 1e-5 · max(1, max|ref|). The 4b-4b cases need ~14 GiB and minutes: they build only
// with -DT5GEMMA2_4B_TESTS=ON (tools/test.sh does not; docs/validation.md has the figures).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "t5gemma2/dump.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/synthetic_weights.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

static double status_gib(const char* field) { return status_bytes(field) / double(1u << 30); }

// The s270m_vision golden's image (pixel_values = v / 128, v stored as int16) and inputs.
struct VisionInputs {
  Tensor pixels;
  std::vector<int> ids, dec;
};
static VisionInputs vision_inputs(int size) {
  const SafetensorsFile g(test_data("full/s270m_vision/golden.safetensors"));
  VisionInputs in;
  const std::vector<int64_t> v = to_i64_vector(g.get("mm.pixel_values_x128"));
  in.pixels = Tensor(3, size * size);
  REQUIRE(v.size() == in.pixels.data.size());
  for (std::size_t i = 0; i < v.size(); ++i) in.pixels.data[i] = float(v[i]) / 128.0f;
  in.ids = to_ids(to_i64_vector(g.get("mm.encoder_input_ids")), "ids");
  in.dec = to_ids(to_i64_vector(g.get("mm.decoder_input_ids")), "ids");
  return in;
}

// rows [first, first + count) of t as the golden array `name` [1, count, cols]
static void keep(ArrayMap& out, const std::string& name, const Tensor& t, int first, int count) {
  Array a;
  a.shape = {1, count, t.cols};
  a.f32.assign(t.row(first), t.row(first) + std::size_t(count) * std::size_t(t.cols));
  out[name] = std::move(a);
}

// Every array of `out` against the golden; integers exact, and
//   kF32            within 1e-5·max(1, max|ref|)
//   kBf16Identical  100 % of the values bit-identical (hf-bf16 against HF's bf16 run)
enum class Match { kF32, kBf16Identical };
static void require_matches(const ArrayMap& out, const std::string& golden_path, Match match) {
  const SafetensorsFile golden(golden_path);
  const std::vector<Comparison> cs = compare_with_golden(out, golden, match == Match::kF32 ? 1e-5 : 1.0 / 16);
  print_comparisons(cs);
  REQUIRE(cs.size() == out.size());
  for (const Comparison& c : cs) {
    INFO(golden_path << ": " << c.name << " max|d| " << c.max_abs << " max|ref| " << c.max_ref << " identical " << c.identical_share());
    CHECK(c.ok);
    if (match == Match::kBf16Identical && !c.exact) CHECK(c.identical_share() == 1.0);
  }
}

// The vision case: SigLIP first/last 64 rows, projected tokens, encoder first 32 rows, last logits.
template <class M>
static ArrayMap run_vision(const M& model) {
  const VisionInputs in = vision_inputs(model.config().vision.image_size);
  ArrayMap out;
  Observer observe;
  observe.tensor = [&](const std::string& name, const Tensor& t) {
    if (name == "vision.last_hidden_state") {
      keep(out, "mm.vision.last_hidden_state_first64", t, 0, 64);
      keep(out, "mm.vision.last_hidden_state_last64", t, t.rows - 64, 64);
    } else if (name == "vision.projected") {
      keep(out, "mm.vision.projected", t, 0, t.rows);
    }
  };
  const std::vector<uint8_t> valid(in.ids.size(), 1);
  const Tensor features = model.image_features(in.pixels, observe);
  const Tensor enc = model.encode_embeddings(model.encoder_embeddings(in.ids, {features}), valid);
  keep(out, "mm.encoder.last_hidden_state_first32", enc, 0, 32);
  const Tensor logits = model.logits(model.decode(in.dec, enc, valid));
  keep(out, "mm.logits_last", logits, logits.rows - 1, 1);
  return out;
}

// The text case's inputs (golden) -> encoder output, decoder output, logits.
template <class M>
static ArrayMap run_text(const M& model, const std::string& dir, bool all_logits) {
  const SafetensorsFile g(dir + "/golden.safetensors");
  const std::vector<int> ids = to_ids(to_i64_vector(g.get("text.encoder_input_ids")), "ids");
  const std::vector<int> dec = to_ids(to_i64_vector(g.get("text.decoder_input_ids")), "ids");
  const std::vector<uint8_t> valid(ids.size(), 1);
  ArrayMap out;
  const Tensor enc = model.encode(ids, valid);
  keep(out, "text.encoder.last_hidden_state", enc, 0, enc.rows);
  const Tensor h = model.decode(dec, enc, valid);
  keep(out, "text.decoder.last_hidden_state", h, 0, h.rows);
  const Tensor logits = model.logits(h);
  if (all_logits) {
    keep(out, "text.logits", logits, 0, logits.rows);
  } else {
    keep(out, "text.logits_first", logits, 0, 1);
    keep(out, "text.logits_last", logits, logits.rows - 1, 1);
  }
  return out;
}

TEST_CASE("s1b_vision: SigLIP at 896 px through the 1b projector and the 1b model match HF (f32)") {
  const Model<Preset1b, float, HwyDynamicTarget> model(load_model_config(test_data("full/s1b_vision")), synthetic_checkpoint(0, true));
  require_matches(run_vision(model), test_data("full/s1b_vision/golden.safetensors"), Match::kF32);
}

TEST_CASE("s4b_f32_6l: 4b-4b dimensions with 6 + 6 layers match HF (f32)") {
  const Model<RuntimeDims, float, HwyDynamicTarget> model(load_model_config(test_data("full/s4b_f32_6l")), synthetic_checkpoint(0, false));
  require_matches(run_text(model, test_data("full/s4b_f32_6l"), false), test_data("full/s4b_f32_6l/golden.safetensors"), Match::kF32);
}

// The full-size SigLIP (896², 4,096 patches, head_dim 72) with 2 of its layers under hf-bf16: the
// patch embedding's convolution order (HfBf16Kernels::patch_embedding) and the bf16 layer at full
// size, small enough for every CI run (the 4b case below has all 27 layers).
TEST_CASE("s270m_vision_bf16_2l: the full-size SigLIP (2 layers) under hf-bf16 is HF's bf16 run bit for bit") {
  const std::string dir = test_data("full/s270m_vision_bf16_2l");
  const Model<RuntimeDims, bf16_t, HwyDynamicTarget, HfBf16> model(load_model_config(dir), synthetic_checkpoint(0, true));
  require_matches(run_vision(model), dir + "/golden.safetensors", Match::kBf16Identical);
}

#ifdef T5GEMMA2_4B_TESTS
using Hf4b = Model<Preset4b, bf16_t, HwyDynamicTarget, HfBf16>;

TEST_CASE("s4b_text_bf16: the 4b-4b preset under hf-bf16 is HF's bf16 run bit for bit with peak RSS <= 16 GiB") {
  const std::string dir = test_data("full/s4b_text_bf16");
  const Hf4b model(load_model_config(dir), synthetic_checkpoint(0, false));
  const double loaded = status_gib("VmRSS:");
  ArrayMap out = run_text(model, dir, true);
  out.erase("text.decoder.last_hidden_state");  // HF's bf16 golden keeps it too, compared below
  const SafetensorsFile g(dir + "/golden.safetensors");
  run_generation(model, g, "text.", "gen.", 8, out);
  out.erase("gen.step_logits");
  require_matches(out, dir + "/golden.safetensors", Match::kBf16Identical);
  std::printf("s4b_text_bf16: resident after load %.2f GiB, peak %.2f GiB\n", loaded, status_gib("VmHWM:"));
  CHECK(status_gib("VmHWM:") <= 16.0);
}

TEST_CASE("s4b_vision_bf16: the 4b-4b preset with an image under hf-bf16 is HF's bf16 run bit for bit") {
  const Hf4b model(load_model_config(test_data("full/s4b_vision_bf16")), synthetic_checkpoint(0, true));
  require_matches(run_vision(model), test_data("full/s4b_vision_bf16/golden.safetensors"), Match::kBf16Identical);
  std::printf("s4b_vision_bf16: peak %.2f GiB\n", status_gib("VmHWM:"));
  CHECK(status_gib("VmHWM:") <= 16.0);
}
#endif

#ifdef T5GEMMA2_4B_TESTS
TEST_CASE("4b-4b encoder-only load (embeddings): resident memory is the encoder's weights") {
  const ModelConfig c = load_model_config(test_data("full/s4b_text_bf16"));
  const double before = status_gib("VmRSS:");
  const Model<Preset4b, bf16_t, HwyDynamicTarget> model(c, synthetic_checkpoint(0, false), ModelParts{.decoder = false, .vision = false});
  const double grown = status_gib("VmRSS:") - before, want = weight_count(c, false, false).bytes(2) / double(1u << 30);
  std::printf("4b-4b encoder-only, bf16: resident +%.2f GiB for %.2f GiB of encoder weights\n", grown, want);
  CHECK(grown < want * 1.05 + 0.1);
  CHECK(grown > want * 0.95);
}
#endif
