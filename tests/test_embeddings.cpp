// The encoder as an embedding model (sentence_embeddings.hpp) against HF's `model.get_encoder()`
// (tests/data/embeddings, made by tools/make_embedding_goldens.py with the HF v5.0.0 oracle):
// encoder states on unpadded rows and the mean/first/last pooled vectors, raw and L2-normalised,
// within 1e-5 · max(1, max|ref|); an encoder-only load never reads the decoder's tensors.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "t5gemma2/dump.hpp"
#include "t5gemma2/sentence_embeddings.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/synthetic_weights.hpp"
#include "test_util.hpp"

using namespace t5gemma2;
using EncoderOnly = Model<RuntimeDims, float, HwyDynamicTarget>;

static void check_close(const Tensor& got, const SafetensorsFile& golden, const std::string& name, int row = -1) {
  const TensorEntry& ref_entry = golden.get(name);
  const std::vector<float> ref = to_f32_vector(ref_entry);
  const std::size_t width = std::size_t(got.cols), first = row < 0 ? 0 : std::size_t(row) * width;
  double max_ref = 0, max_abs = 0;
  for (std::size_t i = 0; i < got.data.size(); ++i) {
    max_ref = std::max(max_ref, double(std::fabs(ref[first + i])));
    max_abs = std::max(max_abs, double(std::fabs(got.data[i] - ref[first + i])));
  }
  INFO(name << " row " << row << ": max|d| " << max_abs << " max|ref| " << max_ref);
  CHECK(max_abs <= 1e-5 * std::max(1.0, max_ref));
}

// Sample b of prefix p: encoder states (unpadded rows) and every pooled vector.
static void check_sample(const EncoderOnly& model, const SafetensorsFile& golden, const std::string& prefix, const std::string& out,
                         std::size_t b, bool batched) {
  const CaseInputs in = read_case_inputs(golden, prefix, model.config());
  const Tensor states = encode_sample(model, in, b);  // [S, H]
  const int S = states.rows;
  const std::vector<uint8_t>& valid = in.encoder_valid[b];
  const Tensor unpadded = pool_states(states, valid, Pooling::kNone);
  const std::vector<float> ref = to_f32_vector(golden.get(out + "encoder.last_hidden_state"));
  int row = 0;
  for (int r = 0; r < S; ++r)
    if (valid[std::size_t(r)]) {
      for (int c = 0; c < states.cols; ++c) {
        const float want = ref[(std::size_t(b) * std::size_t(S) + std::size_t(r)) * std::size_t(states.cols) + std::size_t(c)];
        CHECK(std::fabs(unpadded.at(row, c) - want) <= 1e-5f * std::max(1.0f, std::fabs(want)) + 1e-5f);
      }
      ++row;
    }
  for (const auto& [name, pooling] : {std::pair{"mean", Pooling::kMean}, {"first", Pooling::kFirst}, {"last", Pooling::kLast}}) {
    Tensor v = pool_states(states, valid, pooling);
    check_close(v, golden, out + "pooled." + name, batched ? int(b) : 0);
    l2_normalize_rows(v);
    check_close(v, golden, out + "pooled." + name + "_normalized", batched ? int(b) : 0);
  }
}

TEST_CASE("embeddings: tiny_a and tiny_b encoder states and pooled vectors match HF get_encoder()") {
  for (const char* name : {"tiny_a", "tiny_b"}) {
    const SafetensorsFile golden(test_data(std::string("embeddings/") + name + "/golden.safetensors"));
    const EncoderOnly text(test_data(name), ModelParts{/*decoder=*/false, /*vision=*/false});
    for (std::size_t b = 0; b < 2; ++b) check_sample(text, golden, "text.", "text.", b, true);
    const EncoderOnly with_images(test_data(name), ModelParts{/*decoder=*/false, /*vision=*/true});
    check_sample(with_images, golden, "mm.", "mm.", 0, true);
  }
}

