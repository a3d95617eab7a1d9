// t5gemma2 — the decoder (docs/model.md §5): sandwich layers around the MERGED attention.
//
// merged_attention, one module and one set of weights per layer:
//   q   = RoPE(q_norm(x̂ · Wqᵀ))                       decoder positions
//   k_s = RoPE(k_norm(x̂ · Wkᵀ)),  v_s = x̂ · Wvᵀ        self keys/values
//   k_c = k_norm(E · Wkᵀ),        v_c = E · Wvᵀ        cross keys/values, SAME Wk, Wv, k_norm,
//                                                       NO RoPE; computed once per layer
//   one softmax over [k_s ; k_c] with decoder_merged_mask, then o_proj.
// The teacher-forced pass (decoder_layer, decoder_forward) sees the new rows' own keys as its
// self keys; a generation step (decoder_session.hpp: BatchDecoderSession::step) appends them to
// a KV cache and attends to the cache. Both call merged_attention. The plain one-sequence
// version of a step: textbook.hpp: decoder_layer_step.
#pragma once

#include <string>
#include <vector>

#include "t5gemma2/layers.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// Cross keys/values of one decoder layer from the encoder output E [S, H].
template <class Kernels, class W>
inline KeyValues cross_keys_values(const Tensor& encoder_output, const AttentionWeights<W>& w, float eps, int head_dim) {
  return project_keys_values<Kernels>(encoder_output, w, eps, nullptr, head_dim);
}

// The self keys a layer attends to: blocks in chronological order and their positions.
struct SelfKeys {
  std::vector<KeyValueBlock> blocks;
  std::vector<int> positions;
};

// q [T, n_h·d], self keys (T_self rows over the blocks), cross keys/values, the visible keys
// of [self ; cross] per query row -> attention heads [T, n_h·d] (before o_proj)
template <class Kernels>
inline Tensor merged_attention(const Tensor& q, const SelfKeys& self, const KeyValues& cross, const DecoderVisibility& visible,
                               const AttentionShape& a) {
  std::vector<KeyValueBlock> blocks = self.blocks;
  blocks.push_back(cross.block());
  return attention<Kernels>(q, blocks, visible, a);
}

// One decoder layer over the new tokens at `positions` (h [T, H], one sequence, teacher-forced:
// the self keys are these rows' own keys), in place.
template <class Kernels, class W>
inline void decoder_layer(Tensor& h, const TextLayerWeights<W>& layer, const TextConfig& c, const RopeAngles& angles,
                          const std::vector<int>& positions, const KeyValues& cross, const std::vector<uint8_t>& encoder_valid) {
  const float eps = float(c.rms_norm_eps);
  sandwich_layer<Kernels>(h, layer, eps, [&](const Tensor& x_hat) {
    const Tensor q = project_queries<Kernels>(x_hat, layer.self_attn, eps, angles, c.head_dim);             // [T, n_h·d]
    const KeyValues kv = project_keys_values<Kernels>(x_hat, layer.self_attn, eps, &angles, c.head_dim);   // [T, n_kv·d]
    const SelfKeys self{{kv.block()}, positions};
    const DecoderVisibility visible(layer.type, positions, self.positions, encoder_valid, c.sliding_window);
    return output_projection<Kernels>(merged_attention<Kernels>(q, self, cross, visible, attention_shape(c)), layer.self_attn);
  });
}

// Cross keys/values of every decoder layer (computed once per encoder output), kept as f32 —
// or as bf16 when `bf16` is set: half the bytes each step streams over a long input, but no
// longer bit-exact with the reference (keys and values rounded to 8 significant bits).
template <class Kernels, class W>
inline std::vector<KeyValues> all_cross_keys_values(const Tensor& encoder_output, const StackWeights<W>& w, const TextConfig& c,
                                                    bool bf16 = false) {
  std::vector<KeyValues> cross;
  for (const auto& layer : w.layers) {
    KeyValues kv = cross_keys_values<Kernels>(encoder_output, layer.self_attn, float(c.rms_norm_eps), c.head_dim);
    cross.push_back(bf16 ? to_bf16_storage(std::move(kv)) : std::move(kv));
  }
  return cross;
}

// Teacher-forced decoder: embeddings [T, H] of positions 0..T-1, encoder output E [S, H] and
// its padding row -> final hidden state [T, H] (after the final norm).
template <class Kernels, class W>
inline Tensor decoder_forward(Tensor h, const Tensor& encoder_output, const std::vector<uint8_t>& encoder_valid,
                              const StackWeights<W>& w, const TextConfig& c, const Rope& rope, const Observer& observe = {}) {
  check(encoder_valid.size() == std::size_t(encoder_output.rows), [&] {
    return "decode: the encoder padding mask has " + std::to_string(encoder_valid.size()) + " entries for " +
           std::to_string(encoder_output.rows) + " encoder rows";
  });
  const std::vector<int> positions = iota_positions(h.rows);
  const RopeAngles local = rope_angles(rope.local_inv_freq, positions);
  const RopeAngles global = rope_angles(rope.global_inv_freq, positions);
  if (observe.mask) {  // dense masks only for an observer that asks
    observe("decoder.mask.sliding_attention",
            decoder_merged_mask(LayerType::kSliding, positions, positions, encoder_valid, c.sliding_window));
    observe("decoder.mask.full_attention", decoder_merged_mask(LayerType::kFull, positions, positions, encoder_valid, c.sliding_window));
  }
  observe("decoder.embeddings", h);

  const std::vector<KeyValues> cross = all_cross_keys_values<Kernels>(encoder_output, w, c);  // per layer, once
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const TextLayerWeights<W>& layer = w.layers[i];
    decoder_layer<Kernels>(h, layer, c, layer.type == LayerType::kSliding ? local : global, positions, cross[i], encoder_valid);
    observe("decoder.layer" + std::to_string(i), h);
  }
  rms_norm_in_place<Kernels>(h, w.norm, float(c.rms_norm_eps));
  observe("decoder.last_hidden_state", h);
  return h;
}

// Tied LM head: logits = h · Eᵀ, then cap·tanh(logits/cap) if final_logit_softcapping is set.
// h [T, H] -> [T, V]
template <class Kernels, class W>
inline Tensor lm_head(const Tensor& h, const WeightMatrix<W>& embed_tokens, const TextConfig& c) {
  Tensor logits;
  Ops<Kernels>::matmul(h, embed_tokens, logits);
  if (c.final_logit_softcapping) Ops<Kernels>::soft_cap(logits.data.data(), logits.data.size(), float(*c.final_logit_softcapping));
  return logits;
}

T5GEMMA2_NAMESPACE_END
