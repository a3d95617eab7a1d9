// t5gemma2 — the precision axis: where activations are rounded.
//
//   Model<Dims, W, Target, Precision>
//     F32     (default) the reference: activations f32 throughout; W = float or bf16_t
//             ("f32" and "bf16-weights" in the tools)
//     HfBf16  what transformers computes after model.to(torch.bfloat16) on the CPU ("hf-bf16"):
//             W = bf16_t, every parameter bf16, and every activation rounded to bf16 exactly
//             where PyTorch's eager bf16 path rounds (docs/numerics.md, "HF bf16 parity")
//
// A policy does not touch the layer code. It picks the KERNEL SET the model runs on:
// F32 runs Target itself; HfBf16 runs HfBf16Kernels<Target>, which performs each of Target's
// kernels and then rounds its outputs to bf16 — or, for the ops PyTorch evaluates step by step in
// bf16 (GELU-tanh, RoPE, soft-capping), rounds after every step. The transcendental parts (tanh)
// and every reduction come from Target's canonical kernels and the rounding steps are plain
// elementwise IEEE operations compiled once, so the HfBf16 bits are the same on every SIMD target.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <type_traits>
#include <vector>

#include "t5gemma2/ops/math.hpp"
#include "t5gemma2/ops/scalar.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct F32 {
  static constexpr const char* name = "f32";
};
struct HfBf16 {
  static constexpr const char* name = "hf-bf16";
};

// Rounds n values in place to the nearest bf16 (ties to even).
inline void round_to_bf16(float* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) x[i] = round_to_bf16(x[i]);
}

