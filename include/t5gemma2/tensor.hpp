// t5gemma2 — the two containers of the forward pass.
//
//   Tensor          owning, row-major f32 activations [rows, cols] (batch 1: one sequence).
//   WeightMatrix<W> non-owning view of a weight [out, in] stored as W (f32 or bf16), laid out
//                   as PyTorch's Linear stores it, so y = x · Wᵀ reads W row by row.
//
// Shapes with more axes are written in comments and flattened into cols, e.g. queries
// [S, n_h, d] are a Tensor of rows S and cols n_h·d, head h occupying columns [h·d, (h+1)·d).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "t5gemma2/numeric_types.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct Tensor {
  int rows = 0;
  int cols = 0;
  std::vector<float> data;

  Tensor() = default;
  Tensor(int r, int c) : rows(r), cols(c), data(std::size_t(r) * std::size_t(c), 0.0f) {}

  float* row(int r) { return data.data() + std::size_t(r) * std::size_t(cols); }
  const float* row(int r) const { return data.data() + std::size_t(r) * std::size_t(cols); }
  float& at(int r, int c) { return row(r)[c]; }
  float at(int r, int c) const { return row(r)[c]; }
};

template <class W>
struct WeightMatrix {
  const W* data = nullptr;
  int rows = 0;  // out features
  int cols = 0;  // in features

  const W* row(int r) const { return data + std::size_t(r) * std::size_t(cols); }
};

// Norm weights, biases and other vectors are kept in f32 (converting them is exact).
using WeightVector = std::vector<float>;

T5GEMMA2_NAMESPACE_END
