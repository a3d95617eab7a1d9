// The hf-bf16 precision policy against transformers' own bfloat16 runs (tests/data/bf16, made by
// tools/make_bf16_goldens.py with the HF v5.0.0 oracle: model.to(torch.bfloat16), eager, CPU).
//
// What is asserted, per golden: greedy tokens identical; every bf16 tensor (encoder output, image
// features, logits) 100 % bit-identical to HF's (the policy reproduces oneDNN's and torch 1.13's
// summation orders: docs/numerics.md, "HF bf16 parity"), checked as every value within
// kBf16RelTol · max(1, max|ref|) and the share of identical values equal to 1.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "t5gemma2/dump.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/synthetic_weights.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

template <class Target>
using HfModel = Model<RuntimeDims, bf16_t, Target, HfBf16>;

static constexpr double kBf16RelTol = 1.0 / 16;  // 16 bf16 steps (2^-8 each) of the largest value
static constexpr double kMinIdentical = 1.0;  // every value (measured: 100 % on every golden)

// Runs every prefix's forward pass and greedy generation, compares with the golden, prints the
// parity figures and checks them; returns the comparisons.
template <class M>
static std::vector<Comparison> check_case(const M& model, const std::string& golden_path, const std::vector<std::string>& prefixes,
                                          const std::vector<std::pair<std::string, std::string>>& generations, int max_new_tokens) {
  const SafetensorsFile golden(golden_path);
  ArrayMap out;
  for (const std::string& p : prefixes) run_case(model, golden, p, out);
  for (const auto& [in, gen] : generations) run_generation(model, golden, in, gen, max_new_tokens, out);
  const std::vector<Comparison> cs = compare_with_golden(out, golden, kBf16RelTol);
  std::printf("%s (%s):\n", golden_path.c_str(), M::Kernels::name());
  print_comparisons(cs);
  int sequences = 0;
  for (const Comparison& c : cs) {
    INFO(golden_path << ": " << c.name << " max|d| " << c.max_abs << " max|ref| " << c.max_ref << " bit-identical "
                     << c.identical_share() << " mismatches " << c.mismatches);
    CHECK(c.ok);
    if (!c.exact) CHECK(c.identical_share() >= kMinIdentical);
    sequences += c.name.find("sequences") != std::string::npos;
  }
  CHECK(sequences == int(generations.size()));
  return cs;
}

TEST_CASE("hf-bf16: tiny_a and tiny_b (padding, images, soft-capping) against HF bf16") {
  for (const char* name : {"tiny_a", "tiny_b"}) {
    const std::string g = test_data(std::string("bf16/") + name + "/golden.safetensors");
    const HfModel<HwyDynamicTarget> model(test_data(name));
    check_case(model, g, {"text.", "mm."}, {{"text.", "gen."}, {"mm.", "gen_mm."}}, 20);
  }
}

TEST_CASE("hf-bf16: the demo model's 10 samples against HF bf16") {
  const HfModel<HwyDynamicTarget> model(demo_model());
  std::vector<std::string> prefixes;
  std::vector<std::pair<std::string, std::string>> gens;
  for (int i = 0; i < 5; ++i)
    for (const char* kind : {"image_", "text_"}) {
      const std::string p = kind + two_digits(i) + ".";
      prefixes.push_back(p);
      gens.push_back({p, p + "gen."});
    }
  check_case(model, test_data("bf16/demo/golden.safetensors"), prefixes, gens, 24);
}

#ifdef T5GEMMA2_FULL_SIZE_TESTS
// The 270m-270m preset on synthetic weights (seed 0), as the oracle built it before
// model.to(torch.bfloat16): 64 and 2,000 encoder tokens.
static HfModel<HwyDynamicTarget> synthetic_270m() {
  return HfModel<HwyDynamicTarget>(load_model_config(test_data("full/s270m_text")), synthetic_checkpoint(0, false));
}

TEST_CASE("hf-bf16: s270m_text (64 tokens, 6 greedy steps) against HF bf16") {
  check_case(synthetic_270m(), test_data("bf16/s270m_text/golden.safetensors"), {"text."}, {{"text.", "gen."}}, 6);
}

TEST_CASE("hf-bf16: s270m_2k (2,000 tokens, 8 greedy steps) against HF bf16") {
  check_case(synthetic_270m(), test_data("bf16/s270m_2k/golden.safetensors"), {"text."}, {{"text.", "gen."}}, 8);
}
#endif

