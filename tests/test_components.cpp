// Unit tests of the model's components against their formulas (docs/model.md §3–§5).
#include <cmath>
#include <random>
#include <cstring>
#include <vector>

#include <map>

#include "t5gemma2/attention.hpp"
#include "t5gemma2/attention_maps.hpp"
#include "t5gemma2/model.hpp"
#include "t5gemma2/embedding.hpp"
#include "t5gemma2/masks.hpp"
#include "t5gemma2/mlp.hpp"
#include "t5gemma2/norm.hpp"
#include "t5gemma2/rope.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

static bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST_CASE("RoPE inverse frequencies follow the f32 formula bit for bit") {
  const RopeParams local{10000.0, 1.0}, global{1000000.0, 8.0};
  const std::vector<float> l = rope_inv_freq(local, 256), g = rope_inv_freq(global, 256);
  REQUIRE(l.size() == 128);
  for (int k = 0; k < 128; ++k) {
    const float e = float(2 * k) / 256.0f;
    CHECK(same_bits(l[std::size_t(k)], 1.0f / std::pow(10000.0f, e)));
    CHECK(same_bits(g[std::size_t(k)], (1.0f / std::pow(1000000.0f, e)) / 8.0f));
  }
  CHECK(l[0] == 1.0f);
  CHECK(g[0] == 0.125f);  // linear scaling divides by the factor
  // Within 1 ulp-ish of the exact real-number value.
  for (int k = 0; k < 128; ++k) CHECK(std::fabs(double(l[std::size_t(k)]) - std::pow(1e4, -k / 128.0)) <= 1.2e-7 * std::pow(1e4, -k / 128.0));
}

TEST_CASE("RoPE angles are the f32 product inv_freq·position, cos/sin within 1 ulp of exact") {
  const std::vector<float> inv = rope_inv_freq({10000.0, 1.0}, 16);
  const RopeAngles a = rope_angles(inv, {0, 1, 7, 511});
  const int pos[] = {0, 1, 7, 511};
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < 8; ++k) {
      const float angle = inv[std::size_t(k)] * float(pos[i]);
      CHECK(std::fabs(a.cos.at(i, k) - std::cos(double(angle))) <= 6e-8);
      CHECK(std::fabs(a.sin.at(i, k) - std::sin(double(angle))) <= 6e-8);
    }
  CHECK(a.cos.at(0, 3) == 1.0f);
  CHECK(a.sin.at(0, 3) == 0.0f);
}

TEST_CASE("RoPE pairs element j with j + d/2 (rotate-half), not neighbours") {
  const int d = 8;
  std::vector<float> cos(4, 0.0f), sin(4, 1.0f);  // a rotation by 90 degrees
  std::vector<float> v{1, 2, 3, 4, 10, 20, 30, 40};
  Ops<ScalarTarget>::rope(v.data(), cos.data(), sin.data(), d);
  // out[j] = -v[j+4], out[j+4] = v[j]
  CHECK(v == std::vector<float>{-10, -20, -30, -40, 1, 2, 3, 4});
}

TEST_CASE("encoder sliding window is bidirectional and asymmetric by one") {
  // W = 512: keys [q-255, q+256].
  for (int q : {0, 300, 1000}) {
    CHECK(encoder_window_allows(q, q - 255, 512));
    CHECK_FALSE(encoder_window_allows(q, q - 256, 512));
    CHECK(encoder_window_allows(q, q + 256, 512));
    CHECK_FALSE(encoder_window_allows(q, q + 257, 512));
  }
  // W = 1024: [q-511, q+512]; odd W = 7: left 4 (incl. self), right 3.
  CHECK(encoder_window_allows(600, 89, 1024));
  CHECK_FALSE(encoder_window_allows(600, 88, 1024));
  CHECK(encoder_window_allows(600, 1112, 1024));
  CHECK_FALSE(encoder_window_allows(600, 1113, 1024));
  CHECK(encoder_window_allows(10, 7, 7));
  CHECK_FALSE(encoder_window_allows(10, 6, 7));
  CHECK(encoder_window_allows(10, 13, 7));
  CHECK_FALSE(encoder_window_allows(10, 14, 7));
}

TEST_CASE("encoder masks AND the window with key padding and pad query rows still see real keys") {
  const std::vector<uint8_t> valid{1, 1, 1, 1, 0, 0};
  const Mask full = encoder_full_mask(valid), win = encoder_window_mask(valid, 4);
  for (int q = 0; q < 6; ++q)
    for (int k = 0; k < 6; ++k) {
      CHECK(full.at(q, k) == valid[std::size_t(k)]);
      CHECK(win.at(q, k) == (valid[std::size_t(k)] && k > q - 2 && k <= q + 2));
    }
}