TEST_CASE("embeddings: the demo model's 10 samples (5 with images) match HF get_encoder()") {
  const SafetensorsFile golden(test_data("embeddings/demo/golden.safetensors"));
  const EncoderOnly model(demo_model(), ModelParts{/*decoder=*/false, /*vision=*/true});
  for (int i = 0; i < 5; ++i)
    for (const char* kind : {"image_", "text_"}) {
      const std::string p = kind + two_digits(i) + ".";
      check_sample(model, golden, p, p, 0, false);
    }
}

TEST_CASE("embeddings: an encoder-only load never reads a decoder or vision tensor, and cannot decode") {
  // Generated weights that fail on any decoder or vision name: the load must not ask for them.
  auto checkpoint = std::make_shared<Checkpoint>(
      [](const std::string& name, const std::vector<int64_t>& shape) {
        if (name.rfind("decoder.", 0) == 0 || name.find("vision") != std::string::npos || name.find("multi_modal") != std::string::npos)
          throw Error("read " + name);
        return synthetic_tensor("model." + name, shape, 0);
      },
      std::vector<std::string>{});
  const EncoderOnly model(load_model_config(test_data("tiny_a")), checkpoint, ModelParts{false, false});
  CHECK_FALSE(model.has_decoder());
  CHECK_FALSE(model.has_vision());
  const std::vector<int> ids{2, 17, 33, 1};
  const Tensor states = model.encode(ids, std::vector<uint8_t>(ids.size(), 1));
  CHECK(states.rows == 4);
  REQUIRE_ERROR_MENTIONS(model.decode({2}, states, std::vector<uint8_t>(4, 1)), "loaded without its decoder");
  REQUIRE_ERROR_MENTIONS(DecoderSession<EncoderOnly>(model, states, std::vector<uint8_t>(4, 1)), "loaded without its decoder");
  // And from a real checkpoint directory: the decoder's tensors are skipped, not reported missing
  // or unexpected.
  const EncoderOnly from_dir(test_data("tiny_a"), ModelParts{false, false});
  CHECK(from_dir.text_weights().decoder.layers.empty());
  CHECK(from_dir.text_weights().encoder.layers.size() == 6);
}

TEST_CASE("embeddings: pooling names and edge cases") {
  CHECK(parse_pooling("mean") == Pooling::kMean);
  CHECK(parse_pooling("none") == Pooling::kNone);
  REQUIRE_ERROR_MENTIONS(parse_pooling("max"), "unknown pooling 'max'");
  Tensor s(3, 2);
  s.data = {1, 2, 3, 4, 5, 6};
  const std::vector<uint8_t> valid{1, 1, 0};
  CHECK(pool_states(s, valid, Pooling::kMean).data == std::vector<float>{2, 3});
  CHECK(pool_states(s, valid, Pooling::kLast).data == std::vector<float>{3, 4});
  CHECK(pool_states(s, valid, Pooling::kNone).rows == 2);
  REQUIRE_ERROR_MENTIONS(pool_states(s, {0, 0, 0}, Pooling::kMean), "every token is padding");
  Tensor v(1, 2);
  v.data = {3, 4};
  l2_normalize_rows(v);
  CHECK(v.data == std::vector<float>{0.6f, 0.8f});
}

// xtensor at the edge: zero-copy views of library tensors, a cosine similarity written with
// xtensor expressions, and the dump tool's .npy files read back with xt::load_npy.
#include <xtensor/xmath.hpp>
#include <xtensor/xnpy.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "t5gemma2/xtensor.hpp"

