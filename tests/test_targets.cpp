// The SIMD target axis: every Highway kernel against its scalar twin (Ops<ScalarTarget>) on
// every target this build compiles and this CPU runs, comparing bits; then whole models.
#include <algorithm>
#include <cmath>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <map>
#include <cstdio>
#include <cstring>
#include <random>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "t5gemma2/dump.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "test_util.hpp"

using namespace t5gemma2;
using Ref = Ops<ScalarTarget>;
using Dyn = Ops<HwyDynamicTarget>;

static bool same_bits(const float* a, const float* b, std::size_t n) { return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0; }
static bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && same_bits(a.data(), b.data(), a.size());
}

// Runs fn(name) once per compiled target (Highway names: AVX3_DL, AVX3, AVX2, SSE4, ...).
template <class Fn>
static void for_each_target(Fn&& fn) {
  const std::vector<std::string> targets = available_targets(/*every_compiled=*/true);
  REQUIRE(!targets.empty());
  for (const std::string& t : targets) {
    select_target(t);
    INFO("target " << t << " (kernels: " << HwyDynamicTarget::name() << ")");
    fn(t);
  }
  select_target("best");
}

// Normal values with exact zeros, negative zeros and a few large magnitudes mixed in.
static std::vector<float> random_floats(std::size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned r = rng() % 64;
    v[i] = r == 0 ? 0.0f : r == 1 ? -0.0f : r == 2 ? normal(rng) * 1e4f : normal(rng);
  }
  return v;
}

TEST_CASE("the build has the vector targets this CPU supports, and 'scalar'") {
  const std::vector<std::string> t = available_targets();
  REQUIRE(!t.empty());
  CHECK(t.back() == "scalar");
  for (const std::string& name : t) INFO("available: " << name);
  select_target("scalar");
  CHECK(std::string(HwyDynamicTarget::name()) == "scalar");
  select_target("best");
  CHECK(std::string(HwyDynamicTarget::name()) == t.front());
  REQUIRE_ERROR_MENTIONS(select_target("NEON"), "NEON", "scalar");
}

template <class W>
static void check_matmul_shapes(std::mt19937& rng) {
  // (rows, out, in): decode rows, tile remainders, K tails (588 = SigLIP patches), panels, and
  // rows long enough to be summed in K slices (ops/hwy/kernels-inl.h: KSlice; 4304 = SigLIP's MLP), with
  // odd column counts and a tail inside the last slice; then GEMMs of kPackedMinRows = 64 rows
  // or more (PackedMatMul), with row, column and K remainders (K mod 16 = 12, 1, 0; M mod 16 = 2,
  // 5, 13), weight blocks read in 2, 4 and 8 chain parts (K = 2048, 2900, 5601), and a pass of
  // 8 MB of activations over 2 weight blocks (1024 × 2048; a full pass of 4: the test below).
  const int shapes[][3] = {{1, 37, 640},  {1, 300, 17},  {1, 5, 3},      {3, 9, 588},    {8, 2, 16},
                           {9, 70, 1000}, {17, 130, 33}, {16, 257, 256}, {2, 1, 1},      {12, 64, 72},
                           {17, 67, 1100}, {12, 131, 2050}, {8, 3, 1025},  {13, 66, 4304}, {9, 5, 0},
                           {130, 67, 1100}, {64, 48, 17}, {133, 97, 16}, {65, 2, 3},     {128, 5, 0},
                           {70, 50, 2900},  {77, 50, 2900}, {66, 17, 5601}, {1024, 50, 2048}};
  for (const auto& s : shapes) {
    const int rows = s[0], out = s[1], in = s[2];
    INFO("matmul " << weight_type_name<W>() << " [" << rows << ", " << in << "] x [" << out << ", " << in << "]^T");
    Tensor x(rows, in);
    x.data = random_floats(x.data.size(), rng);
    std::vector<W> w(std::size_t(out) * std::size_t(in));
    const std::vector<float> wf = random_floats(w.size(), rng, 0.05f);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = weight_from_f32<W>(wf[i]);
    const WeightMatrix<W> m{w.data(), out, in};
    Tensor ref, got;
    Ref::matmul(x, m, ref);
    Dyn::matmul(x, m, got);
    CHECK(same_bits(ref.data, got.data));
  }
}

