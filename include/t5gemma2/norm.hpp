// t5gemma2 — normalisation layers over tensors.
//
// rms_norm: Gemma's RMSNorm (docs/model.md §3), used for every text norm, q_norm/k_norm and the
// multimodal projector norm:   y = x · rsqrt(mean(x²) + eps) · (1 + w)
// The weight is stored as an offset from 1. The per-vector kernel is Ops<Kernels>::rms_norm
// (mean(x²) from the canonical sum of squares).
#pragma once

#include <cstddef>

#include "t5gemma2/ops/parallel.hpp"
#include "t5gemma2/ops/scalar.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// Every row of x [R, n] (or every `n`-wide group of a row, for per-head norms: q [R, n_h·d]
// normalised head by head with n = d).
template <class Kernels>
inline void rms_norm_in_place(Tensor& x, const WeightVector& weight, float eps) {
  const std::size_t n = weight.size();
  parallel_for(x.rows, long(x.rows) * x.cols * 4, [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r)
      for (std::size_t g = 0; g < std::size_t(x.cols) / n; ++g) {
        float* v = x.row(r) + g * n;
        Ops<Kernels>::rms_norm(v, weight.data(), n, eps, v);
      }
  });
}

// Returns a normalised copy of x [R, H].
template <class Kernels>
inline Tensor rms_norm(const Tensor& x, const WeightVector& weight, float eps) {
  Tensor y = x;
  rms_norm_in_place<Kernels>(y, weight, eps);
  return y;
}

// Former names (renamed in 0.1), kept for code written against them.
template <class Kernels>
[[deprecated("renamed rms_norm_in_place")]] inline void rms_norm_groups(Tensor& x, const WeightVector& weight, float eps) {
  rms_norm_in_place<Kernels>(x, weight, eps);
}
template <class Kernels>
[[deprecated("renamed rms_norm")]] inline Tensor rms_norm_rows(const Tensor& x, const WeightVector& weight, float eps) {
  return rms_norm<Kernels>(x, weight, eps);
}

T5GEMMA2_NAMESPACE_END
