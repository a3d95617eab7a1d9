// Long inputs: the row-chunked encoder gives the plain encoder's bits, and the decoder reads
// every cross key of a long encoder output — none dropped past the sliding window or past
// 4,096 keys (the HF v5.4–v5.6 cross-cache bug). The 8,192-token HF golden is in
// test_golden_full_size.cpp.
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "t5gemma2/generate.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/synthetic_weights.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

static bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Every observed tensor of an encoder run over `ids` with `chunk_rows`.
template <class Model>
static std::map<std::string, std::vector<float>> encoder_run(const Model& model, const std::vector<int>& ids,
                                                             const std::vector<uint8_t>& valid, int chunk_rows) {
  std::map<std::string, std::vector<float>> seen;
  Observer observe;
  observe.tensor = [&](const std::string& name, const Tensor& t) { seen[name] = t.data; };
  int reports = 0;
  double last = 0, total = 0;
  observe.progress = [&](const Progress& p) {
    ++reports;
    CHECK(p.work_done >= last);  // never backwards
    last = p.work_done;
    total = p.work_total;
  };
  seen["output"] = model.encode_embeddings(model.embed(ids), valid, observe, chunk_rows).data;
  const int layers = int(model.text_weights().encoder.layers.size());
  // One report per chunk of each of the two passes of every layer, ending at the total.
  CHECK(reports == 2 * layers * ((int(ids.size()) + chunk_rows - 1) / chunk_rows));
  CHECK(last == Approx(total).epsilon(1e-12));
  return seen;
}

template <class Model>
static void check_chunks_change_no_bit(const Model& model) {
  // 500 tokens (window 8, so sliding layers see ~8 keys and full layers 463), the first 37 padding.
  const int S = 500, pad = 37;
  std::vector<int> ids(std::size_t(S), model.config().pad_token_id);
  ids[std::size_t(pad)] = 2;
  std::mt19937 rng(7);
  for (int i = pad + 1; i < S; ++i) ids[std::size_t(i)] = 4 + int(rng() % 200u);
  std::vector<uint8_t> valid(std::size_t(S), 1);
  std::fill(valid.begin(), valid.begin() + pad, uint8_t(0));

  const auto plain = encoder_run(model, ids, valid, S);  // one chunk: the whole layer at once
  REQUIRE(plain.size() == 1 + 1 + model.text_weights().encoder.layers.size() + 1);
  for (int chunk : {1, 7, 64, 499}) {
    INFO("chunk_rows " << chunk);
    const auto chunked = encoder_run(model, ids, valid, chunk);
    REQUIRE(chunked.size() == plain.size());
    for (const auto& [name, values] : plain) {
      INFO(name);
      CHECK(same_bits(chunked.at(name), values));
    }
  }
}

TEST_CASE("the row-chunked encoder gives the plain encoder's bits (chunks of 1, 7, 64, 499 rows with padding)") {
  SECTION("scalar reference, tiny_a") { check_chunks_change_no_bit(ReferenceModel(test_data("tiny_a"))); }
  SECTION("dynamic SIMD target, tiny_b") {
    check_chunks_change_no_bit(Model<RuntimeDims, float, HwyDynamicTarget>(test_data("tiny_b")));
  }
}

TEST_CASE("the decoder attends to all 5,000 cross keys: past the window and past 4,096, padding excluded") {
  using M = Model<RuntimeDims, float, HwyDynamicTarget>;
  const M model(test_data("tiny_a"));
  const int S = 5000, H = model.config().encoder.hidden_size;
  REQUIRE(S > model.config().decoder.sliding_window);
  // An encoder output of 5,000 rows (the decoder does not care where it came from).
  Tensor enc(S, H);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& x : enc.data) x = normal(rng);
  std::vector<uint8_t> valid(std::size_t(S), 1);
  valid[std::size_t(S - 2)] = 0;  // one padded key near the end

  auto logits_after_two_steps = [&](const Tensor& e) {
    DecoderSession<M> session(model, e, valid);
    session.step(2);
    return session.step(40);
  };
  const std::vector<float> base = logits_after_two_steps(enc);
  // The cached steps == the teacher-forced decoder over the same keys.
  const Tensor forced = model.logits(model.decode({2, 40}, enc, valid));
  CHECK(same_bits(std::vector<float>(forced.row(1), forced.row(2)), base));

  for (int row : {4095, 4096, 4500, S - 1}) {  // a visible key changed: the output changes
    INFO("changed encoder row " << row);
    Tensor e = enc;
    for (int c = 0; c < H; ++c) e.at(row, c) += 1.0f;
    CHECK_FALSE(same_bits(logits_after_two_steps(e), base));
  }
  Tensor e = enc;  // the padded key changed: nothing changes
  for (int c = 0; c < H; ++c) e.at(S - 2, c) += 1.0f;
  CHECK(same_bits(logits_after_two_steps(e), base));
}

TEST_CASE("synthetic_token_stream follows the oracle's formula") {
  // id_j = 4 + splitmix64(fnv1a64(tag) + j) mod 255995: the s270m_long8k golden's encoder ids 1..5.
  CHECK(synthetic_token_stream("s270m_long8k/encoder", 5) == std::vector<int>{248822, 230419, 57796, 28863, 201053});
}

TEST_CASE("cross K/V stored as bf16 (option): half the bytes, logits close to the f32 reference, not bit-exact") {
  using M = Model<RuntimeDims, float, HwyDynamicTarget>;
  const M model(test_data("tiny_a"));
  const int S = 300, H = model.config().encoder.hidden_size;
  Tensor enc(S, H);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& x : enc.data) x = normal(rng);
  const std::vector<uint8_t> valid(std::size_t(S), 1);
  DecoderSession<M> exact(model, enc, valid), half(model, enc, valid, /*cross_kv_bf16=*/true);
  CHECK(half.cross_bytes() * 2 == exact.cross_bytes());
  for (int token : {2, 40, 41, 42}) {
    const std::vector<float> a = exact.step(token), b = half.step(token);
    double max_abs = 0, max_ref = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(double(a[i]) - b[i]));
      max_ref = std::max(max_ref, std::fabs(double(a[i])));
    }
    INFO("step token " << token << ": max|Δ| " << max_abs << ", max|logit| " << max_ref);
    CHECK(max_abs > 0);                                    // rounded keys/values: not the reference's bits
    CHECK(max_abs <= 2e-2 * std::max(1.0, max_ref));       // but bf16-close (8 significant bits)
  }
}