TEST_CASE("every kernel equals its scalar twin bit for bit, on every target") {
  for_each_target([](const std::string&) {
    std::mt19937 rng(42);
    check_matmul_shapes<float>(rng);
    check_matmul_shapes<bf16_t>(rng);

    for (std::size_t n : {1u, 7u, 16u, 17u, 255u, 256u, 640u, 1001u}) {
      INFO("n = " << n);
      const std::vector<float> a = random_floats(n, rng), b = random_floats(n, rng);
      std::vector<bf16_t> bb(n);
      for (std::size_t i = 0; i < n; ++i) bb[i] = bf16_from_f32(b[i]);
      float r = Ref::dot(a.data(), b.data(), n), g = Dyn::dot(a.data(), b.data(), n);
      CHECK(same_bits(&r, &g, 1));
      r = Ref::dot(a.data(), bb.data(), n), g = Dyn::dot(a.data(), bb.data(), n);
      CHECK(same_bits(&r, &g, 1));
      r = sum(a.data(), n), g = HwyDynamicTarget::sum(a.data(), n);
      CHECK(same_bits(&r, &g, 1));

      std::vector<float> y1 = b, y2 = b;
      Ref::axpy(0.37f, a.data(), y1.data(), n);
      Dyn::axpy(0.37f, a.data(), y2.data(), n);
      CHECK(same_bits(y1, y2));

      const std::vector<float> w = random_floats(n, rng, 0.3f);
      Ref::rms_norm(a.data(), w.data(), n, 1e-6f, y1.data());
      Dyn::rms_norm(a.data(), w.data(), n, 1e-6f, y2.data());
      CHECK(same_bits(y1, y2));

      const std::vector<float> u = random_floats(n, rng, 3.0f);
      y1 = u, y2 = u;
      Ref::gelu(y1.data(), n);
      Dyn::gelu(y2.data(), n);
      CHECK(same_bits(y1, y2));
      y1 = u, y2 = u;
      Ref::gelu_mul(y1.data(), b.data(), n);
      Dyn::gelu_mul(y2.data(), b.data(), n);
      CHECK(same_bits(y1, y2));
      y1 = b, y2 = b;
      Ref::add(a.data(), y1.data(), n);
      Dyn::add(a.data(), y2.data(), n);
      CHECK(same_bits(y1, y2));
      std::vector<float> scratch(n), bias = random_floats(n, rng);
      y1 = a, y2 = a;
      Ref::layer_norm(y1.data(), w.data(), bias.data(), n, 1e-6f, scratch.data());
      Dyn::layer_norm(y2.data(), w.data(), bias.data(), n, 1e-6f, scratch.data());
      CHECK(same_bits(y1, y2));
      if (n % 2 == 0) {  // RoPE on a head of n dims with angles of one position
        std::vector<float> cs(n / 2), sn(n / 2);
        for (std::size_t j = 0; j < n / 2; ++j) cs[j] = std::cos(0.37f * float(j)), sn[j] = std::sin(0.37f * float(j));
        y1 = a, y2 = a;
        Ref::rope(y1.data(), cs.data(), sn.data(), int(n));
        Dyn::rope(y2.data(), cs.data(), sn.data(), int(n));
        CHECK(same_bits(y1, y2));
      }
      y1 = random_floats(n, rng, 40.0f), y2 = y1;
      Ref::soft_cap(y1.data(), n, 30.0f);
      Dyn::soft_cap(y2.data(), n, 30.0f);
      CHECK(same_bits(y1, y2));
    }

    // The attention core over several spans of strided keys; head dims 256 (text), 72 (SigLIP), odd.
    // bf16_spans: every other span holds bf16 keys/values (the optional bf16 cross K/V mixed
    // with f32 self keys, as in the merged decoder attention).
    for (int d : {256, 72, 33, 8})
      for (int n_keys : {1, 3, 17, 300, 1100})  // 1100: several P·V key blocks
        for (bool bf16_spans : {false, true}) {
          INFO("attention d = " << d << ", keys = " << n_keys << (bf16_spans ? ", bf16 spans mixed in" : ""));
          const int kv_width = 2 * d;  // two kv heads per key row
          const std::vector<float> keys = random_floats(std::size_t(n_keys * kv_width), rng);
          const std::vector<float> values = random_floats(std::size_t(n_keys * kv_width), rng);
          std::vector<bf16_t> keys16, values16;
          for (float x : keys) keys16.push_back(bf16_from_f32(x));
          for (float x : values) values16.push_back(bf16_from_f32(x));
          std::vector<KeySpan> spans;
          for (int b = 0; b < n_keys;) {  // spans of 1..7 keys with gaps, second kv head
            const int len = std::min(n_keys - b, 1 + int(rng() % 7));
            const std::size_t at = std::size_t(b * kv_width + d);
            if (bf16_spans && spans.size() % 2 == 0)
              spans.push_back({nullptr, nullptr, std::size_t(kv_width), len, keys16.data() + at, values16.data() + at});
            else
              spans.push_back({keys.data() + at, values.data() + at, std::size_t(kv_width), len});
            b += len + int(rng() % 3);
          }
          int n_visible = 0;
          for (const KeySpan& sp : spans) n_visible += sp.count;
          // Scores of nq queries (a full GEMM tile, then a 4-row tile or single rows) against the keys.
          const int nq = n_keys % 2 ? 11 : 12;
          std::vector<std::vector<float>> qs;
          std::vector<const float*> qp;
          for (int i = 0; i < nq; ++i) qs.push_back(random_floats(std::size_t(d), rng, 0.2f));
          for (const auto& v : qs) qp.push_back(v.data());
          std::vector<float> s1(std::size_t(nq * n_visible)), s2 = s1;
          Ref::attention_scores(qp.data(), nq, spans.data(), int(spans.size()), d, s1.data());
          Dyn::attention_scores(qp.data(), nq, spans.data(), int(spans.size()), d, s2.data());
          CHECK(same_bits(s1, s2));
          if (!bf16_spans) {  // the same keys also as key panels (attention.hpp: HeadMajorKeysValues)
            std::vector<float> panels(std::size_t((n_keys + 15) / 16 * 16 * d), 0.0f);  // [⌈K/16⌉, d, 16]
            for (int c = 0; c < n_keys; ++c)
              for (int i = 0; i < d; ++i) panels[std::size_t((c / 16 * d + i) * 16 + c % 16)] = keys[std::size_t(c * kv_width + d + i)];
            std::vector<KeySpan> with_panels = spans;
            for (KeySpan& sp : with_panels) {
              sp.panels = panels.data();
              sp.panel_key = int((sp.k - keys.data() - d) / kv_width);
            }
            std::vector<float> s3(s1.size());
            Dyn::attention_scores(qp.data(), nq, with_panels.data(), int(with_panels.size()), d, s3.data());
            CHECK(same_bits(s1, s3));
          }
          const float cap30 = 30.0f;
          for (const float* cap : {static_cast<const float*>(nullptr), &cap30}) {
            // Weights of each query (softmax of its dots), then P·V for all nq at once.
            std::vector<float> w1 = s1, w2 = s1;
            for (int i = 0; i < nq; ++i) {
              Ref::attention_softmax(w1.data() + i * n_visible, n_visible, 0.0625f, cap);
              Dyn::attention_softmax(w2.data() + i * n_visible, n_visible, 0.0625f, cap);
            }
            CHECK(same_bits(w1, w2));
            std::vector<float> o1(std::size_t(nq * d)), o2 = o1;
            std::vector<const float*> wp;
            std::vector<float*> op1, op2;
            for (int i = 0; i < nq; ++i) {
              wp.push_back(w1.data() + i * n_visible);
              op1.push_back(o1.data() + i * d);
              op2.push_back(o2.data() + i * d);
            }
            Ref::attention_pv(wp.data(), op1.data(), nq, spans.data(), int(spans.size()), d);
            Dyn::attention_pv(wp.data(), op2.data(), nq, spans.data(), int(spans.size()), d);
            CHECK(same_bits(o1, o2));
          }
        }
  });
}

