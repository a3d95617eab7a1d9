// t5gemma2 — attention probabilities of one layer, for looking at (t5gemma2-dump
// --attention-png, docs/model.md §10). Not used by the forward pass.
//
// Recomputed from the layer's input h (the previous layer's output, which an Observer sees) with
// the model's own projections, and the dense masks of masks.hpp:
//   encoder layer  P[h] = softmax_k( q_h·k_{h/g} · scale  over encoder_mask(type) )      [S, S]
//   decoder layer  P[h] = softmax_k( q_h·[k_self ; k_cross] · scale over decoder_merged_mask )
//                                                                                   [T, T + S]
// Masked keys get probability 0. Plain loops in f32/f64: a picture, not a reference value.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "t5gemma2/decoder.hpp"
#include "t5gemma2/layers.hpp"
#include "t5gemma2/masks.hpp"
#include "t5gemma2/norm.hpp"
#include "t5gemma2/rope.hpp"

T5GEMMA2_NAMESPACE_BEGIN

namespace attention_maps_detail {

// q [Q, n_h·d], k [K, n_kv·d] -> per head [Q, K] probabilities under `mask` [Q, K].
inline std::vector<Tensor> probabilities(const Tensor& q, const Tensor& k, const Mask& mask, const TextConfig& c) {
  const int d = c.head_dim, group = c.num_heads / c.num_kv_heads;
  const double scale = std::pow(c.query_pre_attn_scalar, -0.5);
  std::vector<Tensor> out;
  for (int h = 0; h < c.num_heads; ++h) {
    Tensor p(q.rows, k.rows);
    for (int i = 0; i < q.rows; ++i) {
      std::vector<double> s(std::size_t(k.rows), -INFINITY);
      double m = -INFINITY;
      for (int j = 0; j < k.rows; ++j) {
        if (!mask.at(i, j)) continue;
        double dot = 0;
        for (int x = 0; x < d; ++x) dot += double(q.row(i)[h * d + x]) * double(k.row(j)[(h / group) * d + x]);
        s[std::size_t(j)] = dot * scale;
        m = std::max(m, s[std::size_t(j)]);
      }
      double total = 0;
      for (double& v : s) total += v = std::isinf(v) ? 0.0 : std::exp(v - m);
      for (int j = 0; j < k.rows; ++j) p.row(i)[j] = total > 0 ? float(s[std::size_t(j)] / total) : 0.0f;
    }
    out.push_back(std::move(p));
  }
  return out;
}

inline std::vector<int> positions(int n) {
  std::vector<int> p(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) p[std::size_t(i)] = i;
  return p;
}

}  // namespace attention_maps_detail

// Encoder layer `layer`, given its input [S, H] and the padding row: per head [S, S].
template <class Model>
inline std::vector<Tensor> encoder_attention_maps(const Model& m, const Tensor& input, const std::vector<uint8_t>& valid, int layer) {
  using Kernels = typename Model::Kernels;
  const TextConfig& c = m.config().encoder;
  check(layer >= 0 && layer < c.num_layers, "encoder_attention_maps: no such layer");
  const auto& w = m.text_weights().encoder.layers[std::size_t(layer)];
  const float eps = float(c.rms_norm_eps);
  const Tensor x_hat = rms_norm<Kernels>(input, w.pre_self_attn_layernorm, eps);  // [S, H]
  const RopeAngles angles = rope_angles(m.encoder_rope().inv_freq(w.type), attention_maps_detail::positions(input.rows));
  const Tensor q = project_queries<Kernels>(x_hat, w.self_attn, eps, angles, c.head_dim);          // [S, n_h·d]
  const KeyValues kv = project_keys_values<Kernels>(x_hat, w.self_attn, eps, &angles, c.head_dim);  // [S, n_kv·d]
  return attention_maps_detail::probabilities(q, kv.k, encoder_mask(w.type, valid, c.sliding_window), c);
}

// Decoder layer `layer` (teacher-forced), given its input [T, H], the encoder output [S, H] and
// its padding row: per head [T, T + S] — the merged key list, self keys first.
template <class Model>
inline std::vector<Tensor> decoder_attention_maps(const Model& m, const Tensor& input, const Tensor& encoder_output,
                                                  const std::vector<uint8_t>& encoder_valid, int layer) {
  using Kernels = typename Model::Kernels;
  const TextConfig& c = m.config().decoder;
  check(layer >= 0 && layer < c.num_layers, "decoder_attention_maps: no such layer");
  const auto& w = m.text_weights().decoder.layers[std::size_t(layer)];
  const float eps = float(c.rms_norm_eps);
  const std::vector<int> pos = attention_maps_detail::positions(input.rows);
  const Tensor x_hat = rms_norm<Kernels>(input, w.pre_self_attn_layernorm, eps);  // [T, H]
  const RopeAngles angles = rope_angles(m.decoder_rope().inv_freq(w.type), pos);
  const Tensor q = project_queries<Kernels>(x_hat, w.self_attn, eps, angles, c.head_dim);             // [T, n_h·d]
  const KeyValues self = project_keys_values<Kernels>(x_hat, w.self_attn, eps, &angles, c.head_dim);   // [T, n_kv·d]
  const KeyValues cross = cross_keys_values<Kernels>(encoder_output, w.self_attn, eps, c.head_dim);    // [S, n_kv·d]
  Tensor keys(self.k.rows + cross.k.rows, self.k.cols);                                               // [T + S, n_kv·d]
  put_rows(keys, 0, self.k);
  put_rows(keys, self.k.rows, cross.k);
  return attention_maps_detail::probabilities(q, keys, decoder_merged_mask(w.type, pos, pos, encoder_valid, c.sliding_window), c);
}

T5GEMMA2_NAMESPACE_END
