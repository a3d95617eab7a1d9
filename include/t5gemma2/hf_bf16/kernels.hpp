// t5gemma2 — the HfBf16 kernel set: what transformers computes after model.to(torch.bfloat16) on
// a CPU (PyTorch 1.13, oneDNN), bit for bit. HfBf16Kernels<SimdTarget> performs each of the SIMD
// target's kernels and rounds its outputs to bf16 where PyTorch's eager bf16 path rounds — or,
// where PyTorch sums in an order of its own (RMSNorm's mean, LayerNorm's Welford moments, the
// softmax, the small attention products), replaces it with a scalar emulation of torch 1.13
// (hf_bf16/torch113.hpp); GELU-tanh, RoPE and soft-capping round after every step. The large
// products run on the target's matmul_onednn_order kernel; tanh, torch's exp and the bf16 GELU on
// the target's twins of ops/math.hpp and ops/scalar.hpp; the other emulations and rounding steps
// are compiled once and target-independent. The bits are the same on every SIMD target. docs/numerics.md, "HF bf16 parity", lists every rule.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "t5gemma2/error.hpp"
#include "t5gemma2/hf_bf16/torch113.hpp"
#include "t5gemma2/ops/parallel.hpp"
#include "t5gemma2/ops/scalar.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// The kernels of SimdTarget with PyTorch's bf16 rounding points (see the header comment).
template <class SimdTarget>
struct HfBf16Kernels {
  using is_kernel_set = void;
  using Base = Ops<SimdTarget>;

  static const char* name() { return Base::name(); }

  // Values just computed become activations: rounded to bf16 (called through precision.hpp: round_to_activation_dtype).
  static void to_activation(float* x, std::size_t n) { round_to_bf16(x, n); }

  // Linear layers: bf16 × bf16 products summed in f32 (oneDNN's bf16 GEMM accumulates in f32),
  // the sum rounded once: y = round(x · Wᵀ).
  template <class W>
  static void matmul(const Tensor& x, const WeightMatrix<W>& w, Tensor& y) {
    static_assert(std::is_same_v<W, bf16_t>, "the hf-bf16 policy runs on bf16 weights");
    sums_in_onednn_order(x, w, y);
    parallel_elementwise(y.data.size(), 1, [&](std::size_t b, std::size_t e) { round_to_bf16(y.data.data() + b, e - b); });
  }

  // Linear with bias (SigLIP): oneDNN adds the bias to the f32 sum and rounds once.
  template <class W>
  static void matmul_bias(const Tensor& x, const WeightMatrix<W>& w, const WeightVector& bias, Tensor& y) {
    static_assert(std::is_same_v<W, bf16_t>, "the hf-bf16 policy runs on bf16 weights");
    sums_in_onednn_order(x, w, y);
    parallel_for(y.rows, long(y.rows) * y.cols, [&](int r0, int r1) {
      for (int r = r0; r < r1; ++r) add_bias_and_round(y.row(r), bias, y.cols);
    });
  }

  // out[o] = bf16(out[o] + bias[o]): a bias joins the f32 sum before its one rounding.
  static void add_bias_and_round(float* out, const WeightVector& bias, int n) {
    for (int o = 0; o < n; ++o) out[o] = round_to_bf16(out[o] + bias[std::size_t(o)]);
  }