// Every float of [lo, hi] whose bit pattern is a multiple of `stride` apart (stride 1: all).
template <class Fn>
static void sweep_floats(float lo, float hi, uint32_t stride, Fn&& fn) {
  std::vector<float> chunk;
  chunk.reserve(1 << 16);
  auto flush = [&] {
    fn(chunk);
    chunk.clear();
  };
  // Non-negative floats ascend with their bits; negative ones descend.
  for (uint32_t b = 0x80000000u; b <= bits_from_f32(lo); b += stride) {
    chunk.push_back(f32_from_bits(b));
    if (chunk.size() == chunk.capacity()) flush();
    if (bits_from_f32(lo) - b < stride) break;
  }
  for (uint32_t b = 0; b <= bits_from_f32(hi); b += stride) {
    chunk.push_back(f32_from_bits(b));
    if (chunk.size() == chunk.capacity()) flush();
    if (bits_from_f32(hi) - b < stride) break;
  }
  flush();
}

// ulp distance of f from the exact value e (in units of f's precision at e).
static double ulp_error(float f, double e) {
  if (e == 0) return f == 0 ? 0 : INFINITY;
  const double ulp = std::max(std::ldexp(1.0, std::ilogb(e) - 23), std::ldexp(1.0, -149));  // subnormals: 2^-149
  return std::fabs(double(f) - e) / ulp;
}

