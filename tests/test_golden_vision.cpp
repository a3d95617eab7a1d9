// The vision path against Hugging Face transformers v5.0.0: tiny_a / tiny_b mm.* tensors, and
// the demo model's sample PNGs preprocessed bit-identically to the PIL path.
#include <cstring>
#include <string>

#include "t5gemma2/dump.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

static void check_all(const std::vector<Comparison>& cs, std::size_t expected_count) {
  CHECK(cs.size() == expected_count);
  for (const auto& c : cs) {
    INFO(c.name << " max|d| " << c.max_abs << " max|ref| " << c.max_ref);
    CHECK(c.ok);
  }
}

static std::vector<Comparison> only_prefix(const std::vector<Comparison>& cs, const std::string& prefix) {
  std::vector<Comparison> out;
  for (const auto& c : cs)
    if (c.name.rfind(prefix, 0) == 0) out.push_back(c);
  return out;
}

TEST_CASE("tiny_a / tiny_b: SigLIP, projector, merge, encoder and logits with an image match HF") {
  for (auto [name, enc_layers] : {std::pair{"tiny_a", 6}, std::pair{"tiny_b", 3}}) {
    const Model<RuntimeDims, float, HwyDynamicTarget> model(test_data(name));  // == ReferenceModel bit for bit
    const SafetensorsFile golden(test_data(std::string(name) + "/golden.safetensors"));
    ArrayMap out;
    run_case(model, golden, "mm.", out);
    INFO(name);
    // vision.last_hidden_state, vision.projected, encoder.embeddings, layers, last, logits
    check_all(compare_with_golden(out, golden, 1e-5), std::size_t(2 + 1 + enc_layers + 1 + 1));
  }
}

TEST_CASE("demo model: pixel_values from each sample PNG are bit-identical to HF's") {
  for (int i = 0; i < 5; ++i) {
    const std::string sample = two_digits(i);
    const SafetensorsFile golden(demo_model("golden/image_" + sample + "/golden.safetensors"));
    const Tensor px = preprocess_image(load_image(demo_model("images/sample_" + sample + ".png")), 64);
    const std::vector<float> ref = to_f32_vector(golden.get("mm.pixel_values"));
    REQUIRE(ref.size() == px.data.size());
    std::size_t mismatches = 0;
    for (std::size_t k = 0; k < ref.size(); ++k) mismatches += std::memcmp(&ref[k], &px.data[k], 4) != 0;
    INFO("sample_" << sample << ".png");
    CHECK(mismatches == 0);
  }
}

TEST_CASE("demo model: vision, encoder and logits of every image golden within tolerance") {
  const ReferenceModel model(demo_model());
  for (int i = 0; i < 5; ++i) {
    const SafetensorsFile golden(demo_model("golden/image_" + two_digits(i) + "/golden.safetensors"));
    ArrayMap out;
    run_case(model, golden, "mm.", out);
    INFO("image_0" << i);
    check_all(only_prefix(compare_with_golden(out, golden, 1e-5), "mm."), 4);  // vision x2, encoder last, logits
  }
}

TEST_CASE("image/placeholder mismatches and wrong pixel shapes are rejected") {
  const ReferenceModel model(test_data("tiny_a"));
  const Tensor px(3, 32 * 32);
  const Tensor features = model.image_features(px);
  std::vector<int> ids{2, 500, 502, 502, 502, 502, 501};  // 4 image tokens = 1 image
  CHECK_NOTHROW(model.encoder_embeddings(ids, {features}));
  REQUIRE_ERROR_MENTIONS(model.encoder_embeddings(ids, {}), "4 image tokens", "0 image(s)");
  REQUIRE_ERROR_MENTIONS(model.encoder_embeddings(ids, {features, features}), "4 image tokens", "need 8");
  ids.pop_back();
  ids.pop_back();
  REQUIRE_ERROR_MENTIONS(model.encoder_embeddings(ids, {features}), "3 image tokens");
  REQUIRE_ERROR_MENTIONS(model.image_features(Tensor(3, 64 * 64)), "pixel_values must be [3, 32, 32]");
}
