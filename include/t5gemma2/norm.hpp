// t5gemma2 — normalisation layers.
//
// rms_norm: Gemma's RMSNorm (spec §3.2), used for every text norm, q_norm/k_norm and the
// multimodal projector norm:   y = x · rsqrt(mean(x²) + eps) · (1 + w)
// The weight is stored as an offset from 1. mean(x²) uses the canonical sum of squares.
#pragma once

#include <cmath>
#include <cstddef>

#include "t5gemma2/ops/reduce.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// One vector: x [n] -> y [n] (y may alias x).
inline void rms_norm(const float* x, const float* weight, std::size_t n, float eps, float* y) {
  const float mean_square = sum_of_squares(x, n) / float(n);
  const float inv_rms = 1.0f / std::sqrt(mean_square + eps);
  for (std::size_t i = 0; i < n; ++i) y[i] = (x[i] * inv_rms) * (1.0f + weight[i]);
}

// Every row of x [R, n] (or every `n`-wide group of a row, for per-head norms: q [R, n_h·d]
// normalised head by head with n = d).
inline void rms_norm_groups(Tensor& x, const WeightVector& weight, float eps) {
  const std::size_t n = weight.size();
  for (int r = 0; r < x.rows; ++r)
    for (std::size_t g = 0; g < std::size_t(x.cols) / n; ++g) {
      float* v = x.row(r) + g * n;
      rms_norm(v, weight.data(), n, eps, v);
    }
}

// Returns a normalised copy of x [R, H].
inline Tensor rms_norm_rows(const Tensor& x, const WeightVector& weight, float eps) {
  Tensor y = x;
  rms_norm_groups(y, weight, eps);
  return y;
}

T5GEMMA2_NAMESPACE_END
