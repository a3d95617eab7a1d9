// t5gemma2 — the decoder (spec §4): sandwich layers around the MERGED attention.
//
// merged_attention, one module and one set of weights per layer:
//   q   = RoPE(q_norm(x̂ · Wqᵀ))                       decoder positions
//   k_s = RoPE(k_norm(x̂ · Wkᵀ)),  v_s = x̂ · Wvᵀ        self keys/values
//   k_c = k_norm(E · Wkᵀ),        v_c = E · Wvᵀ        cross keys/values, SAME Wk, Wv, k_norm,
//                                                       NO RoPE; computed once per layer
//   one softmax over [k_s ; k_c] with decoder_merged_mask, then o_proj.
#pragma once

#include <string>
#include <vector>

#include "t5gemma2/layers.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// Cross keys/values of one decoder layer from the encoder output E [S, H].
template <class Target, class W>
inline KeyValues cross_keys_values(const Tensor& encoder_output, const AttentionWeights<W>& w, float eps, int head_dim) {
  return project_keys_values<Target>(encoder_output, w, eps, nullptr, head_dim);
}

// q [T, n_h·d], self and cross keys/values, mask [T, T_self + S] -> [T, H]
template <class Target, class W>
inline Tensor merged_attention(const Tensor& q, const KeyValues& self, const KeyValues& cross, const Mask& mask,
                               const AttentionWeights<W>& w, const AttentionShape& a) {
  return output_projection<Target>(attention<Target>(q, {{&self.k, &self.v}, {&cross.k, &cross.v}}, mask, a), w);
}

// Teacher-forced decoder: embeddings [T, H] of positions 0..T-1, encoder output E [S, H] and
// its padding row -> final hidden state [T, H] (after the final norm).
template <class Target, class W>
inline Tensor decoder_forward(Tensor h, const Tensor& encoder_output, const std::vector<uint8_t>& encoder_valid,
                              const StackWeights<W>& w, const TextConfig& c, const Rope& rope, const Observer& observe = {}) {
  const AttentionShape a = attention_shape(c);
  const float eps = float(c.rms_norm_eps);
  const std::vector<int> positions = iota_positions(h.rows);
  const RopeAngles local = rope_angles(rope.local_inv_freq, positions);
  const RopeAngles global = rope_angles(rope.global_inv_freq, positions);
  const Mask window_mask = decoder_merged_mask(LayerType::kSliding, positions, positions, encoder_valid, c.sliding_window);
  const Mask full_mask = decoder_merged_mask(LayerType::kFull, positions, positions, encoder_valid, c.sliding_window);
  observe("decoder.mask.sliding_attention", window_mask);
  observe("decoder.mask.full_attention", full_mask);
  observe("decoder.embeddings", h);

  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const TextLayerWeights<W>& layer = w.layers[i];
    const bool sliding = layer.type == LayerType::kSliding;
    const RopeAngles& angles = sliding ? local : global;
    const KeyValues cross = cross_keys_values<Target>(encoder_output, layer.self_attn, eps, a.head_dim);
    sandwich_layer<Target>(h, layer, eps, [&](const Tensor& x_hat) {
      const Tensor q = project_queries<Target>(x_hat, layer.self_attn, eps, angles, a.head_dim);
      const KeyValues self = project_keys_values<Target>(x_hat, layer.self_attn, eps, &angles, a.head_dim);
      return merged_attention<Target>(q, self, cross, sliding ? window_mask : full_mask, layer.self_attn, a);
    });
    observe("decoder.layer" + std::to_string(i), h);
  }
  rms_norm_groups(h, w.norm, eps);
  observe("decoder.last_hidden_state", h);
  return h;
}

// Tied LM head: logits = h · Eᵀ, then cap·tanh(logits/cap) if final_logit_softcapping is set.
// h [T, H] -> [T, V]
template <class Target, class W>
inline Tensor lm_head(const Tensor& h, const WeightMatrix<W>& embed_tokens, const TextConfig& c) {
  Tensor logits;
  Ops<Target>::matmul(h, embed_tokens, logits);
  if (c.final_logit_softcapping) {
    const float cap = float(*c.final_logit_softcapping);
    for (float& x : logits.data) x = soft_cap(x, cap);
  }
  return logits;
}

T5GEMMA2_NAMESPACE_END