TEST_CASE("matmul in oneDNN's bf16 order (hf-bf16): every target equals the scalar twin, decode and GEMM paths") {
  for_each_target([](const std::string&) {
    std::mt19937 rng(7);
    for (int M : {1, 2, 3, 4, 5, 17, 24, 33})           // 24: whole 12- and 6-row tiles only
      for (int K : {2, 64, 65, 640, 1100, 1537, 2050})  // 1537: an odd element closes the 2nd block
        for (int N : {1, 37, 70}) {
          INFO("M " << M << " K " << K << " N " << N);
          Tensor x(M, K);
          x.data = random_floats(std::size_t(M) * std::size_t(K), rng);
          for (float& v : x.data) v = round_to_bf16(v);  // activations of the policy are bf16 values
          std::vector<bf16_t> w(std::size_t(N) * std::size_t(K));
          const std::vector<float> wf = random_floats(w.size(), rng, 0.05f);
          for (std::size_t i = 0; i < w.size(); ++i) w[i] = bf16_from_f32(wf[i]);
          Tensor ref, got;
          Ref::matmul_onednn_order(x, WeightMatrix<bf16_t>{w.data(), N, K}, ref);
          Dyn::matmul_onednn_order(x, WeightMatrix<bf16_t>{w.data(), N, K}, got);
          CHECK(same_bits(ref.data, got.data));
          if (K == 640 || K == 1537) {  // a block size of its own (P·V over part of a key list)
            Ref::matmul_onednn_order(x, WeightMatrix<bf16_t>{w.data(), N, K}, ref, 1024);
            Dyn::matmul_onednn_order(x, WeightMatrix<bf16_t>{w.data(), N, K}, got, 1024);
            CHECK(same_bits(ref.data, got.data));
          }
        }
  });
}

#if defined(__x86_64__) && defined(__GNUC__)
// One VDPBF16PS: acc[l] += x[2l+1]·w[2l+1] + x[2l]·w[2l], 16 lanes (the instruction oneDNN's bf16
// GEMM runs on AVX512-BF16 CPUs, so HF's bf16 products are made of it).
__attribute__((target("avx512f,avx512bf16"))) static void vdpbf16ps(const uint16_t* x, const uint16_t* w, float* acc) {
  const __m512 c = _mm512_loadu_ps(acc);
  _mm512_storeu_ps(acc, _mm512_dpbf16_ps(c, (__m512bh)_mm512_loadu_si512(x), (__m512bh)_mm512_loadu_si512(w)));
}
#endif

