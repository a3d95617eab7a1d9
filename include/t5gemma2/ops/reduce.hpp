// t5gemma2 — the canonical reductions of the scalar reference.
//
// Under the F32 policy every dot product and every sum along a row (linear layers, attention
// scores, norms, the softmax denominator) goes through the two functions below, so the whole
// forward pass has ONE documented accumulation order (sums over rows — P·V, pooling — run
// sequentially per column instead; docs/numerics.md):
//
//   * 16 interleaved partial sums: element i is accumulated into lane (i mod 16), in
//     increasing i, with a fused multiply-add (std::fma) for products;
//   * the 16 lanes are then combined by a fixed pairwise tree:
//       width 8: lane[j] += lane[j + 8]   (j = 0..7)
//       width 4: lane[j] += lane[j + 4]   (j = 0..3)
//       width 2: lane[j] += lane[j + 2]   (j = 0..1)
//       width 1: lane[0] += lane[1]
//     and lane[0] is the result.
//
// A SIMD kernel with 16 f32 lanes (one AVX-512 vector, two AVX2 vectors, four SSE4/NEON
// vectors laid side by side) performs exactly these operations and so reproduces the scalar
// result bit for bit. See docs/numerics.md.
#pragma once

#include <cmath>
#include <cstddef>

#include "t5gemma2/numeric_types.hpp"

T5GEMMA2_NAMESPACE_BEGIN

inline constexpr std::size_t kReduceLanes = 16;

// Combines the 16 partial sums with the fixed pairwise tree described above.
inline float reduce_lanes(float (&lane)[kReduceLanes]) {
  for (std::size_t width = kReduceLanes / 2; width >= 1; width /= 2) {
    for (std::size_t j = 0; j < width; ++j) lane[j] += lane[j + width];
  }
  return lane[0];
}

// sum_i a[i] * b[i] in the canonical order. `B` may be float or bf16_t (weights).
template <class B>
inline float dot(const float* a, const B* b, std::size_t n) {
  float lane[kReduceLanes] = {};
  for (std::size_t i = 0; i < n; ++i) {
    lane[i % kReduceLanes] = std::fma(a[i], to_f32(b[i]), lane[i % kReduceLanes]);
  }
  return reduce_lanes(lane);
}

// sum_i x[i] in the canonical order (plain additions, no products).
inline float sum(const float* x, std::size_t n) {
  float lane[kReduceLanes] = {};
  for (std::size_t i = 0; i < n; ++i) lane[i % kReduceLanes] += x[i];
  return reduce_lanes(lane);
}

// sum_i x[i]^2 in the canonical order (fused: lane = fma(x, x, lane)).
inline float sum_of_squares(const float* x, std::size_t n) { return dot(x, x, n); }

T5GEMMA2_NAMESPACE_END