TEST_CASE("xtensor views: cosine similarity of two encoded prompts, npy round trip") {
  const EncoderOnly model(demo_model(), ModelParts{false, false});
  const std::vector<int> a{2, 277, 975, 386, 406}, b{2, 277, 975, 386, 410};
  const Tensor ea = model.encode(a, std::vector<uint8_t>(a.size(), 1)), eb = model.encode(b, std::vector<uint8_t>(b.size(), 1));
  auto xa = as_xtensor(ea);
  CHECK(xa.shape()[0] == 5);
  CHECK(&xa(1, 2) == ea.row(1) + 2);  // a view, not a copy
  const auto ma = xt::eval(xt::mean(xa, {0})), mb = xt::eval(xt::mean(as_xtensor(eb), {0}));
  const double cosine = xt::sum(ma * mb)() / std::sqrt(xt::sum(ma * ma)() * xt::sum(mb * mb)());
  // The same with the library's pooling (summation orders differ: a tolerance).
  Tensor pa = pool_states(ea, std::vector<uint8_t>(a.size(), 1), Pooling::kMean), pb = pool_states(eb, std::vector<uint8_t>(b.size(), 1), Pooling::kMean);
  l2_normalize_rows(pa);
  l2_normalize_rows(pb);
  double dot = 0;
  for (int c = 0; c < pa.cols; ++c) dot += double(pa.at(0, c)) * double(pb.at(0, c));
  CHECK(std::fabs(cosine - dot) < 1e-5);
  CHECK(cosine < 0.9999);  // different prompts, different vectors

  TempDir dir;
  xt::dump_npy(dir / "e.npy", xa);
  const auto back = xt::load_npy<float>(dir / "e.npy");
  CHECK(back == xa);
}

TEST_CASE("embeddings: encode_many stacks short texts into one pass and gives each text its bits alone") {
  auto check_model = [](const auto& model) {
    const std::vector<std::vector<int>> texts = {{2, 277, 475, 386, 406}, {2, 5}, {2, 9, 8, 7, 6, 5, 4, 3, 2, 1, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26},
                                                 {2, 100, 200, 0, 0}};
    std::vector<Tensor> embeddings;
    std::vector<std::vector<uint8_t>> valid;
    for (const auto& t : texts) {
      embeddings.push_back(model.embed(t));
      std::vector<uint8_t> v(t.size(), 1);
      if (t.back() == 0) v[v.size() - 1] = v[v.size() - 2] = 0;
      valid.push_back(v);
    }
    const std::vector<Tensor> many = model.encode_many(embeddings, valid);
    REQUIRE(many.size() == texts.size());
    for (std::size_t b = 0; b < texts.size(); ++b) {
      INFO("text " << b);
      CHECK(many[b].data == model.encode_embeddings(embeddings[b], valid[b]).data);
    }
  };
  check_model(Model<RuntimeDims, float, ScalarTarget>(test_data("tiny_a")));   // window 8: texts longer and shorter
  check_model(Model<RuntimeDims, float, HwyDynamicTarget>(demo_model()));
  check_model(Model<RuntimeDims, bf16_t, HwyDynamicTarget, HfBf16>(test_data("tiny_b")));  // one by one
}

// xsimd as xtensor's SIMD backend (the build links xtensor::use_xsimd): elementwise expressions
// over our views evaluate on xsimd batches and give exactly the scalar loop's bits (each element
// is one IEEE operation); a reduction does not follow the canonical order of ops/reduce.hpp,
// which is why no kernel uses xtensor — it agrees only within rounding.
TEST_CASE("xsimd backs xtensor's expressions: elementwise bits equal, reductions only close") {
#ifndef XTENSOR_USE_XSIMD
  FAIL("built without XTENSOR_USE_XSIMD: link xtensor::use_xsimd");
#else
  CHECK(xsimd::batch<float>::size >= 4);  // a real SIMD batch, not the scalar fallback
#endif
  Tensor a(37, 53), b(37, 53);
  for (std::size_t i = 0; i < a.data.size(); ++i) {
    a.data[i] = std::sin(0.37f * float(i)) * 3.0f;
    b.data[i] = std::cos(0.11f * float(i)) + 0.5f;
  }
  const auto xa = as_xtensor(a), xb = as_xtensor(b);
  const xt::xtensor<float, 2> y = xa * xb - xa / xb;
  bool same = true;
  for (std::size_t i = 0; i < a.data.size(); ++i) {
    const float want = a.data[i] * b.data[i] - a.data[i] / b.data[i];
    same = same && std::memcmp(&want, y.data() + i, sizeof(float)) == 0;
  }
  CHECK(same);
  const float xt_sum = xt::sum(xa)(), canonical = t5gemma2::sum(a.data.data(), a.data.size());
  CHECK(std::fabs(xt_sum - canonical) <= 1e-4f * std::max(1.0f, std::fabs(canonical)));
}
