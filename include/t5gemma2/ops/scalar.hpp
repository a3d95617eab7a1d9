// t5gemma2 — the kernels of the forward pass, scalar reference target.
//
// The SIMD target axis: model code never loops over a weight row, a norm or a softmax itself;
// it calls Ops<Target>::matmul / rms_norm / gelu / attention_scores / .... Ops<ScalarTarget> below
// is plain C++ on the canonical reductions of ops/reduce.hpp and the canonical exp/tanh of
// ops/math.hpp: it DEFINES the bits. The Highway targets (ops/highway.hpp static,
// ops/dispatch.hpp dynamic) perform the same operations per output on vectors and give the
// same bits (docs/numerics.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "t5gemma2/ops/math.hpp"
#include "t5gemma2/ops/parallel.hpp"
#include "t5gemma2/ops/reduce.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct ScalarTarget {
  static constexpr const char* name = "scalar";
};

template <class Target>
struct Ops;

// A SIMD target brings its kernels as static members (ops/highway.hpp, ops/dispatch.hpp).
template <class Target>
  requires requires { typename Target::is_kernel_set; }
struct Ops<Target> : Target {};

// One run of visible keys of one kv head: `count` key rows starting at k (values at v), rows
// `stride` elements apart (the rows of a [K, n_kv·d] tensor, offset to the head). Keys and
// values stored as bf16 (the optional bf16 cross K/V) come as k_bf16, v_bf16 instead, k and v
// null; they are widened exactly to f32 and enter the same arithmetic.
// The shape of the whole attention call a span belongs to: the f32 kernels ignore it; the
// hf-bf16 kernels need it to pick PyTorch's summation order (hf_bf16/kernels.hpp).
struct AttentionCall {
  int keys = 0;        // keys in the call's whole key list (every block, masked keys included)
  int query_rows = 0;  // query rows (tokens) of the call
  int heads = 0;       // query heads
};

// `first`: index of the span's first key in the call's whole key list.
// `panels` (optional, f32 keys only): the same keys again, transposed in panels of 16 keys
// (attention.hpp: HeadMajorKeysValues::key_panels): panel p holds key 16p + l's element i at panels[(p·d + i)·16 + l],
// and the span's first key is key `panel_key` there. A SIMD scores kernel may read these instead
// of k (the scalar reference reads k); the values, hence the bits, are the same.
struct KeySpan {
  const float* k = nullptr;
  const float* v = nullptr;
  std::size_t stride = 0;
  int count = 0;
  const bf16_t* k_bf16 = nullptr;
  const bf16_t* v_bf16 = nullptr;
  int first = 0;
  const AttentionCall* call = nullptr;
  const float* panels = nullptr;
  int panel_key = 0;
};

// cap · tanh(x / cap), rounded step by step as PyTorch does (divide, tanh, multiply).
inline float soft_cap(float x, float cap) { return tanh_canonical(x / cap) * cap; }

// GELU, tanh approximation (docs/model.md §3), in the order of PyTorch's f32 CPU kernel
// (GeluKernel, approximate='tanh': x_cube = x·x·x; inner = β·(x + κ·x_cube)):
//   0.5 · u · (1 + tanh(√(2/π) · (u + 0.044715 · ((u·u)·u))))
// (the hf-bf16 kernels round after each of the same steps: gelu_tanh_bf16 below).
inline float gelu_tanh(float u) {
  const float kSqrt2OverPi = 0.7978845608028654f;  // √(2/π)
  const float kKappa = 0.044715f;
  const float inner = kSqrt2OverPi * (u + kKappa * (u * u * u));
  return 0.5f * u * (1.0f + tanh_canonical(inner));
}

// GELU-tanh as PyTorch evaluates it on bf16 tensors (the hf-bf16 policy, hf_bf16/kernels.hpp):
// the constants cast to bf16, every step rounded to bf16 (r):
//   t = r(u·u), r(t·u), r(κ·t), r(u + t), r(β·t);  th = r(tanh(t));  r(r(0.5·u) · r(1 + th))
// (tools/probe_torch_bf16.py: equal to torch 1.13 on 400,000 of 400,000 inputs).
inline float gelu_tanh_bf16(float u) {
  const float kappa = round_to_bf16(0.044715f), beta = round_to_bf16(0.7978845608028654f);
  float t = round_to_bf16(u * u);
  t = round_to_bf16(t * u);
  t = round_to_bf16(kappa * t);
  t = round_to_bf16(u + t);
  const float th = round_to_bf16(tanh_canonical(round_to_bf16(beta * t)));
  return round_to_bf16(round_to_bf16(0.5f * u) * round_to_bf16(1.0f + th));
}