TEST_CASE("decoder merged mask: causal self block (windowed on sliding layers), open cross block") {
  const std::vector<int> pos{0, 1, 2, 3, 4, 5};
  const std::vector<uint8_t> enc{1, 1, 0};
  const Mask full = decoder_merged_mask(LayerType::kFull, pos, pos, enc, 3);
  const Mask win = decoder_merged_mask(LayerType::kSliding, pos, pos, enc, 3);
  REQUIRE(full.cols == 9);
  for (int q = 0; q < 6; ++q) {
    for (int k = 0; k < 6; ++k) {
      CHECK(full.at(q, k) == (k <= q));
      CHECK(win.at(q, k) == (k <= q && k > q - 3));  // W keys including self
    }
    for (int j = 0; j < 3; ++j) {
      CHECK(full.at(q, 6 + j) == enc[std::size_t(j)]);
      CHECK(win.at(q, 6 + j) == enc[std::size_t(j)]);
    }
  }
}

// The forward pass asks for visible keys as intervals; they must describe exactly the dense masks.
static std::vector<uint8_t> mask_row_from(const std::vector<KeyInterval>& iv, int cols) {
  std::vector<uint8_t> row(std::size_t(cols), 0);
  int last_end = -1;
  for (const KeyInterval& i : iv) {
    CHECK(i.begin < i.end);       // non-empty
    CHECK(i.begin >= last_end);   // ascending, disjoint
    last_end = i.end;
    for (int k = i.begin; k < i.end; ++k) row[std::size_t(k)] = 1;
  }
  return row;
}

TEST_CASE("visible-key intervals equal the dense masks bit for bit (encoder, decoder, KV-cache order)") {
  std::mt19937 rng(7);
  int rows_checked = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const int s = 1 + int(rng() % 40), window = 1 + int(rng() % 12);
    std::vector<uint8_t> valid(static_cast<std::size_t>(s));
    for (auto& v : valid) v = uint8_t(rng() % 4 != 0);
    if (trial % 3 == 0) std::fill(valid.begin(), valid.begin() + int(rng() % std::size_t(s)), uint8_t(0));  // left padding
    for (LayerType type : {LayerType::kSliding, LayerType::kFull}) {
      const Mask m = encoder_mask(type, valid, window);
      const EncoderVisibility vis = encoder_visibility(type, valid, window);
      for (int q = 0; q < s; ++q, ++rows_checked) {
        std::vector<KeyInterval> iv;
        vis(q, iv);
        CHECK(mask_row_from(iv, s) == std::vector<uint8_t>(m.allowed.begin() + q * s, m.allowed.begin() + (q + 1) * s));
      }
      // Decoder: T queries at positions first..first+T-1 over self keys at ascending positions.
      const int t = 1 + int(rng() % 6), first = int(rng() % 30);
      std::vector<int> qpos, kpos;
      for (int i = 0; i < t; ++i) qpos.push_back(first + i);
      for (int p = std::max(0, first + t - 1 - int(rng() % 20)); p < first + t; ++p) kpos.push_back(p);
      const Mask dm = decoder_merged_mask(type, qpos, kpos, valid, window);
      const DecoderVisibility dvis(type, qpos, kpos, valid, window);
      for (int i = 0; i < t; ++i, ++rows_checked) {
        std::vector<KeyInterval> iv;
        dvis(i, iv);
        CHECK(mask_row_from(iv, dm.cols) ==
              std::vector<uint8_t>(dm.allowed.begin() + i * dm.cols, dm.allowed.begin() + (i + 1) * dm.cols));
      }
    }
  }
  CHECK(rows_checked > 1000);
}

TEST_CASE("Gemma RMSNorm multiplies by (1 + w)") {
  std::vector<float> x{3, 4}, w{0, 1}, y(2);
  Ops<ScalarTarget>::rms_norm(x.data(), w.data(), 2, 0.0f, y.data());
  const float inv_rms = 1.0f / std::sqrt(12.5f);
  CHECK(same_bits(y[0], 3 * inv_rms));
  CHECK(same_bits(y[1], (4 * inv_rms) * 2.0f));
  // eps is added inside the square root.
  std::vector<float> z{0, 0};
  Ops<ScalarTarget>::rms_norm(z.data(), w.data(), 2, 1e-6f, y.data());
  CHECK(y[0] == 0.0f);
}