  // SigLIP's patch embedding, a Conv2d with kernel = stride = p, as oneDNN's bf16 convolution
  // sums it: per output ONE f32 chain (no blocks) over the p·p kernel positions in row-major
  // (ky, kx) order, and at each position over the channels in pairs, c + 1 then c; the bias is
  // added to the sum, which is rounded once. (Summed as the unfolded-patch matmul, channels
  // outermost, 216 of the 4.7 M outputs of an 896² image differ by one bf16 ulp; this order: none.)
  // Lanes hold outputs: one axpy per term.
  // patches [N, C·p·p] in (c, ky, kx) order, w [out, C·p·p], bias [out] -> y [N, out]
  template <class W>
  static void patch_embedding(const Tensor& patches, const WeightMatrix<W>& w, const WeightVector& bias, int channels, Tensor& y) {
    static_assert(std::is_same_v<W, bf16_t>, "the hf-bf16 policy runs on bf16 weights");
    const int positions = w.cols / channels;
    check(channels > 0 && positions * channels == w.cols && patches.cols == w.cols,
          "patch embedding: the unfolded patches and the kernel do not have C·p·p columns");
    std::vector<int> term;  // the column of each term, in the order of the sum
    for (int q = 0; q < positions; ++q)
      for (int c = 0; c < channels; c += 2) {
        if (c + 1 < channels) term.push_back((c + 1) * positions + q);
        term.push_back(c * positions + q);
      }
    std::vector<float> w_t(term.size() * std::size_t(w.rows));  // [terms, out]: the weights of each term
    for (std::size_t t = 0; t < term.size(); ++t)
      for (int o = 0; o < w.rows; ++o) w_t[t * std::size_t(w.rows) + std::size_t(o)] = to_f32(w.row(o)[term[t]]);
    y = Tensor(patches.rows, w.rows);
    parallel_for(patches.rows, long(patches.rows) * w.rows * w.cols, [&](int begin, int end) {
      for (int r = begin; r < end; ++r) {
        float* out = y.row(r);
        for (std::size_t t = 0; t < term.size(); ++t)
          Base::axpy(patches.row(r)[term[t]], &w_t[t * std::size_t(w.rows)], out, std::size_t(w.rows));
        add_bias_and_round(out, bias, w.rows);
      }
    });
  }

  // y = x · Wᵀ in f32, every dot in oneDNN's order (ops/scalar.hpp: dot_onednn_order), not rounded.
  static void sums_in_onednn_order(const Tensor& x, const WeightMatrix<bf16_t>& w, Tensor& y) {
    Base::matmul_onednn_order(x, w, y);
  }

  // Gemma's RMSNorm as HF writes it: x.float().pow(2).mean(-1) (torch's sum order, then ÷ n),
  // x · rsqrt(· + eps) · (1 + w) in f32, cast back to bf16.
  static void rms_norm(const float* x, const float* weight, std::size_t n, float eps, float* y) {
    scale_by_rms(x, weight, n, eps, torch113::sum_f32(n, [&](std::size_t i) { return x[i] * x[i]; }), y);
  }

  // The same for token j of the `tokens` pooled image tokens (precision.hpp: rms_norm_pooled_tokens):
  // HF holds them as a transposed view, so torch sums each token's squares along a strided
  // dimension (torch113::sum_f32_strided).
  static void rms_norm_strided(const float* x, const float* weight, std::size_t n, float eps, std::size_t j, std::size_t tokens,
                               float* y) {
    scale_by_rms(x, weight, n, eps, torch113::sum_f32_strided(n, j, tokens, [&](std::size_t i) { return x[i] * x[i]; }), y);
  }

  // y = bf16(x · rsqrt(Σx² / n + eps) · (1 + w)), the f32 steps of HF's RMSNorm.
  static void scale_by_rms(const float* x, const float* weight, std::size_t n, float eps, float sum_of_squares, float* y) {
    const float inv_rms = 1.0f / std::sqrt(sum_of_squares / float(n) + eps);
    for (std::size_t i = 0; i < n; ++i) y[i] = round_to_bf16((x[i] * inv_rms) * (1.0f + weight[i]));
  }

  // Residual adds (and biases): a + b in f32, rounded.
  static void add(const float* x, float* y, std::size_t n) {
    Base::add(x, y, n);
    round_to_bf16(y, n);
  }

  // SigLIP's LayerNorm as torch 1.13 computes it on bf16 rows (hf_bf16/torch113.hpp: layer_norm_torch113_bf16).
  static void layer_norm(float* x, const float* weight, const float* bias, std::size_t n, float eps, float* /*centered*/) {
    layer_norm_torch113_bf16(x, weight, bias, n, eps);
  }