// Issue 19: does the CPU's VDPBF16PS give the bits of dot_onednn_order's two fused steps? Measured:
// on normal numbers exactly (a 512-long dot equals dot_onednn_order on every output); with
// subnormals it reads subnormal inputs (and the accumulator) as zero and flushes each step's
// subnormal result to zero (DAZ + FTZ), which the fma emulation does not do — so they differ
// only where a product or partial sum falls below 2^-126. Runs only where the CPU has AVX512-BF16.
TEST_CASE("VDPBF16PS equals the fma pair of dot_onednn_order on normal numbers, with DAZ and FTZ on subnormals") {
#if defined(__x86_64__) && defined(__GNUC__)
  if (!__builtin_cpu_supports("avx512bf16")) {
    WARN("this CPU has no AVX512-BF16: nothing to measure");
    return;
  }
  std::mt19937 rng(19);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const auto bf16_bits = [](float v) { return uint16_t(bits_from_f32(round_to_bf16(v)) >> 16); };
  // Normal numbers: 64 dots of 512 pairs against dot_onednn_order (one block: kb = 1024).
  std::size_t differ = 0;
  for (int dot = 0; dot < 64; ++dot) {
    std::vector<uint16_t> xb(1024), wb(1024);
    std::vector<float> x(1024);
    std::vector<bf16_t> w(1024);
    for (int i = 0; i < 1024; ++i) {
      xb[std::size_t(i)] = bf16_bits(normal(rng));
      wb[std::size_t(i)] = bf16_bits(0.05f * normal(rng));
      x[std::size_t(i)] = f32_from_bits(uint32_t(xb[std::size_t(i)]) << 16);
      w[std::size_t(i)] = bf16_from_f32(f32_from_bits(uint32_t(wb[std::size_t(i)]) << 16));
    }
    // lane l of the instruction accumulates pairs l, l+16, ...: feed one dot's pairs through lane 0
    float acc[16] = {};
    for (int j = 0; j < 1024; j += 2) {
      uint16_t xs[32] = {}, ws[32] = {};
      xs[0] = xb[std::size_t(j)], xs[1] = xb[std::size_t(j + 1)], ws[0] = wb[std::size_t(j)], ws[1] = wb[std::size_t(j + 1)];
      vdpbf16ps(xs, ws, acc);
    }
    differ += bits_from_f32(acc[0]) != bits_from_f32(dot_onednn_order(x.data(), w.data(), 1024, 1024));
  }
  CHECK(differ == 0);
  // Subnormals: tiny factors and accumulators, one instruction per draw.
  const auto flush = [](float v) { return std::fabs(v) < 1.17549435e-38f ? std::copysign(0.0f, v) : v; };
  std::size_t same_ftz = 0, same_plain = 0, lanes = 0;
  for (int it = 0; it < 20000; ++it) {
    uint16_t xs[32], ws[32];
    float acc[16], start[16];
    for (int i = 0; i < 32; ++i) {
      xs[i] = bf16_bits(normal(rng) * (rng() % 4 == 0 ? 1e-19f : 1.0f) * (rng() % 8 == 0 ? 1e-20f : 1.0f));
      ws[i] = bf16_bits(normal(rng) * (rng() % 4 == 0 ? 1e-19f : 1.0f));
    }
    for (int l = 0; l < 16; ++l) acc[l] = start[l] = normal(rng) * 1e-37f * (rng() % 3 == 0 ? 1e-3f : 1.0f);
    vdpbf16ps(xs, ws, acc);
    for (int l = 0; l < 16; ++l) {
      const auto v = [&](int i, const uint16_t* p) { return f32_from_bits(uint32_t(p[i]) << 16); };
      float ftz = flush(start[l]);
      ftz = flush(std::fma(flush(v(2 * l + 1, xs)), flush(v(2 * l + 1, ws)), ftz));
      ftz = flush(std::fma(flush(v(2 * l, xs)), flush(v(2 * l, ws)), ftz));
      float plain = std::fma(v(2 * l + 1, xs), v(2 * l + 1, ws), start[l]);
      plain = std::fma(v(2 * l, xs), v(2 * l, ws), plain);
      same_ftz += bits_from_f32(ftz) == bits_from_f32(acc[l]);
      same_plain += bits_from_f32(plain) == bits_from_f32(acc[l]);
      ++lanes;
    }
  }
  std::printf("VDPBF16PS with subnormals: DAZ + FTZ fma pair %zu of %zu lanes, plain fma pair %zu\n", same_ftz, lanes, same_plain);
  CHECK(same_ftz == lanes);
  CHECK(same_plain < lanes);
#endif
}