// oneDNN's order for a bf16 GEMM (the kernel PyTorch runs bf16 Linear layers and large bf16
// matmuls on, CPU with AVX512-BF16; the hf-bf16 policy, hf_bf16/kernels.hpp): the K axis in blocks of
// onednn_k_block(K) elements, each block summed from 0 over element pairs (2j+1 then 2j, one
// fma each: the product of two bf16 values is exact, as in VDPBF16PS), the block sums added in
// order. Measured against torch 1.13 for K from 64 to 6,912 (tools/probe_torch_bf16.py).
inline int onednn_k_block(int k) { return k <= 512 ? k : k <= 1024 ? 512 : 1024; }

template <class B>
inline float dot_onednn_order(const float* x, const B* w, int k, int kb) {
  float total = 0;
  for (int k0 = 0; k0 < k; k0 += kb) {
    float acc = 0;
    const int k1 = std::min(k, k0 + kb);
    for (int j = k0; j < k1; j += 2) {
      if (j + 1 < k1) acc = std::fma(x[j + 1], to_f32(w[j + 1]), acc);
      acc = std::fma(x[j], to_f32(w[j]), acc);
    }
    total = k0 == 0 ? acc : total + acc;
  }
  return total;
}

template <>
struct Ops<ScalarTarget> {
  static constexpr const char* name() { return "scalar"; }

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

  // y[r, o] = dot_onednn_order(x[r, :], w[o, :], in, kb) in f32 (not rounded). x [R, in], w [out, in];
  // kb = 0: the block size of a product over `in` elements, onednn_k_block(in).
  static void matmul_onednn_order(const Tensor& x, const WeightMatrix<bf16_t>& w, Tensor& y, int kb = 0) {
    y = Tensor(x.rows, w.rows);
    if (kb == 0) kb = onednn_k_block(w.cols);
    parallel_for(w.rows, long(x.rows) * w.rows * w.cols, [&](int begin, int end) {
      for (int r = 0; r < x.rows; ++r)
        for (int o = begin; o < end; ++o) y.row(r)[o] = dot_onednn_order(x.row(r), w.row(o), w.cols, kb);
    });
  }

