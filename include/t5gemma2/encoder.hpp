// t5gemma2 — the encoder text stack (spec §3.5–3.8): bidirectional attention with
// per-layer-type masks and RoPE tables, sandwich layers, final RMSNorm.
//
//   h = embeddings (image features already merged at the image-token rows)
//   for each layer: h = sandwich_layer(h, encoder_self_attention)
//   E = rms_norm(h, encoder.norm)            -> [S, H], read by every decoder layer
#pragma once

#include <string>
#include <vector>

#include "t5gemma2/layers.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// x̂ [S, H] -> [S, H]
template <class Target, class W>
inline Tensor encoder_self_attention(const Tensor& x_hat, const AttentionWeights<W>& w, const AttentionShape& a, float eps,
                                     const RopeAngles& rope, const EncoderVisibility& visible) {
  const Tensor q = project_queries<Target>(x_hat, w, eps, rope, a.head_dim);
  const KeyValues kv = project_keys_values<Target>(x_hat, w, eps, &rope, a.head_dim);
  return output_projection<Target>(attention<Target>(q, {{&kv.k, &kv.v}}, visible, a), w);
}

// embeddings [S, H], key_valid [S] (attention_mask) -> E [S, H]
template <class Target, class W>
inline Tensor encoder_forward(Tensor h, const std::vector<uint8_t>& key_valid, const StackWeights<W>& w,
                              const TextConfig& c, const Rope& rope, const Observer& observe = {}) {
  const AttentionShape a = attention_shape(c);
  const float eps = float(c.rms_norm_eps);
  const std::vector<int> positions = iota_positions(h.rows);  // 0..S-1, padding or not (spec §3.3)
  const RopeAngles local = rope_angles(rope.local_inv_freq, positions);
  const RopeAngles global = rope_angles(rope.global_inv_freq, positions);
  const EncoderVisibility window_keys = encoder_visibility(LayerType::kSliding, key_valid, c.sliding_window);
  const EncoderVisibility all_keys = encoder_visibility(LayerType::kFull, key_valid, c.sliding_window);
  if (observe.mask) {  // dense [S, S] masks only for an observer that asks (dump tool, tests)
    observe("encoder.mask.sliding_attention", encoder_window_mask(key_valid, c.sliding_window));
    observe("encoder.mask.full_attention", encoder_full_mask(key_valid));
  }
  observe("encoder.embeddings", h);

  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const TextLayerWeights<W>& layer = w.layers[i];
    const bool sliding = layer.type == LayerType::kSliding;
    sandwich_layer<Target>(h, layer, eps, [&](const Tensor& x_hat) {
      return encoder_self_attention<Target>(x_hat, layer.self_attn, a, eps, sliding ? local : global,
                                            sliding ? window_keys : all_keys);
    });
    observe("encoder.layer" + std::to_string(i), h);
  }
  rms_norm_groups<Target>(h, w.norm, eps);
  observe("encoder.last_hidden_state", h);
  return h;
}

T5GEMMA2_NAMESPACE_END