TEST_CASE("canonical exp and tanh: every target equals the scalar twin, and their accuracy against double") {
  // CI sweeps every 61st float of the ranges (≈ 37 M values per function) in the Release run and
  // every 488th under AddressSanitizer (that run looks for memory errors: the full stride took
  // 443 s there); T5GEMMA2_FULL_SWEEP=1 sweeps all 2.2e9 of each. The twin is computed once per
  // chunk, then every target's row kernel is compared with it.
  const char* full = std::getenv("T5GEMMA2_FULL_SWEEP");
#if defined(__SANITIZE_ADDRESS__)
  constexpr uint32_t kCiStride = 61 * 8;
#else
  constexpr uint32_t kCiStride = 61;
#endif
  const uint32_t stride = full && std::string(full) == "1" ? 1 : kCiStride;
  const std::vector<std::string> targets = available_targets(/*every_compiled=*/true);
  std::map<std::string, std::size_t> mismatches;
  double exp_ulp = 0, tanh_ulp = 0;
  std::size_t swept = 0;
  std::vector<float> ref, got;
  auto sweep = [&](float lo, float hi, float (*twin)(float), void (*row)(const float*, std::size_t, float*),
                   double (*exact)(double), double& ulp, uint32_t every = 1) {
    sweep_floats(lo, hi, stride == 1 ? 1 : stride * every, [&](const std::vector<float>& x) {
      ref.resize(x.size()), got.resize(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) ref[i] = twin(x[i]);
      for (const std::string& t : targets) {
        select_target(t);
        row(x.data(), x.size(), got.data());
        mismatches[t] += !same_bits(ref, got);
      }
      swept += x.size();
      for (std::size_t i = 0; i < x.size(); i += 7) ulp = std::max(ulp, ulp_error(ref[i], exact(double(x[i]))));
    });
  };
  sweep(-104.0f, 88.7f, exp_canonical, HwyDynamicTarget::exp_row, [](double v) { return std::exp(v); }, exp_ulp);
  sweep(-20.0f, 20.0f, tanh_canonical, HwyDynamicTarget::tanh_row, [](double v) { return std::tanh(v); }, tanh_ulp);
  double sleef_ulp = 0;  // torch's exp (hf-bf16), a 4th of the exp sweep's floats in CI (time under ASan);
                         // past both ends of the range: the special values below
  sweep(-104.0f, 88.7f, exp_sleef, HwyDynamicTarget::exp_sleef_row, [](double v) { return std::exp(v); }, sleef_ulp, 4);
  for (const std::string& t : targets) {
    INFO("target " << t << ": chunks with differing bits");
    CHECK(mismatches[t] == 0);
  }
  // Special values: NaN, ±inf, ±0, the range ends.
  const std::vector<float> special{NAN,  -NAN,  INFINITY, -INFINITY, 0.0f,   -0.0f,       -104.0f, -104.00001f,
                                   88.72f, 89.0f, 1e-30f, 100.0f,    100.00001f, 88.7228f, -110.0f, 95.0f, 105.0f};
  for_each_target([&](const std::string&) {
    ref.resize(special.size()), got.resize(special.size());
    for (std::size_t i = 0; i < special.size(); ++i) ref[i] = exp_canonical(special[i]);
    HwyDynamicTarget::exp_row(special.data(), special.size(), got.data());
    CHECK(same_bits(ref, got));
    for (std::size_t i = 0; i < special.size(); ++i) ref[i] = tanh_canonical(special[i]);
    HwyDynamicTarget::tanh_row(special.data(), special.size(), got.data());
    CHECK(same_bits(ref, got));
    for (std::size_t i = 0; i < special.size(); ++i) ref[i] = exp_sleef(special[i]);
    HwyDynamicTarget::exp_sleef_row(special.data(), special.size(), got.data());
    CHECK(same_bits(ref, got));
  });
  select_target("best");
  INFO("floats swept: " << swept << ", max ulp: exp " << exp_ulp << ", tanh " << tanh_ulp);
  // |f − exact| in ulps: below 1.5 means at most 1 ulp from the correctly rounded value.
  CHECK(exp_ulp < 1.5);
  CHECK(tanh_ulp < 3.0);
  std::size_t differing = 0;
  for (const auto& [t, m] : mismatches) differing += m;
  CHECK(sleef_ulp < 1.5);
  WARN("canonical exp ≤ " << exp_ulp << " ulp, tanh ≤ " << tanh_ulp << " ulp, Sleef exp ≤ " << sleef_ulp << " ulp against double; " << swept << " floats × "
                          << targets.size() << " targets, " << differing << " chunks with differing bits");
}

// The hf-bf16 GELU (every step rounded to bf16) on every target against its scalar twin: every
// bf16 value (the policy's activations are bf16) and 100,000 f32 values that are not.
TEST_CASE("hf-bf16 GELU: every target equals gelu_tanh_bf16 on every bf16 input") {
  std::vector<float> x;
  for (uint32_t b = 0; b < 65536; ++b) x.push_back(f32_from_bits(b << 16));
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> any(-12.0f, 12.0f);
  for (int i = 0; i < 100000; ++i) x.push_back(any(rng));
  std::vector<float> ref(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = gelu_tanh_bf16(x[i]);
  for_each_target([&](const std::string&) {
    std::vector<float> got = x;
    HwyDynamicTarget::gelu_bf16(got.data(), got.size());
    CHECK(same_bits(ref, got));
  });
  select_target("best");
}

// x [rows, in] and w [out, in] of random values (w small, as weights are).
struct RandomMatmul {
  Tensor x;
  std::vector<float> w;
  WeightMatrix<float> matrix() const { return {w.data(), int(w.size() / std::size_t(x.cols)), x.cols}; }
};
RandomMatmul random_matmul(int rows, int out, int in, unsigned seed) {
  std::mt19937 rng(seed);
  RandomMatmul r{Tensor(rows, in), {}};
  r.x.data = random_floats(r.x.data.size(), rng);
  r.w = random_floats(std::size_t(out) * std::size_t(in), rng, 0.05f);
  return r;
}

TEST_CASE("thread counts 1, 2, 3 give the same bits (matmul split over outputs)") {
  // 19 rows: row tiles over weight rows; 133: the packed-panel GEMM (blocks of 48 outputs).
  for (const RandomMatmul& mm : {random_matmul(19, 2048, 640, 3), random_matmul(133, 300, 100, 4)}) {
    const Tensor& x = mm.x;
    const WeightMatrix<float> m = mm.matrix();
    INFO("rows " << x.rows);
    for_each_target([&](const std::string&) {
      std::vector<Tensor> outs;
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        Tensor y;
        Dyn::matmul(x, m, y);
        outs.push_back(std::move(y));
      }
      CHECK(same_bits(outs[0].data, outs[1].data));
      CHECK(same_bits(outs[0].data, outs[2].data));
    });
  }
  set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
}