  // RoPE as HF writes it, q·cos + rotate_half(q)·sin on bf16 tensors: cos and sin are computed
  // in f32 and cast to bf16; each product and the sum is rounded.
  static void rope(float* v, const float* cos, const float* sin, int head_dim) {
    const int half = head_dim / 2;
    for (int j = 0; j < half; ++j) {
      const float c = round_to_bf16(cos[j]), s = round_to_bf16(sin[j]);
      const float x1 = v[j], x2 = v[j + half];
      v[j] = round_to_bf16(round_to_bf16(x1 * c) - round_to_bf16(x2 * s));
      v[j + half] = round_to_bf16(round_to_bf16(x2 * c) + round_to_bf16(x1 * s));
    }
  }

  // GELU-tanh as PyTorch evaluates it on bf16 tensors, every step rounded (ops/scalar.hpp:
  // gelu_tanh_bf16; a SIMD target runs its twin).
  static void gelu(float* x, std::size_t n) { Base::gelu_bf16(x, n); }

  // GeGLU: gelu(gate) as above, times up, rounded.
  static void gelu_mul(float* gate, const float* up, std::size_t n) {
    gelu(gate, n);
    for (std::size_t i = 0; i < n; ++i) gate[i] = round_to_bf16(gate[i] * up[i]);
  }

  // Final logit soft-capping, HF's three bf16 ops: x / cap, tanh, · cap (cap cast to bf16).
  static void soft_cap(float* x, std::size_t n, float cap) {
    const float c = round_to_bf16(cap);
    float t[kBlock];
    for (std::size_t i0 = 0; i0 < n; i0 += kBlock) {
      const std::size_t m = std::min(kBlock, n - i0);
      for (std::size_t i = 0; i < m; ++i) x[i0 + i] = round_to_bf16(x[i0 + i] / c);
      Base::tanh_row(x + i0, m, t);
      for (std::size_t i = 0; i < m; ++i) x[i0 + i] = round_to_bf16(round_to_bf16(t[i]) * c);
    }
  }

  // Which kernel torch 1.13 runs a bf16 batched matmul of `batch` products [rows, contraction] ×
  // [contraction, cols] on (aten/src/ATen/native/LinearAlgebra.cpp: bmm_out_or_baddbmm_,
  // mkldnn/Matmul.cpp: checksize), for ONE sequence (HF batch size 1; batch = query heads):
  //   batch · rows · contraction · cols > 16³   oneDNN: f32 sums in dot_onednn_order's order
  //   contraction · rows · cols < 400           a plain loop: running sum kept in bf16
  //   otherwise                                 torch's own gemm: q·kᵀ (kᵀ a transposed view)
  //                                             with an f32 sum in k order, P·V with a bf16
  //                                             running sum
  // ("running sum in bf16": every product and every partial sum rounded, in contraction order.)
  // HF runs with several sequences in a batch choose differently for the small products (the
  // gemm's q·kᵀ then also keeps a bf16 running sum): this policy reproduces one sequence at a
  // time. Measured on HF's own attention calls during development; the tiny goldens' generation
  // steps go through all three cases.
  enum class Bmm { kOneDnn, kBf16Running, kGemmF32 };
  static Bmm bmm_kind(long batch, long rows, long contraction, long cols, bool transposed_b) {
    if (batch * rows * contraction * cols > 16 * 16 * 16) return Bmm::kOneDnn;
    if (contraction * rows * cols < 400 || !transposed_b) return Bmm::kBf16Running;
    return Bmm::kGemmF32;
  }
  template <class B>
  static float dot_f32_in_order(const float* x, const B* w, int k) {
    float acc = 0;
    for (int j = 0; j < k; ++j) acc = std::fma(x[j], to_f32(w[j]), acc);
    return acc;
  }
  template <class B>
  static float dot_bf16_running(const float* x, const B* w, int k) {
    float acc = 0;
    for (int j = 0; j < k; ++j) acc = round_to_bf16(acc + round_to_bf16(x[j] * to_f32(w[j])));
    return acc;
  }

