// The text model against Hugging Face transformers v5.0.0 (tests/data/tiny_{a,b}, produced by
// the project's HF oracle, make_golden.py): every text.* tensor of the golden within
// max|Δ| ≤ 1e-5 · max(1, max|ref|) on unpadded rows, masks identical.
#include <set>
#include <string>

#include "t5gemma2/dump.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

template <class Target>
static void check_text_case(const std::string& name, std::size_t expected_layers_enc, std::size_t expected_layers_dec) {
  const Model<RuntimeDims, float, Target> model(test_data(name));
  const SafetensorsFile golden(test_data(name + "/golden.safetensors"));
  ArrayMap out;
  run_case(model, golden, "text.", out);
  const auto comparisons = compare_with_golden(out, golden, 1e-5);

  // Every golden output of the text path was produced and compared.
  std::set<std::string> compared;
  for (const auto& c : comparisons) compared.insert(c.name);
  std::size_t golden_outputs = 0;
  for (const TensorEntry& t : golden.tensors()) {
    const bool input = t.name.find("_ids") != std::string::npos || t.name.find("attention_mask") != std::string::npos;
    if (t.name.rfind("text.", 0) == 0 && !input) {
      ++golden_outputs;
      INFO("golden tensor " << t.name);
      CHECK(compared.count(t.name) == 1);
    }
  }
  // per stack: embeddings + layers + last_hidden_state; then logits and 4 masks
  CHECK(golden_outputs == (2 + expected_layers_enc) + (2 + expected_layers_dec) + 1 + 4);

  for (const auto& c : comparisons) {
    INFO(name << ": " << c.name << " max|d| " << c.max_abs << " max|ref| " << c.max_ref << " mismatches " << c.mismatches);
    CHECK(c.ok);
  }
}

TEST_CASE("tiny_a (5 local : 1 global, padding) matches HF tensor by tensor") {
  check_text_case<ScalarTarget>("tiny_a", 6, 6);
  check_text_case<HwyDynamicTarget>("tiny_a", 6, 6);
}

TEST_CASE("tiny_b (3-layer encoder, 4-layer decoder, soft-capping) matches HF tensor by tensor") {
  check_text_case<ScalarTarget>("tiny_b", 3, 4);
  check_text_case<HwyDynamicTarget>("tiny_b", 3, 4);
}

TEST_CASE("the comparison fails when the model is wrong (perturbed logits)") {
  const ReferenceModel model(test_data("tiny_a"));
  const SafetensorsFile golden(test_data("tiny_a/golden.safetensors"));
  ArrayMap out;
  run_case(model, golden, "text.", out);
  out["text.logits"].f32[7] += 1e-4f;
  out["text.encoder.mask.full_attention"].u8[3] ^= 1;
  int failed = 0;
  for (const auto& c : compare_with_golden(out, golden, 1e-5)) failed += !c.ok;
  CHECK(failed == 2);
}

TEST_CASE("attention soft-capping is NOT applied by HF's T5Gemma 2 (tiny_b sets cap 50)") {
  // If it were applied, encoder layer 0 would move by ~4e-3 (measured) instead of ~3e-6.
  const ReferenceModel model(test_data("tiny_b"));
  REQUIRE(model.config().encoder.attn_logit_softcapping.value_or(0) == 50.0);
  CHECK_FALSE(attention_shape(model.config().encoder).softcap.has_value());
  REQUIRE(model.config().decoder.final_logit_softcapping.value_or(0) == 30.0);
}
