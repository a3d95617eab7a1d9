// t5gemma2 — zero-copy xtensor views of the library's tensors (optional; needs xtensor).
//
//   #include <t5gemma2/xtensor.hpp>
//   const t5gemma2::Tensor states = model.encode(ids, valid);   // keep the owner, not a temporary
//   auto s = t5gemma2::as_xtensor(states);                    // xt view [S, H], no copy
//   auto v = xt::eval(xt::mean(s, {0}));                      // mean over tokens [H]
//
// Views share the Tensor's or the weight's memory: keep the owner alive while a view is used.
// xtensor stays at the edge of the library — its reductions and transcendental functions do
// not follow the canonical order (docs/numerics.md), so no kernel or forward pass uses it; this
// header is the only one that includes it (it costs ~1.6 s of compile time per translation unit).
#pragma once

#include <array>
#include <cstddef>

#include <xtensor/xadapt.hpp>

#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// Tensor [rows, cols] as a 2-D xtensor view (row-major).
inline auto as_xtensor(Tensor& t) {
  const std::array<std::size_t, 2> shape{std::size_t(t.rows), std::size_t(t.cols)};
  return xt::adapt(t.data.data(), t.data.size(), xt::no_ownership(), shape);
}
inline auto as_xtensor(const Tensor& t) {
  const std::array<std::size_t, 2> shape{std::size_t(t.rows), std::size_t(t.cols)};
  return xt::adapt(t.data.data(), t.data.size(), xt::no_ownership(), shape);
}

// An f32 weight matrix [out, in] as a read-only 2-D view (bf16 weights have no f32 memory to
// view: widen them first).
inline auto as_xtensor(const WeightMatrix<float>& w) {
  const std::array<std::size_t, 2> shape{std::size_t(w.rows), std::size_t(w.cols)};
  return xt::adapt(w.data, std::size_t(w.rows) * std::size_t(w.cols), xt::no_ownership(), shape);
}

T5GEMMA2_NAMESPACE_END