  // y[i] = fma(a, x[i], y[i]): one step of a sum over rows (P·V), sequential in
  // row order and independent per column, so SIMD over columns changes nothing.
  static void axpy(float a, const float* x, float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
  }
  static void axpy(float a, const bf16_t* x, float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] = std::fma(a, to_f32(x[i]), y[i]);
  }

  // Gemma's RMSNorm of one vector (docs/model.md §3): y = (x · 1/√(mean(x²) + eps)) · (1 + w).
  // x [n] -> y [n] (y may alias x).
  static void rms_norm(const float* x, const float* weight, std::size_t n, float eps, float* y) {
    const float mean_square = sum_of_squares(x, n) / float(n);
    const float inv_rms = 1.0f / std::sqrt(mean_square + eps);
    for (std::size_t i = 0; i < n; ++i) y[i] = (x[i] * inv_rms) * (1.0f + weight[i]);
  }

  // y[i] += x[i]   (residual adds, biases, SigLIP's position embeddings)
  static void add(const float* x, float* y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] += x[i];
  }

  // RoPE, rotate-half (rope.hpp): v [d] rotated in place with one position's cos, sin [d/2]:
  //   v[j] = v[j]·cos_j − v[j+d/2]·sin_j,   v[j+d/2] = v[j+d/2]·cos_j + v[j]·sin_j
  // each product rounded before the sum, as PyTorch's q·cos + rotate_half(q)·sin.
  static void rope(float* v, const float* cos, const float* sin, int head_dim) {
    const int half = head_dim / 2;
    for (int j = 0; j < half; ++j) {
      const float x1 = v[j], x2 = v[j + half];
      const float a = x1 * cos[j], b = x2 * sin[j];
      const float c = x2 * cos[j], e = x1 * sin[j];
      v[j] = a - b;
      v[j + half] = c + e;
    }
  }

  // LayerNorm with weight and bias (SigLIP), in place: mean and biased variance from the
  // canonical sums, two passes: y = ((x − mean) · 1/√(var + eps)) · w + b.
  static void layer_norm(float* x, const float* weight, const float* bias, std::size_t n, float eps, float* centered) {
    const float mean = sum(x, n) / float(n);
    for (std::size_t i = 0; i < n; ++i) centered[i] = x[i] - mean;
    const float inv_std = 1.0f / std::sqrt(sum_of_squares(centered, n) / float(n) + eps);
    for (std::size_t i = 0; i < n; ++i) x[i] = (centered[i] * inv_std) * weight[i] + bias[i];
  }

  // x[i] = gelu_tanh(x[i])
  static void gelu(float* x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) x[i] = gelu_tanh(x[i]);
  }

  // gate[i] = gelu_tanh(gate[i]) · up[i]   (GeGLU)
  static void gelu_mul(float* gate, const float* up, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) gate[i] = gelu_tanh(gate[i]) * up[i];
  }

  // y[i] = tanh(x[i]), canonical (ops/math.hpp)
  static void tanh_row(const float* x, std::size_t n, float* y) {
    for (std::size_t i = 0; i < n; ++i) y[i] = tanh_canonical(x[i]);
  }

  // x[i] = gelu_tanh_bf16(x[i])   (the hf-bf16 policy's GELU)
  static void gelu_bf16(float* x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) x[i] = gelu_tanh_bf16(x[i]);
  }

  // y[i] = exp_sleef(x[i]) (ops/math.hpp: torch's exp, for the hf-bf16 softmax)
  static void exp_sleef_row(const float* x, std::size_t n, float* y) {
    for (std::size_t i = 0; i < n; ++i) y[i] = exp_sleef(x[i]);
  }

  // x[i] = soft_cap(x[i], cap)   (final logit soft-capping)
  static void soft_cap(float* x, std::size_t n, float cap) {
    for (std::size_t i = 0; i < n; ++i) x[i] = t5gemma2::soft_cap(x[i], cap);
  }

  // The attention core (attention.hpp), in two kernels so that a SIMD target can compute the
  // scores of several queries against the same keys together:
  //
  // attention_scores: scores[i · n + c] = q_i · k_c for the queries q_0..q_{nq−1} [d] and the n
  // keys of `spans` in order (n = Σ count).
  static void attention_scores(const float* const* queries, int nq, const KeySpan* spans, int n_spans, int d, float* scores) {
    int n = 0;
    for (int s = 0; s < n_spans; ++s) n += spans[s].count;
    for (int i = 0; i < nq; ++i) {
      int c = 0;
      for (int s = 0; s < n_spans; ++s)
        for (int j = 0; j < spans[s].count; ++j)
          scores[std::size_t(i) * std::size_t(n) + std::size_t(c++)] =
              spans[s].k_bf16 ? dot(queries[i], spans[s].k_bf16 + std::size_t(j) * spans[s].stride, std::size_t(d))
                              : dot(queries[i], spans[s].k + std::size_t(j) * spans[s].stride, std::size_t(d));
    }
  }

  // attention_softmax: one query's n dot products with its visible keys (key order) become its
  // attention weights, in place:
  //   s_c = dots_c · scale, then soft_cap(s_c, *softcap) if softcap is given
  //   p_c = exp(s_c − max) / Σ exp(s − max)       canonical exp and sum
  static void attention_softmax(float* dots, int n, float scale, const float* softcap) {
    if (n == 0) return;
    float max_score = -INFINITY;
    for (int i = 0; i < n; ++i) {
      float x = dots[i] * scale;
      if (softcap) x = t5gemma2::soft_cap(x, *softcap);
      dots[i] = x;
      max_score = std::max(max_score, x);
    }
    for (int i = 0; i < n; ++i) dots[i] = exp_canonical(dots[i] - max_score);
    const float denom = sum(dots, std::size_t(n));
    for (int i = 0; i < n; ++i) dots[i] = dots[i] / denom;
  }

  // attention_pv: out_i [d] = Σ_c p_i,c · v_c for queries i < nq that see the same keys (those
  // of `spans`, in order): in key order, one fma per key (axpy), from 0. No key: out = 0.
  static void attention_pv(const float* const* weights, float* const* outs, int nq, const KeySpan* spans, int n_spans, int d) {
    for (int i = 0; i < nq; ++i) {
      std::fill(outs[i], outs[i] + d, 0.0f);
      int c = 0;
      for (int s = 0; s < n_spans; ++s)
        for (int j = 0; j < spans[s].count; ++j, ++c) {
          if (spans[s].v_bf16) axpy(weights[i][c], spans[s].v_bf16 + std::size_t(j) * spans[s].stride, outs[i], std::size_t(d));
          else axpy(weights[i][c], spans[s].v + std::size_t(j) * spans[s].stride, outs[i], std::size_t(d));
        }
    }
  }
};

T5GEMMA2_NAMESPACE_END
