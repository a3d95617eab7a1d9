// t5gemma2 — PyTorch 1.13's CPU kernels on bf16 tensors, emulated operation by operation: the
// reductions, exp and softmax of the HfBf16 precision policy (hf_bf16/kernels.hpp). Nothing in
// the F32 reference uses this file. Each function says which torch kernel it reproduces and how
// it was measured (tools/probe_torch_bf16.py).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "t5gemma2/numeric_types.hpp"
#include "t5gemma2/ops/math.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// ---- torch 1.13's LayerNorm on bf16 tensors ----------------------------------------------
//
// torch 1.13 (the CPU build the HF oracle runs, AVX2 kernels) computes the mean and variance of a
// bf16 row with its generic Welford routine (ATen/native/cpu/moments_utils.h) instantiated for
// BFloat16: every + − × ÷ rounds to bf16. The row is read as 16-lane vectors in chunks of 16
// vectors; each chunk runs Welford per lane, chunk results merge into a binary cascade, lanes
// merge last, elements past the last whole vector run scalar Welford first. Then
//   rstd = bf16(1 / bf16(√ bf16(var + eps))),   b = bf16(−rstd · mean)
//   y    = bf16(fma(x · rstd + b, w, β))        (f32 steps inside)
// The last step is ONE fused multiply-add: torch's AVX2 kernel writes (x·rstd + b)·w + β and its
// compiler contracts it to FMAs (x·rstd is exact: both factors are bf16). Measured against
// torch.native_layer_norm on 600 rows of widths 32, 128 and 1,152 (mean, rstd and y equal on
// every value) and on 40,000 rows of 1,152 (unfused, 26 of 46 M values differ; fused, none), and
// by the image features of the tiny and demo goldens and the full-size SigLIP's 55 norms.
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

// torch 1.13's cascade sum (SumKernel.cpp: multi_row_sum): items 0..n-1, each W values wide, are added
// in order into level 0 of the accumulator; after every 2^p items (p = max(4, ⌈log2 n⌉ / 4))
// level 0 is added into level 1 and cleared, and so on up while the item count is a multiple
// of 2^(p·level); the 4 levels are added into level 0 at the end.
template <std::size_t W, class AddItem>
inline void cascade_sum(std::size_t n, float (&acc)[4][W], AddItem&& add_item) {
  constexpr std::size_t kLevels = 4;
  std::size_t log2_n = 0;
  while ((std::size_t(1) << log2_n) < n) ++log2_n;
  const std::size_t level_power = std::max<std::size_t>(4, log2_n / kLevels), level_step = std::size_t(1) << level_power;
  std::size_t i = 0;
  while (i + level_step <= n) {
    for (std::size_t j = 0; j < level_step; ++j) add_item(acc[0], i + j);
    i += level_step;
    for (std::size_t j = 1; j < kLevels; ++j) {
      for (std::size_t k = 0; k < W; ++k) {
        acc[j][k] += acc[j - 1][k];
        acc[j - 1][k] = 0;
      }
      if ((i & ((level_step - 1) << (j * level_power))) != 0) break;
    }
  }
  for (; i < n; ++i) add_item(acc[0], i);
  for (std::size_t j = 1; j < kLevels; ++j)
    for (std::size_t k = 0; k < W; ++k) acc[0][k] += acc[j][k];
}

// Σ load(i) for i < n as torch 1.13's float sum over a contiguous last dimension adds
// (SumKernel.cpp, AVX2): 8-lane vectors; the vectors in groups of 4 side by side (ILP), the
// groups summed in a 4-level cascade of 16 groups per level step; leftover vectors into group
// 0; the 4 partial vectors added left to right; leftover elements summed, then the 8 lanes
// added to them in order. Equal to torch.sum and .pow(2).mean(-1) on 3,300 + 3,000 rows of 16 to
// 5,000 elements (tools/probe_torch_bf16.py).
template <class Load>
inline float sum_f32(std::size_t n, Load&& load) {
  constexpr std::size_t L = 8, kIlp = 4;
  const std::size_t vectors = n / L, groups = vectors / kIlp;
  float acc[4][kIlp * L] = {};
  cascade_sum(groups, acc, [&](float* into, std::size_t g) {
    for (std::size_t k = 0; k < kIlp * L; ++k) into[k] += load(g * kIlp * L + k);
  });
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

// Σ load(i) for i < n as torch 1.13 sums along a STRIDED last dimension (the reduced elements
// sit far apart, the sums' outputs next to each other: SumKernel.cpp's outer reductions), for
// output j of the `outputs` sums one serial loop computes. With 8 or more outputs, whole groups
// of 32 (else of 4) take one cascade over the elements in order (cascade_sum, one value wide);
// the outputs a group leaves take row_sum: the elements as rows of 4, four cascades side by
// side, the rest added to the first, then the four added in order. One output (a contiguous
// row after all) is sum_f32's. Equal to torch on the 256 pooled image tokens of the projector's
// norm ([1, 256, 1152] transposed), where sum_f32's order gives 102 of 256 other means.
template <class Load>
inline float sum_f32_strided(std::size_t n, std::size_t j, std::size_t outputs, Load&& load) {
  if (outputs == 1) return sum_f32(n, load);
  const std::size_t group = outputs >= 8 ? 32 : 4;
  if (j < outputs / group * group) {
    float acc[4][1] = {};
    cascade_sum(n, acc, [&](float* into, std::size_t i) { into[0] += load(i); });
    return acc[0][0];
  }
  const std::size_t rows = n / 4;
  float acc[4][4] = {};
  cascade_sum(rows, acc, [&](float* into, std::size_t r) {
    for (std::size_t k = 0; k < 4; ++k) into[k] += load(r * 4 + k);
  });
  float* part = acc[0];
  for (std::size_t i = rows * 4; i < n; ++i) part[0] += load(i);
  for (std::size_t k = 1; k < 4; ++k) part[0] += part[k];
  return part[0];
}

// torch.softmax(x, dim=-1, dtype=float32) of one row of `total` scores of which only the n at
// `positions` (ascending) are visible (the others are masked: exp gives exactly 0). e = exp(x −
// max) with torch's exp (ops/math.hpp: exp_sleef), which exp_row(e, n, e) applies to a row (a kernel
// set's Ops::exp_sleef_row: the scalar loop or its SIMD twin); the sum runs in torch's vector order — 8
// lanes (AVX2), lane = position mod 8, lanes then folded 4-2-1 (a row shorter than 8: left to
// right) — and p = e · (1 / sum).
template <class ExpRow>
inline void softmax_row(float* x, int n, const int* positions, int total, ExpRow&& exp_row) {
  if (n == 0) return;
  float max_score = -INFINITY;
  for (int i = 0; i < n; ++i) max_score = std::max(max_score, x[i]);
  for (int i = 0; i < n; ++i) x[i] -= max_score;
  exp_row(x, std::size_t(n), x);
  float lane[8] = {};
  for (int i = 0; i < n; ++i) lane[positions[i] % 8] += x[i];
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
  for (std::size_t i = 0; i < n; ++i) x[i] = r(std::fma((x[i] * rstd) + shift, weight[i], bias[i]));
}

T5GEMMA2_NAMESPACE_END
