// t5gemma2 — the pieces every text layer is made of (docs/model.md §3, §5).
//
//   project_queries     q = RoPE(q_norm(x̂ · Wqᵀ))                        [T, n_h·d]
//   project_keys_values k = RoPE(k_norm(x̂ · Wkᵀ)), v = x̂ · Wvᵀ          [T, n_kv·d] each
//                       (no RoPE for the decoder's cross keys: pass no angles)
//   sandwich_layer      h += post_attn_norm(attn(pre_attn_norm(h)))
//                       h += post_ffn_norm(mlp(pre_ffn_norm(h)))
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "t5gemma2/attention.hpp"
#include "t5gemma2/mlp.hpp"
#include "t5gemma2/norm.hpp"
#include "t5gemma2/ops/parallel.hpp"
#include "t5gemma2/progress.hpp"
#include "t5gemma2/rope.hpp"
#include "t5gemma2/text_weights.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct KeyValues {
  Tensor k{};  // [K, n_kv·d]
  Tensor v{};  // [K, n_kv·d]
  // The same rounded to bf16 instead (to_bf16_storage: the decoder's cross K/V on request);
  // k and v are then empty.
  Bf16Tensor k_bf16{}, v_bf16{};
  bool bf16 = false;

  KeyValueBlock block() const {
    return bf16 ? KeyValueBlock{.k = nullptr, .v = nullptr, .k_bf16 = &k_bf16, .v_bf16 = &v_bf16} : KeyValueBlock{.k = &k, .v = &v};
  }
};

// Keys and values kept as bf16 (round to nearest even): half the bytes every decoder step reads.
inline KeyValues to_bf16_storage(KeyValues kv) {
  KeyValues out;
  out.k_bf16 = to_bf16(kv.k);
  out.v_bf16 = to_bf16(kv.v);
  out.bf16 = true;
  return out;
}

// x̂ [T, H] -> q [T, n_h·d]
template <class Kernels, class W>
inline Tensor project_queries(const Tensor& x_hat, const AttentionWeights<W>& w, float eps, const RopeAngles& rope,
                              int head_dim) {
  Tensor q;
  Ops<Kernels>::matmul(x_hat, w.q_proj, q);
  rms_norm_in_place<Kernels>(q, w.q_norm, eps);
  apply_rope_rows<Kernels>(q, rope, head_dim);
  return q;
}

// x̂ [T, H] -> k, v [T, n_kv·d]; `rope` null = keys without position (cross keys).
template <class Kernels, class W>
inline KeyValues project_keys_values(const Tensor& x_hat, const AttentionWeights<W>& w, float eps, const RopeAngles* rope,
                                     int head_dim) {
  KeyValues kv;
  Ops<Kernels>::matmul(x_hat, w.k_proj, kv.k);
  Ops<Kernels>::matmul(x_hat, w.v_proj, kv.v);
  rms_norm_in_place<Kernels>(kv.k, w.k_norm, eps);
  if (rope) apply_rope_rows<Kernels>(kv.k, *rope, head_dim);
  return kv;
}

// Heads concatenated [T, n_h·d] -> [T, H]
template <class Kernels, class W>
inline Tensor output_projection(const Tensor& heads, const AttentionWeights<W>& w) {
  Tensor y;
  Ops<Kernels>::matmul(heads, w.o_proj, y);
  return y;
}

// h += x (residual connection), elementwise.
template <class Kernels>
inline void add_in_place(Tensor& h, const Tensor& x) {
  parallel_elementwise(h.data.size(), 1, [&](std::size_t b, std::size_t e) { Ops<Kernels>::add(x.data.data() + b, h.data.data() + b, e - b); });
}

// One encoder or decoder layer around its attention: `attend(x̂) -> [T, H]`.
template <class Kernels, class W, class Attend>
inline void sandwich_layer(Tensor& h, const TextLayerWeights<W>& w, float eps, Attend&& attend) {
  Tensor a = attend(rms_norm<Kernels>(h, w.pre_self_attn_layernorm, eps));
  rms_norm_in_place<Kernels>(a, w.post_self_attn_layernorm, eps);
  add_in_place<Kernels>(h, a);
  Tensor m = geglu_mlp<Kernels>(rms_norm<Kernels>(h, w.pre_feedforward_layernorm, eps), w.mlp);
  rms_norm_in_place<Kernels>(m, w.post_feedforward_layernorm, eps);
  add_in_place<Kernels>(h, m);
}

// Positions 0, 1, ..., n-1.
inline std::vector<int> iota_positions(int n, int first = 0) {
  std::vector<int> p(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) p[std::size_t(i)] = first + i;
  return p;
}

// Observes named intermediate tensors and masks of a forward pass (t5gemma2-dump, tests), and
// its progress (the CLI's progress bar).
struct Observer {
  std::function<void(const std::string&, const Tensor&)> tensor;
  std::function<void(const std::string&, const Mask&)> mask;
  std::function<void(const Progress&)> progress;

  void operator()(const std::string& name, const Tensor& t) const {
    if (tensor) tensor(name, t);
  }
  void operator()(const std::string& name, const Mask& m) const {
    if (mask) mask(name, m);
  }
  void operator()(const Progress& p) const {
    if (progress) progress(p);
  }
};

T5GEMMA2_NAMESPACE_END