// ---- torch 1.13's LayerNorm on bf16 tensors ----------------------------------------------
//
// torch 1.13 (the CPU build the HF oracle runs, AVX2 kernels) computes the mean and variance of a
// bf16 row with its generic Welford routine (ATen/native/cpu/moments_utils.h) instantiated for
// BFloat16: every + − × ÷ rounds to bf16. The row is read as 16-lane vectors in chunks of 16
// vectors; each chunk runs Welford per lane, chunk results merge into a binary cascade, lanes
// merge last, elements past the last whole vector run scalar Welford first. Then
//   rstd = bf16(1 / bf16(√ bf16(var + eps))),   b = bf16(−rstd · mean)
//   y    = bf16(((x · rstd) + b) · w + β)       (f32 steps inside)
// Measured against torch.native_layer_norm on 600 rows of widths 32, 128 and 1,152 (mean, rstd
// and y equal on every value), and by the image features of the tiny and demo goldens.
namespace torch113 {

inline float r(float v) { return round_to_bf16(v); }

// Merges (m0_add, m1_add, m2_add) into (m0, m1, m2): count, mean, sum of squared deviations.
inline void add_moments(int64_t m0_add, float m1_add, float m2_add, int64_t& m0, float& m1, float& m2) {
  const int64_t n = m0 + m0_add;
  const float c = n == 0 ? 0.0f : r(r(float(m0_add)) / r(float(n)));
  const float delta = r(m1_add - m1);
  m1 = r(m1 + r(c * delta));
  m2 = r(m2 + r(m2_add + r(r(r(delta * delta) * c) * r(float(m0)))));
  m0 = n;
}

struct Lanes {
  static constexpr int kWidth = 16;  // Vectorized<BFloat16> on AVX2
  float m1[kWidth] = {}, m2[kWidth] = {};
  int64_t m0 = 0;
};

// Lane-wise add_moments (the count is shared by the lanes).
inline void add_moments(int64_t m0_add, const float* m1_add, const float* m2_add, Lanes& into) {
  const int64_t n = into.m0 + m0_add;
  const float c = n == 0 ? 0.0f : r(r(float(m0_add)) / r(float(n)));
  for (int l = 0; l < Lanes::kWidth; ++l) {
    const float delta = r(m1_add[l] - into.m1[l]);
    into.m1[l] = r(into.m1[l] + r(c * delta));
    into.m2[l] = r(into.m2[l] + r(m2_add[l] + r(r(r(delta * delta) * c) * r(float(into.m0)))));
  }
  into.m0 = n;
}

// (mean, biased variance) of x [n], bf16 values.
inline std::pair<float, float> row_moments(const float* x, std::size_t n_elems) {
  constexpr int64_t kChunk = 16, L = Lanes::kWidth;
  const int64_t N = int64_t(n_elems), n = N / L, m = (n + kChunk - 1) / kChunk;
  int depth = 0;
  while ((int64_t(1) << depth) < m) ++depth;  // ⌈log2 m⌉
  std::vector<Lanes> stack(std::size_t(std::max(depth, 1)));
  for (int64_t i = 0; i < m; ++i) {
    const int64_t count = std::min(kChunk, n - i * kChunk);
    float m1[L] = {}, m2[L] = {};
    for (int64_t j = 0; j < count; ++j) {
      const float* v = x + (i * kChunk + j) * L;
      const float c = r(1.0f / r(float(j + 1)));
      for (int l = 0; l < L; ++l) {
        const float delta = r(v[l] - m1[l]);
        m1[l] = r(m1[l] + r(delta * c));
        m2[l] = r(m2[l] + r(delta * r(v[l] - m1[l])));
      }
    }
    add_moments(count, m1, m2, stack[0]);
    int64_t mask = i + 1;
    for (int j = 1; j < depth && (mask & 1) == 0; ++j, mask >>= 1) {
      add_moments(stack[std::size_t(j - 1)].m0, stack[std::size_t(j - 1)].m1, stack[std::size_t(j - 1)].m2, stack[std::size_t(j)]);
      stack[std::size_t(j - 1)] = Lanes{};
    }
  }
  for (int j = 1; j < depth; ++j) add_moments(stack[std::size_t(j)].m0, stack[std::size_t(j)].m1, stack[std::size_t(j)].m2, stack[0]);
  int64_t m0 = 0;
  float m1 = 0, m2 = 0;
  for (int64_t i = n * L; i < N; ++i) {
    const float delta = r(x[i] - m1);
    ++m0;
    m1 = r(m1 + r(delta / r(float(m0))));
    m2 = r(m2 + r(delta * r(x[i] - m1)));
  }
  for (int l = 0; l < L; ++l) add_moments(n, stack[0].m1[l], stack[0].m2[l], m0, m1, m2);
  return {m1, r(m2 / r(float(N)))};
}

// Σ load(i) for i < n as torch 1.13's float sum over a contiguous last dimension adds
// (SumKernel.cpp, AVX2): 8-lane vectors; the vectors in groups of 4 side by side (ILP), the
// groups summed in a 4-level cascade of 16 groups per level step; leftover vectors into group
// 0; the 4 partial vectors added left to right; leftover elements summed, then the 8 lanes
// added to them in order. Equal to torch.sum and .pow(2).mean(-1) on 3,300 + 3,000 rows of 16 to
// 5,000 elements (tools/probe_torch_bf16.py).
template <class Load>
inline float sum_f32(std::size_t n, Load&& load) {
  constexpr std::size_t L = 8, kIlp = 4, kLevels = 4;
  const std::size_t vectors = n / L, groups = vectors / kIlp;
  std::size_t log2_groups = 0;
  while ((std::size_t(1) << log2_groups) < groups) ++log2_groups;
  const std::size_t level_power = std::max<std::size_t>(4, log2_groups / kLevels), level_step = std::size_t(1) << level_power;
  float acc[kLevels][kIlp * L] = {};
  auto add_group = [&](float* into, std::size_t g) {
    for (std::size_t k = 0; k < kIlp * L; ++k) into[k] += load(g * kIlp * L + k);
  };
  std::size_t g = 0;
  while (g + level_step <= groups) {
    for (std::size_t j = 0; j < level_step; ++j) add_group(acc[0], g + j);
    g += level_step;
    for (std::size_t j = 1; j < kLevels; ++j) {
      for (std::size_t k = 0; k < kIlp * L; ++k) {
        acc[j][k] += acc[j - 1][k];
        acc[j - 1][k] = 0;
      }
      if ((g & ((level_step - 1) << (j * level_power))) != 0) break;
    }
  }
  for (; g < groups; ++g) add_group(acc[0], g);
  for (std::size_t j = 1; j < kLevels; ++j)
    for (std::size_t k = 0; k < kIlp * L; ++k) acc[0][k] += acc[j][k];
  float* part = acc[0];  // 4 vectors of 8 lanes
  for (std::size_t v = groups * kIlp; v < vectors; ++v)
    for (std::size_t l = 0; l < L; ++l) part[l] += load(v * L + l);
  for (std::size_t k = 1; k < kIlp; ++k)
    for (std::size_t l = 0; l < L; ++l) part[l] += part[k * L + l];
  float total = 0;
  for (std::size_t i = vectors * L; i < n; ++i) total += load(i);
  for (std::size_t l = 0; l < L; ++l) total += part[l];
  return total;
}

// e^x as torch 1.13's float kernels compute it (Sleef's expf, u10 variant, with FMA): the same
// reduction and polynomial as exp_canonical, but q = rint(x·log2 e) and the polynomial in
// Horner's order. Equal to torch.exp on 100,000 of 100,000 values (tools/probe_torch_bf16.py).
inline float exp_sleef(float x) {
  if (x < -104.0f) return 0.0f;
  if (x > 100.0f) return INFINITY;
  const int32_t q = int32_t(std::nearbyint(x * math_detail::kLog2e));
  const float qf = float(q);
  float s = std::fma(qf, math_detail::kLn2Hi, x);
  s = std::fma(qf, math_detail::kLn2Lo, s);
  float u = math_detail::kP5;
  for (float c : {math_detail::kP4, math_detail::kP3, math_detail::kP2, math_detail::kP1, math_detail::kP0}) u = std::fma(u, s, c);
  u = 1.0f + std::fma(s * s, u, s);
  return math_detail::scale_by_pow2(u, q);
}

// torch.softmax(x, dim=-1, dtype=float32) of one row of `total` scores of which only the n at
// `positions` (ascending) are visible (the others are masked: exp gives exactly 0). e = exp(x −
// max); the sum runs in torch's vector order — 8 lanes (AVX2), lane = position mod 8, lanes then
// folded 4-2-1 (a row shorter than 8: left to right) — and p = e · (1 / sum).
inline void softmax_row(float* x, int n, const int* positions, int total) {
  if (n == 0) return;
  float max_score = -INFINITY;
  for (int i = 0; i < n; ++i) max_score = std::max(max_score, x[i]);
  float lane[8] = {};
  for (int i = 0; i < n; ++i) {
    x[i] = exp_sleef(x[i] - max_score);
    lane[positions[i] % 8] += x[i];
  }
  float sum = lane[0];
  if (total < 8) {
    for (int l = 1; l < total; ++l) sum += lane[l];
  } else {
    for (int width = 4; width >= 1; width /= 2)
      for (int l = 0; l < width; ++l) lane[l] += lane[l + width];
    sum = lane[0];
  }
  const float inv = 1.0f / sum;
  for (int i = 0; i < n; ++i) x[i] = x[i] * inv;
}

}  // namespace torch113