// The packed GEMM's largest blocking: 8.4 MB of activations (M·K ≥ kPackedStreamFloats), so one
// pass serves 4 weight blocks of 48 outputs; 200 outputs = one full pass of 4 blocks and a pass of
// 1 block with 8 columns; K = 2050 in 2 chain parts (K mod 16 = 2); M mod 16 = 6. Vector targets
// (the others run the scalar twin itself), threads 1, 2, 3. The reference is computed once.
TEST_CASE("packed GEMM: full passes of 4 weight blocks in chain parts equal the scalar twin, any thread count") {
  const RandomMatmul mm = random_matmul(1030, 200, 2050, 6);
  const WeightMatrix<float> m = mm.matrix();
  Tensor ref;
  Ref::matmul(mm.x, m, ref);
  for_each_target([&](const std::string&) {
    if (!HwyDynamicTarget::reads_key_panels()) return;
    for (int threads : {1, 2, 3}) {
      INFO("threads " << threads);
      set_num_threads(threads);
      Tensor y;
      Dyn::matmul(mm.x, m, y);
      CHECK(same_bits(ref.data, y.data));
    }
  });
  set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
}

// A forked child has none of the parent's pool threads: after forget_thread_pool_after_fork() its
// parallel_for starts a pool of its own and gives the parent's bits (without it the child waits
// for the missing workers forever: the child here is killed after 20 s and the test fails).
TEST_CASE("after fork, forget_thread_pool_after_fork lets the child compute with threads") {
  const RandomMatmul mm = random_matmul(16, 1024, 640, 5);
  const Tensor& x = mm.x;
  const WeightMatrix<float> m = mm.matrix();
  set_num_threads(2);
  Tensor parent;
  Dyn::matmul(x, m, parent);  // the pool's workers exist now
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the child never returns into the test runner
    alarm(20);
    try {
      forget_thread_pool_after_fork();
      Tensor child;
      Dyn::matmul(x, m, child);
      _exit(same_bits(parent.data, child.data) ? 0 : 1);
    } catch (...) {
      _exit(2);
    }
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
}