TEST_CASE("soft-capping and tanh-GELU follow their formulas") {
  CHECK(soft_cap(0.0f, 30.0f) == 0.0f);
  CHECK(std::fabs(soft_cap(1e6f, 30.0f) - 30.0f) < 1e-5f);
  CHECK(same_bits(soft_cap(12.0f, 30.0f), tanh_canonical(12.0f / 30.0f) * 30.0f));
  for (float u : {-3.0f, -0.5f, 0.0f, 0.7f, 2.0f}) {
    const double exact = 0.5 * u * (1 + std::tanh(std::sqrt(2 / M_PI) * (u + 0.044715 * double(u) * u * u)));
    CHECK(std::fabs(gelu_tanh(u) - exact) < 1e-6);
  }
}

TEST_CASE("attention: GQA groups are consecutive, masked keys get zero weight") {
  // 2 query heads, 1 kv head, d = 2; two keys, the second masked.
  AttentionShape a{2, 1, 2, 1.0f, {}};
  Tensor q(1, 4), k(2, 2), v(2, 2);
  q.data = {1, 0, 0, 1};
  k.data = {1, 0, 0, 1};
  v.data = {5, 6, 100, 200};
  Mask m(1, 2);
  m.at(0, 0) = 1;
  const Tensor o = attention<ScalarTarget>(q, {{&k, &v}}, m, a);
  CHECK(o.data == std::vector<float>{5, 6, 5, 6});
  // Unmasked: softmax weights e/(e+1) and 1/(e+1) for head 0.
  m.at(0, 1) = 1;
  const Tensor o2 = attention<ScalarTarget>(q, {{&k, &v}}, m, a);
  const double p0 = std::exp(1.0) / (std::exp(1.0) + 1);
  CHECK(std::fabs(o2.at(0, 0) - (p0 * 5 + (1 - p0) * 100)) < 1e-4);
}

TEST_CASE("embedding: scale rounded to the weight type, EOI row replaced and unscaled") {
  std::vector<float> table_f{1, 2, 3, 4, 5, 6};  // V = 3, H = 2
  const WeightMatrix<float> table{table_f.data(), 3, 2};
  const WeightVector eoi{-7, 9};
  const Tensor e = embed_tokens(std::vector<int>{0, 2, 1}, table, eoi, 2);
  const float s = float(std::sqrt(2.0));
  CHECK(e.data == std::vector<float>{1 * s, 2 * s, -7, 9, 3 * s, 4 * s});
  CHECK(embed_scale<bf16_t>(640) == 25.25f);
  CHECK(embed_scale<float>(640) == float(std::sqrt(640.0)));
  REQUIRE_ERROR_MENTIONS(embed_tokens(std::vector<int>{3}, table, eoi, 2), "token id 3", "vocabulary");
}

TEST_CASE("attention maps (pictures): rows are distributions over exactly the keys the mask shows") {
  const ReferenceModel model(test_data("tiny_a"));  // W = 8: 20 tokens see a window
  std::vector<int> ids{2};
  for (int i = 0; i < 19; ++i) ids.push_back(10 + i);
  std::vector<uint8_t> valid(ids.size(), 1);
  valid[19] = valid[18] = 0;  // padding
  std::map<std::string, Tensor> seen;
  Observer observe;
  observe.tensor = [&](const std::string& name, const Tensor& t) { seen[name] = t; };
  const Tensor enc = model.encode_embeddings(model.embed(ids), valid, observe);
  const std::vector<int> dec{2, 30, 31, 32};
  (void)model.decode(dec, enc, valid, observe);
  const auto check_maps = [](const std::vector<Tensor>& maps, const Mask& mask) {
    for (const Tensor& p : maps)
      for (int q = 0; q < p.rows; ++q) {
        double sum = 0;
        for (int k = 0; k < p.cols; ++k) {
          if (!mask.at(q, k)) CHECK(p.row(q)[k] == 0.0f);
          sum += p.row(q)[k];
        }
        CHECK(std::fabs(sum - 1.0) < 1e-5);
      }
  };
  const TextConfig& c = model.config().encoder;
  for (int layer : {0, 5}) {  // sliding, global
    const Tensor& input = layer == 0 ? seen.at("encoder.embeddings") : seen.at("encoder.layer4");
    const auto maps = encoder_attention_maps(model, input, valid, layer);
    REQUIRE(int(maps.size()) == c.num_heads);
    check_maps(maps, encoder_mask(model.text_weights().encoder.layers[std::size_t(layer)].type, valid, c.sliding_window));
  }
  const std::vector<int> pos{0, 1, 2, 3};
  const auto maps = decoder_attention_maps(model, seen.at("decoder.layer0"), enc, valid, 1);
  REQUIRE(maps.front().cols == 4 + 20);
  check_maps(maps, decoder_merged_mask(LayerType::kSliding, pos, pos, valid, model.config().decoder.sliding_window));
}