inline void layer_norm_torch113_bf16(float* x, const float* weight, const float* bias, std::size_t n, float eps) {
  using torch113::r;
  const auto [mean, var] = torch113::row_moments(x, n);
  const float rstd = r(1.0f / r(std::sqrt(r(var + eps))));
  const float shift = r(-rstd * mean);
  for (std::size_t i = 0; i < n; ++i) x[i] = r(((x[i] * rstd) + shift) * weight[i] + bias[i]);
}

// The kernels of Target with PyTorch's bf16 rounding points (see the header comment).
template <class Target>
struct HfBf16Kernels {
  using is_kernel_set = void;
  using Base = Ops<Target>;

  static const char* name() { return Base::name(); }

  // Values just computed become activations: rounded to bf16 (see store_activations below).
  static void to_activation(float* x, std::size_t n) { round_to_bf16(x, n); }

  // Linear layers: bf16 × bf16 products summed in f32 (oneDNN's bf16 GEMM accumulates in f32),
  // the sum rounded once: y = round(x · Wᵀ).
  template <class W>
  static void matmul(const Tensor& x, const WeightMatrix<W>& w, Tensor& y) {
    static_assert(std::is_same_v<W, bf16_t>, "the hf-bf16 policy runs on bf16 weights");
    sums_in_onednn_order(x, w, y);
    round_to_bf16(y.data.data(), y.data.size());
  }

