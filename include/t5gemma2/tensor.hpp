// t5gemma2 — the two containers of the forward pass.
//
//   Tensor          owning, row-major f32 activations [rows, cols] (one sequence, or several stacked row-wise).
//   WeightMatrix<W> non-owning view of a weight [out, in] stored as W (f32 or bf16), laid out
//                   as PyTorch's Linear stores it, so y = x · Wᵀ reads W row by row.
//   PaddedRows      scratch rows for kernels: each padded to whole 16-float steps, the first on a
//                   64-byte cache line (so every row is), uninitialised.
//
// Shapes with more axes are written in comments and flattened into cols, e.g. queries
// [S, n_h, d] are a Tensor of rows S and cols n_h·d, head h occupying columns [h·d, (h+1)·d).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "t5gemma2/numeric_types.hpp"
#include "t5gemma2/ops/reduce.hpp"

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

// bf16 rows [rows, cols] (the decoder's cross keys/values when stored as bf16 on request).
struct Bf16Tensor {
  int rows = 0;
  int cols = 0;
  std::vector<bf16_t> data;

  const bf16_t* row(int r) const { return data.data() + std::size_t(r) * std::size_t(cols); }
};

// x rounded to bf16 (nearest even), element by element.
inline Bf16Tensor to_bf16(const Tensor& x) {
  Bf16Tensor y{x.rows, x.cols, std::vector<bf16_t>(x.data.size())};
  for (std::size_t i = 0; i < x.data.size(); ++i) y.data[i] = bf16_from_f32(x.data[i]);
  return y;
}

// Rows [begin, end) of x as a new tensor [end − begin, cols].
inline Tensor row_range(const Tensor& x, int begin, int end) {
  Tensor y(end - begin, x.cols);
  std::copy(x.row(begin), x.row(begin) + std::size_t(end - begin) * std::size_t(x.cols), y.data.begin());
  return y;
}

// Writes the rows of `part` into x from row `first` on.
inline void put_rows(Tensor& x, int first, const Tensor& part) {
  std::copy(part.data.begin(), part.data.end(), x.row(first));
}

template <class W>
struct WeightMatrix {
  const W* data = nullptr;
  int rows = 0;  // out features
  int cols = 0;  // in features

  const W* row(int r) const { return data + std::size_t(r) * std::size_t(cols); }
};

// rows × cols floats as rows of `stride` floats (cols rounded up to a whole accumulator step of
// kReduceLanes), starting on a 64-byte line: a kernel's vector loads then never straddle two lines
// (a std::vector's data starts 16 bytes past one). Uninitialised: the owner writes each row and
// its padding.
struct PaddedRows {
  static constexpr std::size_t stride_for(std::size_t cols) { return (cols + kReduceLanes - 1) / kReduceLanes * kReduceLanes; }

  std::size_t stride = 0;
  std::unique_ptr<float[]> storage;
  float* base = nullptr;

  PaddedRows(std::size_t rows, std::size_t cols) : stride(stride_for(cols)), storage(new float[rows * stride + 16]) {
    base = storage.get();
    while (reinterpret_cast<std::uintptr_t>(base) % 64 != 0) ++base;
  }
  float* row(std::size_t r) const { return base + r * stride; }
};

// Norm weights, biases and other vectors are kept in f32 (converting them is exact).
using WeightVector = std::vector<float>;

T5GEMMA2_NAMESPACE_END
