// t5gemma2 — the text weights (docs/model.md §2) and their loading from a Checkpoint.
//
// Canonical names (after Checkpoint's normalisation), P = encoder. or decoder.:
//   encoder.embed_tokens.weight [V, H], encoder.embed_tokens.eoi_embedding [H]
//   P layers.{i}.self_attn.{q,k,v,o}_proj.weight, .self_attn.{q,k}_norm.weight [d]
//   P layers.{i}.{pre,post}_self_attn_layernorm.weight, {pre,post}_feedforward_layernorm.weight [H]
//   P layers.{i}.mlp.{gate,up,down}_proj.weight, P norm.weight [H]
// Tied copies that may or may not be stored (decoder.embed_tokens.*, lm_head.out_proj.weight)
// are accepted when present; the encoder's tensors are always the ones used.
#pragma once

#include <string>
#include <vector>

#include "t5gemma2/checkpoint.hpp"
#include "t5gemma2/config.hpp"
#include "t5gemma2/mlp.hpp"

T5GEMMA2_NAMESPACE_BEGIN

template <class W>
struct AttentionWeights {
  WeightMatrix<W> q_proj;  // [n_h·d, H]
  WeightMatrix<W> k_proj;  // [n_kv·d, H]
  WeightMatrix<W> v_proj;  // [n_kv·d, H]
  WeightMatrix<W> o_proj;  // [H, n_h·d]
  WeightVector q_norm;     // [d]
  WeightVector k_norm;     // [d]
};

template <class W>
struct TextLayerWeights {
  LayerType type = LayerType::kSliding;
  WeightVector pre_self_attn_layernorm;     // [H]
  AttentionWeights<W> self_attn;
  WeightVector post_self_attn_layernorm;    // [H]
  WeightVector pre_feedforward_layernorm;   // [H]
  MlpWeights<W> mlp;
  WeightVector post_feedforward_layernorm;  // [H]
};

template <class W>
struct StackWeights {
  std::vector<TextLayerWeights<W>> layers;
  WeightVector norm;  // final RMSNorm [H]
};

template <class W>
struct TextWeights {
  WeightMatrix<W> embed_tokens;  // [V, H], shared by encoder, decoder and the LM head
  WeightVector eoi_embedding;    // [H]
  StackWeights<W> encoder;
  StackWeights<W> decoder;
};

// fn(v) for every WeightVector (norm weights, the eoi embedding).
template <class W, class Fn>
inline void for_each_vector(TextWeights<W>& t, Fn&& fn) {
  fn(t.eoi_embedding);
  for (StackWeights<W>* s : {&t.encoder, &t.decoder}) {
    for (TextLayerWeights<W>& l : s->layers)
      for (WeightVector* v : {&l.pre_self_attn_layernorm, &l.self_attn.q_norm, &l.self_attn.k_norm, &l.post_self_attn_layernorm,
                              &l.pre_feedforward_layernorm, &l.post_feedforward_layernorm})
        fn(*v);
    fn(s->norm);
  }
}

template <class W>
inline StackWeights<W> load_stack(Checkpoint& ckpt, const std::string& prefix, const TextConfig& c) {
  const int h = c.hidden_size, d = c.head_dim, q_width = c.num_heads * d, kv_width = c.num_kv_heads * d;
  StackWeights<W> s;
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = prefix + "layers." + std::to_string(i) + ".";
    TextLayerWeights<W> l;
    l.type = c.layer_types[std::size_t(i)];
    l.pre_self_attn_layernorm = ckpt.vector(p + "pre_self_attn_layernorm.weight", {h});
    l.self_attn.q_proj = ckpt.matrix<W>(p + "self_attn.q_proj.weight", q_width, h);
    l.self_attn.k_proj = ckpt.matrix<W>(p + "self_attn.k_proj.weight", kv_width, h);
    l.self_attn.v_proj = ckpt.matrix<W>(p + "self_attn.v_proj.weight", kv_width, h);
    l.self_attn.o_proj = ckpt.matrix<W>(p + "self_attn.o_proj.weight", h, q_width);
    l.self_attn.q_norm = ckpt.vector(p + "self_attn.q_norm.weight", {d});
    l.self_attn.k_norm = ckpt.vector(p + "self_attn.k_norm.weight", {d});
    l.post_self_attn_layernorm = ckpt.vector(p + "post_self_attn_layernorm.weight", {h});
    l.pre_feedforward_layernorm = ckpt.vector(p + "pre_feedforward_layernorm.weight", {h});
    l.mlp.gate_proj = ckpt.matrix<W>(p + "mlp.gate_proj.weight", c.intermediate_size, h);
    l.mlp.up_proj = ckpt.matrix<W>(p + "mlp.up_proj.weight", c.intermediate_size, h);
    l.mlp.down_proj = ckpt.matrix<W>(p + "mlp.down_proj.weight", h, c.intermediate_size);
    l.post_feedforward_layernorm = ckpt.vector(p + "post_feedforward_layernorm.weight", {h});
    s.layers.push_back(std::move(l));
  }
  s.norm = ckpt.vector(prefix + "norm.weight", {h});
  return s;
}

// with_decoder = false: an encoder-only load; the decoder's tensors are skipped unread.
template <class W>
inline TextWeights<W> load_text_weights(Checkpoint& ckpt, const ModelConfig& c, bool with_decoder = true) {
  const int v = c.encoder.vocab_size, h = c.encoder.hidden_size;
  TextWeights<W> t;
  t.embed_tokens = ckpt.matrix<W>("encoder.embed_tokens.weight", v, h);
  t.eoi_embedding = ckpt.vector("encoder.embed_tokens.eoi_embedding", {h});
  for (const char* tied : {"decoder.embed_tokens.weight", "lm_head.out_proj.weight", "lm_head.weight"})
    ckpt.accept_optional(tied, {v, h});
  ckpt.accept_optional("decoder.embed_tokens.eoi_embedding", {h});
  t.encoder = load_stack<W>(ckpt, "encoder.", c.encoder);
  if (with_decoder) t.decoder = load_stack<W>(ckpt, "decoder.", c.decoder);
  else ckpt.skip_prefix("decoder.");
  return t;
}

T5GEMMA2_NAMESPACE_END