  // Linear with bias (SigLIP): oneDNN adds the bias to the f32 sum and rounds once.
  template <class W>
  static void matmul_bias(const Tensor& x, const WeightMatrix<W>& w, const WeightVector& bias, Tensor& y) {
    static_assert(std::is_same_v<W, bf16_t>, "the hf-bf16 policy runs on bf16 weights");
    sums_in_onednn_order(x, w, y);
    for (int r = 0; r < y.rows; ++r)
      for (int o = 0; o < y.cols; ++o) y.row(r)[o] = round_to_bf16(y.row(r)[o] + bias[std::size_t(o)]);
  }

  // y = x · Wᵀ in f32, every dot in oneDNN's order (ops/scalar.hpp: dot_onednn_order), not rounded.
  static void sums_in_onednn_order(const Tensor& x, const WeightMatrix<bf16_t>& w, Tensor& y) {
    Base::matmul_onednn_order(x, w, y);
  }

  // Gemma's RMSNorm as HF writes it: x.float().pow(2).mean(-1) (torch's sum order, then ÷ n),
  // x · rsqrt(· + eps) · (1 + w) in f32, cast back to bf16.
  static void rms_norm(const float* x, const float* weight, std::size_t n, float eps, float* y) {
    const float mean_square = torch113::sum_f32(n, [&](std::size_t i) { return x[i] * x[i]; }) / float(n);
    const float inv_rms = 1.0f / std::sqrt(mean_square + eps);
    for (std::size_t i = 0; i < n; ++i) y[i] = round_to_bf16((x[i] * inv_rms) * (1.0f + weight[i]));
  }

  // Residual adds (and biases): a + b in f32, rounded.
  static void add(const float* x, float* y, std::size_t n) {
    Base::add(x, y, n);
    round_to_bf16(y, n);
  }

  // SigLIP's LayerNorm as torch 1.13 computes it on bf16 rows (layer_norm_torch113_bf16 below).
  static void layer_norm(float* x, const float* weight, const float* bias, std::size_t n, float eps, float* /*centered*/) {
    layer_norm_torch113_bf16(x, weight, bias, n, eps);
  }

  // RoPE as HF writes it, q·cos + rotate_half(q)·sin on bf16 tensors: cos and sin are computed
  // in f32 and cast to bf16; each product and the sum is rounded.
  static void rope(float* v, const float* cos, const float* sin, int head_dim) {
    const int half = head_dim / 2;
    for (int j = 0; j < half; ++j) {
      const float c = round_to_bf16(cos[j]), s = round_to_bf16(sin[j]);
      const float x1 = v[j], x2 = v[j + half];
      v[j] = round_to_bf16(round_to_bf16(x1 * c) - round_to_bf16(x2 * s));
      v[j + half] = round_to_bf16(round_to_bf16(x2 * c) + round_to_bf16(x1 * s));
    }
  }

  // GELU-tanh as PyTorch evaluates it on bf16 tensors: constants cast to bf16, every step rounded
  //   t = x·x, t·x, κ·t, x + t, β·t;  th = tanh(t);  (0.5·x) · (1 + th)
  // (tools/probe_torch_bf16.py: equal to torch 1.13 on 400,000 of 400,000 inputs).
  static void gelu(float* x, std::size_t n) {
    const float kappa = round_to_bf16(0.044715f), beta = round_to_bf16(0.7978845608028654f);
    float inner[kBlock], th[kBlock];
    for (std::size_t i0 = 0; i0 < n; i0 += kBlock) {
      const std::size_t m = std::min(kBlock, n - i0);
      for (std::size_t i = 0; i < m; ++i) {
        const float u = x[i0 + i];
        float t = round_to_bf16(u * u);
        t = round_to_bf16(t * u);
        t = round_to_bf16(kappa * t);
        t = round_to_bf16(u + t);
        inner[i] = round_to_bf16(beta * t);
      }
      Base::tanh_row(inner, m, th);
      for (std::size_t i = 0; i < m; ++i) {
        const float u = x[i0 + i];
        x[i0 + i] = round_to_bf16(round_to_bf16(0.5f * u) * round_to_bf16(1.0f + round_to_bf16(th[i])));
      }
    }
  }