// The policy's bits do not depend on the SIMD target: every compiled target against the scalar
// reference, on tiny_b (text with padding, images, soft-capping, KV-cache generation) and a
// demo image sample.
TEST_CASE("hf-bf16: every SIMD target gives the scalar reference's bits") {
  struct Case {
    std::string model, golden;
    std::vector<std::string> prefixes;
    std::vector<std::pair<std::string, std::string>> gens;
  };
  const std::vector<Case> cases = {
      {test_data("tiny_b"), test_data("bf16/tiny_b/golden.safetensors"), {"text.", "mm."}, {{"text.", "gen."}, {"mm.", "gen_mm."}}},
      {demo_model(), test_data("bf16/demo/golden.safetensors"), {"image_01."}, {{"image_01.", "image_01.gen."}}}};
  for (const Case& c : cases) {
    const SafetensorsFile golden(c.golden);
    auto run = [&](auto& model) {
      ArrayMap out;
      for (const std::string& p : c.prefixes) run_case(model, golden, p, out);
      for (const auto& [in, gen] : c.gens) run_generation(model, golden, in, gen, 20, out);
      return out;
    };
    const HfModel<ScalarTarget> reference(c.model);
    const ArrayMap expected = run(reference);
    const HfModel<HwyDynamicTarget> model(c.model);
    for (const std::string& target : available_targets(true)) {
      select_target(target);
      const ArrayMap got = run(model);
      for (const auto& [name, a] : expected) {
        INFO(c.golden << " target " << target << ": " << name);
        REQUIRE(got.count(name) == 1);
        CHECK(got.at(name).f32 == a.f32);
        CHECK(got.at(name).i64 == a.i64);
      }
    }
    select_target("best");
  }
}

// SigLIP's LayerNorm as torch 1.13 runs it on bf16 rows, its last step a fused multiply-add
// (hf_bf16/torch113.hpp): the 25 of 20,000 random rows of 1,152 on which fusing changes a bf16
// output (tools/make_layer_norm_golden.py), torch's outputs bit for bit. The full-size SigLIP
// showed it first: 3 of 4.7 M values of one layer's norm, spread by 27 layers to most of its output.
TEST_CASE("hf-bf16: LayerNorm's last step is one fused multiply-add, as in torch 1.13") {
  const SafetensorsFile g(test_data("bf16/layer_norm/rows.safetensors"));
  const std::vector<float> x = to_f32_vector(g.get("x")), w = to_f32_vector(g.get("weight")), b = to_f32_vector(g.get("bias")),
                           y = to_f32_vector(g.get("y"));
  const std::size_t n = w.size(), rows = x.size() / n;
  REQUIRE(rows == 25);
  std::size_t differ = 0, differ_unfused = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<float> ours(x.begin() + long(r * n), x.begin() + long((r + 1) * n));
    layer_norm_torch113_bf16(ours.data(), w.data(), b.data(), n, 1e-6f);
    // the same row with the last step unfused: shows that these rows can tell the two apart
    const auto [mean, var] = torch113::row_moments(&x[r * n], n);
    const float rstd = round_to_bf16(1.0f / round_to_bf16(std::sqrt(round_to_bf16(var + 1e-6f))));
    const float shift = round_to_bf16(-rstd * mean);
    for (std::size_t i = 0; i < n; ++i) {
      const float product = (x[r * n + i] * rstd + shift) * w[i];  // rounded to f32 before the add
      differ += ours[i] != y[r * n + i];
      differ_unfused += round_to_bf16(product + b[i]) != y[r * n + i];
    }
  }
  CHECK(differ == 0);
  CHECK(differ_unfused >= rows);
}

