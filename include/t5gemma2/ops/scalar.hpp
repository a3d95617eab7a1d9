// t5gemma2 — the kernels of the forward pass for the scalar reference target.
//
// The SIMD target axis: model code never loops over a weight row itself, it calls
// Ops<Target>::matmul / dot / axpy. Ops<ScalarTarget> is plain C++ written on the canonical
// reductions of ops/reduce.hpp; Highway targets (a later step) specialise Ops with kernels
// that reproduce these results bit for bit.
#pragma once

#include <cmath>
#include <cstddef>

#include "t5gemma2/ops/parallel.hpp"
#include "t5gemma2/ops/reduce.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct ScalarTarget {
  static constexpr const char* name = "scalar";
};

template <class Target>
struct Ops;

template <>
struct Ops<ScalarTarget> {
  // sum_i a[i] * b[i], canonical order (ops/reduce.hpp).
  template <class B>
  static float dot(const float* a, const B* b, std::size_t n) {
    return t5gemma2::dot(a, b, n);
  }

  // y[r, o] = dot(x[r, :], w[o, :]) — a Linear layer without bias: y = x · Wᵀ.
  // x [R, in], w [out, in] -> y [R, out]. Output features are split across threads.
  template <class W>
  static void matmul(const Tensor& x, const WeightMatrix<W>& w, Tensor& y) {
    y = Tensor(x.rows, w.rows);
    parallel_for(w.rows, long(x.rows) * w.rows * w.cols, [&](int begin, int end) {
      for (int r = 0; r < x.rows; ++r) {
        const float* xr = x.row(r);
        float* yr = y.row(r);
        for (int o = begin; o < end; ++o) yr[o] = dot(xr, w.row(o), std::size_t(w.cols));
      }
    });
  }

  // y[i] = fma(a, x[i], y[i]): one step of a sum over rows (P·V, pooling), sequential in
  // row order and independent per column, so SIMD over columns changes nothing.
  static void axpy(float a, const float* x, float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
  }
};

T5GEMMA2_NAMESPACE_END