  // GeGLU: gelu(gate) as above, times up, rounded.
  static void gelu_mul(float* gate, const float* up, std::size_t n) {
    gelu(gate, n);
    for (std::size_t i = 0; i < n; ++i) gate[i] = round_to_bf16(gate[i] * up[i]);
  }

  // Final logit soft-capping, HF's three bf16 ops: x / cap, tanh, · cap (cap cast to bf16).
  static void soft_cap(float* x, std::size_t n, float cap) {
    const float c = round_to_bf16(cap);
    float t[kBlock];
    for (std::size_t i0 = 0; i0 < n; i0 += kBlock) {
      const std::size_t m = std::min(kBlock, n - i0);
      for (std::size_t i = 0; i < m; ++i) x[i0 + i] = round_to_bf16(x[i0 + i] / c);
      Base::tanh_row(x + i0, m, t);
      for (std::size_t i = 0; i < m; ++i) x[i0 + i] = round_to_bf16(round_to_bf16(t[i]) * c);
    }
  }

  // Which kernel torch 1.13 runs a bf16 batched matmul of `batch` products [rows, contraction] ×
  // [contraction, cols] on (aten/src/ATen/native/LinearAlgebra.cpp: bmm_out_or_baddbmm_,
  // mkldnn/Matmul.cpp: checksize), for ONE sequence (HF batch size 1; batch = query heads):
  //   batch · rows · contraction · cols > 16³   oneDNN: f32 sums in dot_onednn_order's order
  //   contraction · rows · cols < 400           a plain loop: running sum kept in bf16
  //   otherwise                                 torch's own gemm: q·kᵀ (kᵀ a transposed view)
  //                                             with an f32 sum in k order, P·V with a bf16
  //                                             running sum
  // ("running sum in bf16": every product and every partial sum rounded, in contraction order.)
  // HF runs with several sequences in a batch choose differently for the small products (the
  // gemm's q·kᵀ then also keeps a bf16 running sum): this policy reproduces one sequence at a
  // time. Measured on HF's own attention calls during development; the tiny goldens' generation
  // steps go through all three cases.
  enum class Bmm { kOneDnn, kBf16Running, kGemmF32 };
  static Bmm bmm_kind(long batch, long rows, long contraction, long cols, bool transposed_b) {
    if (batch * rows * contraction * cols > 16 * 16 * 16) return Bmm::kOneDnn;
    if (contraction * rows * cols < 400 || !transposed_b) return Bmm::kBf16Running;
    return Bmm::kGemmF32;
  }
  template <class B>
  static float dot_f32_in_order(const float* x, const B* w, int k) {
    float acc = 0;
    for (int j = 0; j < k; ++j) acc = std::fma(x[j], to_f32(w[j]), acc);
    return acc;
  }
  template <class B>
  static float dot_bf16_running(const float* x, const B* w, int k) {
    float acc = 0;
    for (int j = 0; j < k; ++j) acc = round_to_bf16(acc + round_to_bf16(x[j] * to_f32(w[j])));
    return acc;
  }

