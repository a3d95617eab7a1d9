// t5gemma2 — the feed-forward block (docs/model.md §3): GeGLU with tanh-approximated GELU.
//   m = down( gelu_tanh(gate(x)) ⊙ up(x) )
//   gelu_tanh(u) = 0.5 · u · (1 + tanh( √(2/π) · (u + 0.044715 · u³) ))   (ops/scalar.hpp)
#pragma once

#include <cmath>

#include "t5gemma2/ops/parallel.hpp"
#include "t5gemma2/ops/scalar.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

template <class W>
struct MlpWeights {
  WeightMatrix<W> gate_proj;  // [I, H]
  WeightMatrix<W> up_proj;    // [I, H]
  WeightMatrix<W> down_proj;  // [H, I]
};

// x [T, H] -> [T, H]
template <class Kernels, class W>
inline Tensor geglu_mlp(const Tensor& x, const MlpWeights<W>& w) {
  Tensor gate, up, out;
  Ops<Kernels>::matmul(x, w.gate_proj, gate);  // [T, I]
  Ops<Kernels>::matmul(x, w.up_proj, up);      // [T, I]
  parallel_elementwise(gate.data.size(), 16, [&](std::size_t b, std::size_t e) {  // gelu(gate) · up
    Ops<Kernels>::gelu_mul(gate.data.data() + b, up.data.data() + b, e - b);
  });
  Ops<Kernels>::matmul(gate, w.down_proj, out);  // [T, H]
  return out;
}

T5GEMMA2_NAMESPACE_END