  // Attention scores: matmul(q, kᵀ) on bf16 tensors, each dot in the order of the kernel torch
  // picks (bmm_kind), rounded.
  static void attention_scores(const float* const* queries, int nq, const KeySpan* spans, int n_spans, int d, float* scores) {
    if (n_spans == 0) return;
    int n = 0;
    for (int s = 0; s < n_spans; ++s) n += spans[s].count;
    const AttentionCall& call = *spans[0].call;
    const Bmm kind = bmm_kind(call.heads, call.query_rows, d, call.keys, /*transposed_b=*/true);
    if (kind == Bmm::kOneDnn) {
      // One matmul in oneDNN's order on SimdTarget's kernel: queries [nq, d] · keys [n, d]ᵀ.
      Tensor q(nq, d), sums;
      for (int i = 0; i < nq; ++i) std::copy(queries[i], queries[i] + d, q.row(i));
      std::vector<bf16_t> keys(std::size_t(n) * std::size_t(d));  // bf16 values already: exact
      for (int s = 0, c = 0; s < n_spans; ++s)
        for (int j = 0; j < spans[s].count; ++j, ++c)
          for (int e = 0; e < d; ++e) {
            const std::size_t at = std::size_t(j) * spans[s].stride + std::size_t(e);
            keys[std::size_t(c) * std::size_t(d) + std::size_t(e)] =
                spans[s].k_bf16 ? spans[s].k_bf16[at] : bf16_from_f32(spans[s].k[at]);
          }
      Base::matmul_onednn_order(q, WeightMatrix<bf16_t>{keys.data(), n, d}, sums);
      std::copy(sums.data.begin(), sums.data.end(), scores);
    } else {
      for (int i = 0; i < nq; ++i) {
        float* out = scores + std::size_t(i) * std::size_t(n);
        for (int s = 0; s < n_spans; ++s)
          for (int j = 0; j < spans[s].count; ++j) {
            const std::size_t at = std::size_t(j) * spans[s].stride;
            auto dot = [&](const auto* k) {
              return kind == Bmm::kBf16Running ? dot_bf16_running(queries[i], k, d) : dot_f32_in_order(queries[i], k, d);
            };
            *out++ = spans[s].k_bf16 ? dot(spans[s].k_bf16 + at) : dot(spans[s].k + at);
          }
      }
    }
    round_to_bf16(scores, std::size_t(nq) * std::size_t(n));
  }

  // `scores * scaling` (the Python scalar cast to bf16 first, product rounded), optional
  // soft-capping in bf16 steps, then softmax(dtype=float32) of the widened row as torch computes
  // it (torch113::softmax_row: needs where the keys sit in the whole key list), cast back.
  static void attention_softmax_at(float* dots, int n, float scale, const float* softcap, const int* positions, int total) {
    const float s = round_to_bf16(scale);
    for (int i = 0; i < n; ++i) dots[i] = round_to_bf16(dots[i] * s);
    if (softcap) soft_cap(dots, std::size_t(n), *softcap);
    torch113::softmax_row(dots, n, positions, total, Base::exp_sleef_row);
    round_to_bf16(dots, std::size_t(n));
  }