  // Attention scores: matmul(q, kᵀ) on bf16 tensors, each dot in the order of the kernel torch
  // picks (bmm_kind), rounded.
  static void attention_scores(const float* const* queries, int nq, const KeySpan* spans, int n_spans, int d, float* scores) {
    if (n_spans == 0) return;
    int n = 0;
    for (int s = 0; s < n_spans; ++s) n += spans[s].count;
    const AttentionCall& call = *spans[0].call;
    const Bmm kind = bmm_kind(call.heads, call.query_rows, d, call.keys, /*transposed_b=*/true);
    if (kind == Bmm::kOneDnn) {
      // One matmul in oneDNN's order on Target's kernel: queries [nq, d] · keys [n, d]ᵀ.
      Tensor q(nq, d), sums;
      for (int i = 0; i < nq; ++i) std::copy(queries[i], queries[i] + d, q.row(i));
      std::vector<bf16_t> keys(std::size_t(n) * std::size_t(d));  // bf16 values already: exact
      for (int s = 0, c = 0; s < n_spans; ++s)
        for (int j = 0; j < spans[s].count; ++j, ++c)
          for (int e = 0; e < d; ++e) {
            const std::size_t at = std::size_t(j) * spans[s].stride + std::size_t(e);
            keys[std::size_t(c) * std::size_t(d) + std::size_t(e)] =
                spans[s].k_bf16 ? spans[s].k_bf16[at] : bf16_from_f32(spans[s].k[at]);
          }
      Base::matmul_onednn_order(q, WeightMatrix<bf16_t>{keys.data(), n, d}, sums);
      std::copy(sums.data.begin(), sums.data.end(), scores);
    } else {
      for (int i = 0; i < nq; ++i) {
        float* out = scores + std::size_t(i) * std::size_t(n);
        for (int s = 0; s < n_spans; ++s)
          for (int j = 0; j < spans[s].count; ++j) {
            const std::size_t at = std::size_t(j) * spans[s].stride;
            auto dot = [&](const auto* k) {
              return kind == Bmm::kBf16Running ? dot_bf16_running(queries[i], k, d) : dot_f32_in_order(queries[i], k, d);
            };
            *out++ = spans[s].k_bf16 ? dot(spans[s].k_bf16 + at) : dot(spans[s].k + at);
          }
      }
    }
    round_to_bf16(scores, std::size_t(nq) * std::size_t(n));
  }

  // `scores * scaling` (the Python scalar cast to bf16 first, product rounded), optional
  // soft-capping in bf16 steps, then softmax(dtype=float32) of the widened row as torch computes
  // it (torch113::softmax_row: needs where the keys sit in the whole key list), cast back.
  static void attention_softmax_at(float* dots, int n, float scale, const float* softcap, const int* positions, int total) {
    const float s = round_to_bf16(scale);
    for (int i = 0; i < n; ++i) dots[i] = round_to_bf16(dots[i] * s);
    if (softcap) soft_cap(dots, std::size_t(n), *softcap);
    torch113::softmax_row(dots, n, positions, total);
    round_to_bf16(dots, std::size_t(n));
  }