// The projector's RMSNorm sums each pooled token's squares along a strided dimension
// (hf_bf16/torch113.hpp: sum_f32_strided): torch 1.13's means of T = 4, 6, 16, 40 and 256 random bf16
// tokens of 1,152 (tools/make_strided_mean_golden.py; every branch: groups of 32 and of 4,
// row_sum for the rest), bit for bit. The contiguous order (sum_f32) gives other means on each,
// and one plain cascade, on the tokens a group leaves, other means than row_sum.
TEST_CASE("hf-bf16: the projector norm's means follow torch's strided reduction order") {
  const SafetensorsFile g(test_data("bf16/strided_mean/means.safetensors"));
  std::size_t leftovers_differ = 0;  // tokens outside whole groups whose plain cascade differs
  for (const std::size_t tokens : {4, 6, 16, 40, 256}) {
    const std::vector<float> x = to_f32_vector(g.get("tokens" + std::to_string(tokens)));
    const std::vector<float> want = to_f32_vector(g.get("mean" + std::to_string(tokens)));
    const std::size_t n = x.size() / tokens;
    REQUIRE(want.size() == tokens);
    std::size_t differ = 0, differ_contiguous = 0;
    for (std::size_t j = 0; j < tokens; ++j) {
      const auto square = [&](std::size_t i) { return x[j * n + i] * x[j * n + i]; };
      differ += torch113::sum_f32_strided(n, j, tokens, square) / float(n) != want[j];
      differ_contiguous += torch113::sum_f32(n, square) / float(n) != want[j];
      const std::size_t group = tokens >= 8 ? 32 : 4;
      if (j >= tokens / group * group) leftovers_differ += torch113::sum_f32_strided(n, 0, group, square) / float(n) != want[j];
    }
    INFO(tokens << " tokens");
    CHECK(differ == 0);
    CHECK(differ_contiguous > 0);
  }
  CHECK(leftovers_differ > 0);
}

// P·V of many queries as one oneDNN-order matmul (HfBf16Kernels::attention_pv_as_matmul) against
// the plain key-by-key sums (attention_pv_by_query), on every target: key lists of one block
// (512, odd 333) and of several (1,500: blocks of 512; 2,600: of 1,024), spans starting inside a
// block and leaving gaps, f32- and bf16-stored values, zero weights.
TEST_CASE("hf-bf16: P·V as one matmul equals the plain key-by-key sums") {
  using K = HfBf16Kernels<HwyDynamicTarget>;
  const int d = 64, nq = 20;
  struct Layout {
    int total;
    std::vector<std::pair<int, int>> runs;  // (first key, count)
  };
  const std::vector<Layout> layouts = {{512, {{0, 512}}}, {333, {{5, 100}, {200, 133}}}, {1500, {{700, 300}, {1100, 399}}},
                                       {2600, {{1, 1}, {1023, 2}, {2047, 553}}}};
  std::uint64_t state = 7;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return float(int(state >> 40) % 2001 - 1000) / 1000.0f;
  };
  for (const std::string& target : available_targets(true)) {
    select_target(target);
    for (const Layout& l : layouts)
      for (bool bf16_values : {false, true}) {
        const AttentionCall call{.keys = l.total, .query_rows = 512, .heads = 8};
        std::vector<float> v(std::size_t(l.total) * d);
        for (float& x : v) x = round_to_bf16(next());
        std::vector<bf16_t> vb(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) vb[i] = bf16_from_f32(v[i]);
        std::vector<KeySpan> spans;
        int visible = 0;
        for (auto [first, count] : l.runs) {
          KeySpan s{.stride = std::size_t(d), .count = count, .first = first, .call = &call};
          if (bf16_values) s.v_bf16 = vb.data() + std::size_t(first) * d;
          else s.v = v.data() + std::size_t(first) * d;
          spans.push_back(s);
          visible += count;
        }
        std::vector<std::vector<float>> w(nq, std::vector<float>(std::size_t(visible)));
        for (auto& row : w)
          for (float& x : row) x = next() < -0.5f ? 0.0f : round_to_bf16(std::abs(next()) / 64);
        std::vector<std::vector<float>> a(nq, std::vector<float>(d)), b = a;
        std::vector<const float*> wp;
        std::vector<float*> ap, bp;
        for (int i = 0; i < nq; ++i) {
          wp.push_back(w[std::size_t(i)].data());
          ap.push_back(a[std::size_t(i)].data());
          bp.push_back(b[std::size_t(i)].data());
        }
        K::attention_pv_as_matmul(wp.data(), ap.data(), nq, spans.data(), int(spans.size()), d);
        K::attention_pv_by_query(wp.data(), bp.data(), nq, spans.data(), int(spans.size()), d);
        INFO("target " << target << " keys " << l.total << " bf16 values " << bf16_values);
        for (int i = 0; i < nq; ++i)
          CHECK(std::memcmp(a[std::size_t(i)].data(), b[std::size_t(i)].data(), sizeof(float) * std::size_t(d)) == 0);
      }
  }
  select_target("best");
}