  // matmul(p, v) on bf16 tensors: HF multiplies the weights of the WHOLE key list (masked keys
  // with weight 0) by the values. Small products (bmm_kind): torch's loop, a bf16 running sum in
  // key order. Otherwise the sum runs over key indices in oneDNN's order — blocks of
  // onednn_k_block(total keys), pairs (2j+1, 2j) inside a block. Keys outside the spans add
  // exact zeros and are skipped. Rounded at the end. attention() passes every query of a block
  // at once, over the union of the block's keys (kPvOverKeyUnion; a key a query does not see has
  // weight 0, and 0 · v adds an exact zero for the finite values of the policy's activations).
  // 16 queries or more over a dense run of keys (pv_as_matmul_pays) take one matmul; the others
  // go key by key.
  static constexpr bool kPvOverKeyUnion = true;
  static void attention_pv(const float* const* weights, float* const* outs, int nq, const KeySpan* spans, int n_spans, int d) {
    if (n_spans > 0 && nq >= kPvMatmulQueries && pv_as_matmul_pays(spans, n_spans) &&
        bmm_kind(spans[0].call->heads, spans[0].call->query_rows, spans[0].call->keys, d, false) == Bmm::kOneDnn) {
      attention_pv_as_matmul(weights, outs, nq, spans, n_spans, d);
      return;
    }
    attention_pv_by_query(weights, outs, nq, spans, n_spans, d);
  }

  // The same sums for many queries as ONE matmul in oneDNN's order on SimdTarget's kernel: the
  // weights [nq, keys] times the values transposed [d, keys], over the keys from the start of
  // the oneDNN block holding the first span to the end of the last span, with the whole key
  // list's block size, so blocks and pairs fall where they do in the whole list. Keys the spans
  // skip get weight 0 and value 0: they add exact zeros, as in attention_pv_by_query, where
  // they are absent. (Equal to attention_pv_by_query, test_hf_bf16; both differ only in a sign
  // of zero if every product of a block underflows, and a visible inf/NaN value reaches every
  // query of the block, as in HF's dense product.) Spans: ascending, disjoint, n_spans > 0.
  static void attention_pv_as_matmul(const float* const* weights, float* const* outs, int nq, const KeySpan* spans, int n_spans,
                                     int d) {
    const int kb = onednn_k_block(spans[0].call->keys);
    const int begin = spans[0].first / kb * kb, end = spans[n_spans - 1].first + spans[n_spans - 1].count;
    const int n = end - begin;
    Tensor p(nq, n), sums;                                              // [nq, n]  zeros
    std::vector<bf16_t> v_t(std::size_t(d) * std::size_t(n), bf16_t{});  // [d, n]  zeros (bf16 values: exact)
    for (int s = 0, c = 0; s < n_spans; c += spans[s].count, ++s) {
      const int key0 = spans[s].first - begin;  // the span's keys are consecutive columns
      for (int i = 0; i < nq; ++i) std::copy(weights[i] + c, weights[i] + c + spans[s].count, p.row(i) + key0);
      for (int j = 0; j < spans[s].count; ++j) {
        bf16_t* column = v_t.data() + std::size_t(key0 + j);
        const std::size_t at = std::size_t(j) * spans[s].stride;
        if (spans[s].v_bf16)
          for (int e = 0; e < d; ++e) column[std::size_t(e) * std::size_t(n)] = spans[s].v_bf16[at + std::size_t(e)];
        else
          for (int e = 0; e < d; ++e) column[std::size_t(e) * std::size_t(n)] = bf16_from_f32(spans[s].v[at + std::size_t(e)]);
      }
    }
    Base::matmul_onednn_order(p, WeightMatrix<bf16_t>{v_t.data(), d, n}, sums, kb);  // [nq, d]
    for (int i = 0; i < nq; ++i) {
      std::copy(sums.row(i), sums.row(i) + d, outs[i]);
      round_to_bf16(outs[i], std::size_t(d));
    }
  }

  // The matmul covers every key from its first block's start to the last span's end: worth it
  // when at most half of that range is gap (an encoder's or SigLIP's key union, not a decoder's
  // [self ; cross] with the self keys after the block's rows in between).
  static bool pv_as_matmul_pays(const KeySpan* spans, int n_spans) {
    const int kb = onednn_k_block(spans[0].call->keys);
    long visible = 0;
    for (int s = 0; s < n_spans; ++s) visible += spans[s].count;
    const long range = spans[n_spans - 1].first + spans[n_spans - 1].count - spans[0].first / kb * kb;
    return range <= 2 * visible;
  }