  // matmul(p, v) on bf16 tensors: HF multiplies the weights of the WHOLE key list (masked keys
  // with weight 0) by the values. Small products (bmm_kind): torch's loop, a bf16 running sum in
  // key order. Otherwise the sum runs over key indices in oneDNN's order — blocks of
  // onednn_k_block(total keys), pairs (2j+1, 2j) inside a block. Keys outside the spans add
  // exact zeros and are skipped. Rounded at the end.
  static void attention_pv(const float* const* weights, float* const* outs, int nq, const KeySpan* spans, int n_spans, int d) {
    // The visible keys in summation order: (span, row in span, weight column).
    struct Key {
      int span, row, column;
    };
    std::vector<Key> order;
    const int kb = n_spans ? onednn_k_block(spans[0].call->keys) : 1;
    auto index = [&](const Key& k) { return spans[k.span].first + k.row; };
    for (int s = 0, c = 0; s < n_spans; ++s)
      for (int j = 0; j < spans[s].count; ++j) order.push_back({s, j, c++});
    for (std::size_t n = 0; n + 1 < order.size(); ++n) {  // an even key and its odd partner: partner first
      const int key = index(order[n]);
      if (key % 2 == 0 && index(order[n + 1]) == key + 1 && (key + 1) / kb == key / kb) {
        std::swap(order[n], order[n + 1]);
        ++n;
      }
    }
    std::vector<float> acc(static_cast<std::size_t>(d)), widened(static_cast<std::size_t>(d));
    if (n_spans > 0 && bmm_kind(spans[0].call->heads, spans[0].call->query_rows, spans[0].call->keys, d, false) != Bmm::kOneDnn) {
      // torch's plain loop or its own gemm: running sums in bf16, key order
      for (int i = 0; i < nq; ++i) {
        std::fill(outs[i], outs[i] + d, 0.0f);
        for (int s = 0, c = 0; s < n_spans; ++s)
          for (int j = 0; j < spans[s].count; ++j, ++c) {
            const std::size_t at = std::size_t(j) * spans[s].stride;
            for (int e = 0; e < d; ++e) {
              const float v = spans[s].v_bf16 ? to_f32(spans[s].v_bf16[at + std::size_t(e)]) : spans[s].v[at + std::size_t(e)];
              outs[i][e] = round_to_bf16(outs[i][e] + round_to_bf16(weights[i][c] * v));
            }
          }
      }
      return;
    }
    for (int i = 0; i < nq; ++i) {
      float* out = outs[i];
      std::fill(out, out + d, 0.0f);
      bool started = false;  // out holds the sum of the finished blocks
      auto finish_block = [&] {
        if (started) Base::add(acc.data(), out, std::size_t(d));
        else std::copy(acc.begin(), acc.end(), out);
        started = true;
      };
      int block = -1;
      for (const Key& k : order) {
        if (index(k) / kb != block) {
          if (block >= 0) finish_block();
          block = index(k) / kb;
          std::fill(acc.begin(), acc.end(), 0.0f);
        }
        const KeySpan& sp = spans[k.span];
        const std::size_t at = std::size_t(k.row) * sp.stride;
        const float* v = sp.v + (sp.v ? at : 0);
        if (sp.v_bf16) {  // bf16-stored values (the bf16 cross K/V option): widened exactly
          for (int e = 0; e < d; ++e) widened[std::size_t(e)] = to_f32(sp.v_bf16[at + std::size_t(e)]);
          v = widened.data();
        }
        Base::axpy(weights[i][k.column], v, acc.data(), std::size_t(d));
      }
      if (block >= 0) finish_block();
      round_to_bf16(out, std::size_t(d));
    }
  }

  // Unchanged: the canonical building blocks.
  template <class B>
  static float dot(const float* a, const B* b, std::size_t n) {
    return Base::dot(a, b, n);
  }
  static void tanh_row(const float* x, std::size_t n, float* y) { Base::tanh_row(x, n, y); }

 private:
  static constexpr std::size_t kBlock = 256;
};

// The kernel set a model with this policy runs on.
template <class Target, class Precision>
struct PrecisionKernelsOf;
template <class Target>
struct PrecisionKernelsOf<Target, F32> {
  using type = Target;
};
template <class Target>
struct PrecisionKernelsOf<Target, HfBf16> {
  using type = HfBf16Kernels<Target>;
};
template <class Target, class Precision>
using PrecisionKernels = typename PrecisionKernelsOf<Target, Precision>::type;

// y = x · Wᵀ + b (SigLIP's Linear layers, the patch embedding): a kernel set that rounds
// activations adds the bias before rounding (matmul_bias), the others add it to the f32 product.
template <class Target, class W>
inline void matmul_bias(const Tensor& x, const WeightMatrix<W>& w, const WeightVector& bias, Tensor& y) {
  if constexpr (requires { Ops<Target>::matmul_bias(x, w, bias, y); }) {
    Ops<Target>::matmul_bias(x, w, bias, y);
  } else {
    Ops<Target>::matmul(x, w, y);
    for (int r = 0; r < y.rows; ++r) Ops<Target>::add(bias.data(), y.row(r), std::size_t(y.cols));
  }
}

// Values computed outside a kernel (the scaled embedding, pooled image patches) become
// activations: rounded by a policy that stores activations as bf16, untouched otherwise.
template <class Target>
inline void store_activations(float* x, std::size_t n) {
  if constexpr (requires { Ops<Target>::to_activation(x, n); }) Ops<Target>::to_activation(x, n);
}
template <class Target>
inline void store_activations(Tensor& x) {
  store_activations<Target>(x.data.data(), x.data.size());
}

T5GEMMA2_NAMESPACE_END
