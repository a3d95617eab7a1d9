// t5gemma2 — the precision axis: where activations are rounded.
//
//   Model<Dims, W, SimdTarget, Precision>
//     F32     (default) the reference: activations f32 throughout; W = float or bf16_t
//             ("f32" and "bf16-weights" in the tools)
//     HfBf16  what transformers computes after model.to(torch.bfloat16) on the CPU ("hf-bf16"):
//             W = bf16_t, every parameter bf16, and every activation rounded to bf16 exactly
//             where PyTorch's eager bf16 path rounds (docs/numerics.md, "HF bf16 parity")
//
// A policy does not change the layer code: it picks the KERNEL SET the layers run on
// (PrecisionKernels below). F32 runs the SIMD target's kernels themselves; HfBf16 runs
// HfBf16Kernels<SimdTarget> (hf_bf16/kernels.hpp, on the emulations of hf_bf16/torch113.hpp).
// The places where layer code must let a policy in are the five helpers at the end of this
// file; the textbook path (textbook.hpp) has none of this.
#pragma once

#include <cstddef>
#include <vector>

#include "t5gemma2/hf_bf16/kernels.hpp"
#include "t5gemma2/masks.hpp"
#include "t5gemma2/norm.hpp"
#include "t5gemma2/ops/scalar.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct F32 {
  static constexpr const char* name = "f32";
};
struct HfBf16 {
  static constexpr const char* name = "hf-bf16";
};

// The kernel set a model with this policy runs on.
template <class SimdTarget, class Precision>
struct PrecisionKernelsOf;
template <class SimdTarget>
struct PrecisionKernelsOf<SimdTarget, F32> {
  using type = SimdTarget;
};
template <class SimdTarget>
struct PrecisionKernelsOf<SimdTarget, HfBf16> {
  using type = HfBf16Kernels<SimdTarget>;
};
template <class SimdTarget, class Precision>
using PrecisionKernels = typename PrecisionKernelsOf<SimdTarget, Precision>::type;

// y = x · Wᵀ + b (SigLIP's Linear layers; the patch embedding under F32): a kernel set that rounds
// activations adds the bias before rounding (matmul_bias), the others add it to the f32 product.
template <class Kernels, class W>
inline void matmul_bias(const Tensor& x, const WeightMatrix<W>& w, const WeightVector& bias, Tensor& y) {
  if constexpr (requires { Ops<Kernels>::matmul_bias(x, w, bias, y); }) {
    Ops<Kernels>::matmul_bias(x, w, bias, y);
  } else {
    Ops<Kernels>::matmul(x, w, y);
    for (int r = 0; r < y.rows; ++r) Ops<Kernels>::add(bias.data(), y.row(r), std::size_t(y.cols));
  }
}

// SigLIP's patch embedding, a Conv2d with kernel = stride = p, on the unfolded patches
// [N, C·p·p] (vision.hpp: unfold_patches): under F32 the product y = x · Wᵀ + b; a kernel set
// that sums the convolution in an order of its own (HfBf16: oneDNN's) provides patch_embedding.
template <class Kernels, class W>
inline void patch_embedding(const Tensor& patches, const WeightMatrix<W>& w, const WeightVector& bias, int channels, Tensor& y) {
  if constexpr (requires { Ops<Kernels>::patch_embedding(patches, w, bias, channels, y); })
    Ops<Kernels>::patch_embedding(patches, w, bias, channels, y);
  else
    matmul_bias<Kernels>(patches, w, bias, y);
}

// The projector's RMSNorm of the pooled image tokens [T, Hv]. HF normalises them as a transposed
// view of the pooled [Hv, T] grid, so PyTorch sums each token's squares along a strided
// dimension, in an order of its own: a kernel set that follows PyTorch's orders (HfBf16)
// provides rms_norm_strided; under F32 it is the plain row norm (norm.hpp: rms_norm_in_place).
template <class Kernels>
inline void rms_norm_pooled_tokens(Tensor& pooled, const WeightVector& weight, float eps) {
  if constexpr (requires { Ops<Kernels>::rms_norm_strided(pooled.row(0), weight.data(), weight.size(), eps, 0, 1, pooled.row(0)); }) {
    for (int t = 0; t < pooled.rows; ++t)
      Ops<Kernels>::rms_norm_strided(pooled.row(t), weight.data(), weight.size(), eps, std::size_t(t), std::size_t(pooled.rows),
                                     pooled.row(t));
  } else {
    rms_norm_in_place<Kernels>(pooled, weight, eps);
  }
}

// One query's attention weights from the n dots of its visible keys (attention.hpp): the
// kernel set's attention_softmax — or, for a kernel set whose softmax sums in PyTorch's
// positional order (HfBf16: attention_softmax_at), the same with the index of each visible key
// in the call's key list of n_keys keys (`positions`: scratch space).
template <class Kernels>
inline void softmax_of_visible_keys(float* dots, int n, float scale, const float* softcap, const std::vector<KeyInterval>& visible,
                                    int n_keys, std::vector<int>& positions) {
  if constexpr (requires { Ops<Kernels>::attention_softmax_at(dots, n, scale, softcap, positions.data(), n_keys); }) {
    positions.clear();
    for (const KeyInterval& iv : visible)
      for (int k = iv.begin; k < iv.end; ++k) positions.push_back(k);
    Ops<Kernels>::attention_softmax_at(dots, n, scale, softcap, positions.data(), n_keys);
  } else {
    Ops<Kernels>::attention_softmax(dots, n, scale, softcap);
  }
}

// Values computed outside a kernel (the scaled embedding, pooled image patches) rounded to the
// policy's activation dtype: bf16 under HfBf16, nothing to do under F32.
template <class Kernels>
inline void round_to_activation_dtype(Tensor& x) {
  if constexpr (requires { Ops<Kernels>::to_activation(x.data.data(), x.data.size()); })
    Ops<Kernels>::to_activation(x.data.data(), x.data.size());
}

T5GEMMA2_NAMESPACE_END