  // P·V one query at a time, key by key (the plain version).
  static void attention_pv_by_query(const float* const* weights, float* const* outs, int nq, const KeySpan* spans, int n_spans,
                                    int d) {
    // The visible keys in summation order: (span, row in span, weight column).
    struct Key {
      int span, row, column;
    };
    std::vector<Key> order;
    const int kb = n_spans ? onednn_k_block(spans[0].call->keys) : 1;
    auto index = [&](const Key& k) { return spans[k.span].first + k.row; };
    for (int s = 0, c = 0; s < n_spans; ++s)
      for (int j = 0; j < spans[s].count; ++j) order.push_back({s, j, c++});
    for (std::size_t n = 0; n + 1 < order.size(); ++n) {  // an even key and its odd partner: partner first
      const int key = index(order[n]);
      if (key % 2 == 0 && index(order[n + 1]) == key + 1 && (key + 1) / kb == key / kb) {
        std::swap(order[n], order[n + 1]);
        ++n;
      }
    }
    std::vector<float> acc(static_cast<std::size_t>(d)), widened(static_cast<std::size_t>(d));
    if (n_spans > 0 && bmm_kind(spans[0].call->heads, spans[0].call->query_rows, spans[0].call->keys, d, false) != Bmm::kOneDnn) {
      // torch's plain loop or its own gemm: running sums in bf16, key order
      for (int i = 0; i < nq; ++i) {
        std::fill(outs[i], outs[i] + d, 0.0f);
        for (int s = 0, c = 0; s < n_spans; ++s)
          for (int j = 0; j < spans[s].count; ++j, ++c) {
            const std::size_t at = std::size_t(j) * spans[s].stride;
            for (int e = 0; e < d; ++e) {
              const float v = spans[s].v_bf16 ? to_f32(spans[s].v_bf16[at + std::size_t(e)]) : spans[s].v[at + std::size_t(e)];
              outs[i][e] = round_to_bf16(outs[i][e] + round_to_bf16(weights[i][c] * v));
            }
          }
      }
      return;
    }
    for (int i = 0; i < nq; ++i) {
      float* out = outs[i];
      std::fill(out, out + d, 0.0f);
      bool started = false;  // out holds the sum of the finished blocks
      auto finish_block = [&] {
        if (started) Base::add(acc.data(), out, std::size_t(d));
        else std::copy(acc.begin(), acc.end(), out);
        started = true;
      };
      int block = -1;
      for (const Key& k : order) {
        if (index(k) / kb != block) {
          if (block >= 0) finish_block();
          block = index(k) / kb;
          std::fill(acc.begin(), acc.end(), 0.0f);
        }
        const KeySpan& sp = spans[k.span];
        const std::size_t at = std::size_t(k.row) * sp.stride;
        const float* v = sp.v + (sp.v ? at : 0);
        if (sp.v_bf16) {  // bf16-stored values (the bf16 cross K/V option): widened exactly
          for (int e = 0; e < d; ++e) widened[std::size_t(e)] = to_f32(sp.v_bf16[at + std::size_t(e)]);
          v = widened.data();
        }
        Base::axpy(weights[i][k.column], v, acc.data(), std::size_t(d));
      }
      if (block >= 0) finish_block();
      round_to_bf16(out, std::size_t(d));
    }
  }

  // Unchanged: the canonical building blocks.
  template <class B>
  static float dot(const float* a, const B* b, std::size_t n) {
    return Base::dot(a, b, n);
  }
  static void tanh_row(const float* x, std::size_t n, float* y) { Base::tanh_row(x, n, y); }

 private:
  static constexpr std::size_t kBlock = 256;
  static constexpr int kPvMatmulQueries = 16;  // fewer queries (a decode step's heads): attention_pv_by_query
};

T5GEMMA2_NAMESPACE_END