// attention() works in blocks of 8 to 128 query rows (attention.hpp: query_rows_per_block, which
// depends on the rows, keys and threads): every row must get the bits it gets alone. 150 rows
// (blocks of 32 rows with 1 thread, 16 with 2, 8 with 3; the last block short), GQA 4:2, head_dim
// 72, 256 or 40 (a block's scores read key panels, a row alone reads key rows; 256 and 40 with
// the ring buffer's blocks and 1 or 3 threads only, for the sanitizer run's time), all keys or a window
// (spans that start and end inside a panel of 16 keys; 300 keys: the last panel partly padding),
// the keys as one block or as a ring buffer's two (rows 100.. then 0..99: the block's rows go
// through attention.hpp's head-major copy, a row alone reads the blocks in place), each target,
// every third row and the last checked alone; and rows
// whose scores hold a NaN or -inf (the vector max must skip NaN as std::max does).
TEST_CASE("attention in query blocks of any size gives every row the bits it gets alone") {
  std::mt19937 rng(11);
  const int rows = 150, keys = 300;
  for (const int d : {72, 256, 40}) {  // the key-panel kernel's two compiled head sizes and any other
  AttentionShape a;
  a.heads = 4;
  a.kv_heads = 2;
  a.head_dim = d;
  a.scale = 0.125f;
  Tensor q(rows, a.heads * d), k(keys, a.kv_heads * d), v(keys, a.kv_heads * d);
  for (Tensor* t : {&q, &k, &v}) t->data = random_floats(t->data.size(), rng, 0.5f);
  std::vector<int> checked_rows;  // every third row and the last
  for (int t = 0; t < rows; t += 3) checked_rows.push_back(t);
  checked_rows.push_back(rows - 1);
  for (const bool ring : {false, true})
  for (const int window : {0, 40}) {
    if (d != 72 && !ring) continue;  // the other head sizes: the ring buffer's two blocks only (sanitizer time)
    const std::vector<KeyValueBlock> blocks =
        ring ? std::vector<KeyValueBlock>{{&k, &v, 100, -1}, {&k, &v, 0, 100}} : std::vector<KeyValueBlock>{{&k, &v}};
    const auto visible = [&](int t, std::vector<KeyInterval>& out) {
      if (window == 0) out.push_back({0, keys});
      else out.push_back({std::max(0, t - window), std::min(keys, t + window)});
    };
    for_each_target([&](const std::string&) {
      for (int threads : {1, 2, 3}) {
        if (d != 72 && threads == 2) continue;
        set_num_threads(threads);
        const Tensor all = attention<HwyDynamicTarget>(q, blocks, visible, a);
        std::size_t differing = 0;
        for (int t : checked_rows) {
          Tensor one(1, q.cols);
          std::copy(q.row(t), q.row(t) + q.cols, one.row(0));
          const Tensor alone = attention<HwyDynamicTarget>(one, blocks, [&](int, std::vector<KeyInterval>& out) { visible(t, out); }, a);
          differing += !same_bits(all.row(t), alone.row(0), std::size_t(q.cols));
        }
        INFO("head_dim " << d << ", ring " << ring << ", window " << window << ", threads " << threads);
        CHECK(differing == 0);
      }
    });
  }
  }
  set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
  for_each_target([&](const std::string&) {
    std::vector<float> x = random_floats(100, rng, 3.0f), y;
    x[37] = NAN;
    x[70] = -INFINITY;
    y = x;
    Ref::attention_softmax(x.data(), 100, 0.5f, nullptr);
    Dyn::attention_softmax(y.data(), 100, 0.5f, nullptr);
    std::size_t differing = 0;  // a NaN anywhere makes every weight NaN: equal if both are NaN
    for (std::size_t i = 0; i < x.size(); ++i) differing += !(std::isnan(x[i]) ? std::isnan(y[i]) : same_bits(&x[i], &y[i], 1));
    CHECK(differing == 0);
    x = random_floats(100, rng, 3.0f);
    x[5] = x[64] = -INFINITY;
    y = x;
    Ref::attention_softmax(x.data(), 100, 0.5f, nullptr);
    Dyn::attention_softmax(y.data(), 100, 0.5f, nullptr);
    CHECK(same_bits(x, y));
  });
}

// Whole models: every tensor of the golden cases (text, images, generation), bit-identical
// between the scalar reference and each target, with 1, 2 and 3 threads, f32 and bf16 weights.
template <class W>
static void check_model_on_targets(const std::string& dir) {
  const SafetensorsFile inputs(dir + "/golden.safetensors");
  const Model<RuntimeDims, W, ScalarTarget> reference(dir);
  const Model<RuntimeDims, W, HwyDynamicTarget> simd(dir);
  auto run = [&](const auto& model) {
    ArrayMap out;
    for (const std::string prefix : {"text.", "mm."})
      if (inputs.find(prefix + "encoder_input_ids")) run_case(model, inputs, prefix, out);
    if (inputs.find("text.encoder_input_ids")) run_generation(model, inputs, "text.", "gen.", 6, out);
    return out;
  };
  set_num_threads(1);
  const ArrayMap want = run(reference);
  REQUIRE(want.size() > 10);
  for_each_target([&](const std::string&) {
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      const ArrayMap got = run(simd);
      REQUIRE(got.size() == want.size());
      std::size_t differing = 0;
      for (const auto& [name, a] : want) {
        const Array& b = got.at(name);
        const bool same = a.f32 == b.f32 ? same_bits(a.f32, b.f32) : false;
        if (!(same && a.u8 == b.u8 && a.i64 == b.i64)) {
          ++differing;
          UNSCOPED_INFO("differs: " << name << " (threads " << threads << ")");
        }
      }
      CHECK(differing == 0);
    }
  });
  set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
}

TEST_CASE("tiny_a end to end (text, image, generation): every target == scalar reference, bit for bit") {
  check_model_on_targets<float>(test_data("tiny_a"));
  check_model_on_targets<bf16_t>(test_data("tiny_a"));
}

TEST_CASE("tiny_b end to end (text, image, generation): every target == scalar reference, bit for bit") {
  check_model_on_targets<float>(test_data("tiny_b"));
  check_model_on_targets<bf16_t>(test_data("tiny_b"));
}
