// t5gemma2 — the model as a textbook writes it: START READING HERE (docs/reading-guide.md).
//
// Plain loops over one query, one head, one key at a time; dense visibility predicates instead
// of key intervals; no chunks, batches, threads, SIMD or precision policies. Nothing here is
// fast. What makes it a REFERENCE is that it uses the same scalar helpers that define our
// summation order (ops/reduce.hpp: dot, sum; ops/scalar.hpp: the softmax, norm and GELU of
// Ops<ScalarTarget>), so the fast path (attention.hpp, encoder.hpp, decoder_session.hpp,
// vision.hpp — intervals, row chunks, batches, Highway targets, threads) is tested to give the
// SAME BITS (tests/test_textbook.cpp, F32 policy, f32 and bf16 weights).
//
//   textbook::attention        softmax over the keys a predicate allows, GQA head sharing
//   textbook::encoder_layer    one bidirectional layer: x̂ → q, k, v → attention → sandwich norms
//   textbook::encoder          embeddings → every layer → final norm
//   textbook::DecoderCache     one layer's self keys: all of them, or a ring of the last W
//   textbook::decoder_step     one token of one sequence: merged attention over [self | cross]
//   textbook::siglip_layer     one pre-LayerNorm SigLIP block
//
// Shapes: S encoder tokens, H hidden, n_h query heads, n_kv key/value heads, d head_dim,
// g = n_h / n_kv (GQA group: query head h reads kv head h / g), I intermediate, V vocabulary.
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "t5gemma2/attention.hpp"
#include "t5gemma2/embedding.hpp"
#include "t5gemma2/layers.hpp"
#include "t5gemma2/masks.hpp"
#include "t5gemma2/ops/reduce.hpp"
#include "t5gemma2/ops/scalar.hpp"
#include "t5gemma2/rope.hpp"
#include "t5gemma2/text_weights.hpp"
#include "t5gemma2/vision.hpp"

T5GEMMA2_NAMESPACE_BEGIN
namespace textbook {

using Scalar = Ops<ScalarTarget>;  // the kernels that define the bits

// ---- building blocks -----------------------------------------------------------------------

// y = x · Wᵀ: x [T, in], W [out, in] -> y [T, out]; every output one canonical dot product.
template <class W>
inline Tensor linear(const Tensor& x, const WeightMatrix<W>& w) {
  Tensor y(x.rows, w.rows);
  for (int t = 0; t < x.rows; ++t)
    for (int o = 0; o < w.rows; ++o) y.at(t, o) = dot(x.row(t), w.row(o), std::size_t(w.cols));
  return y;
}

// Gemma's RMSNorm, x · rsqrt(mean(x²) + eps) · (1 + w), over every `w.size()`-wide group of
// each row: the whole row (hidden states) or one head (q_norm, k_norm). Returns a copy.
inline Tensor rms_norm(Tensor x, const WeightVector& w, float eps) {
  for (int t = 0; t < x.rows; ++t)
    for (int g = 0; g < x.cols / int(w.size()); ++g) {
      float* v = x.row(t) + g * int(w.size());
      Scalar::rms_norm(v, w.data(), w.size(), eps, v);
    }
  return x;
}

// Rotary embedding of one head v [d] at `position` (rotate-half pairs j, j + d/2; rope.hpp):
//   v[j] = v[j]·cos − v[j+d/2]·sin,   v[j+d/2] = v[j+d/2]·cos + v[j]·sin,   angle = inv_freq[j]·p
inline void rope(float* v, const std::vector<float>& inv_freq, int position) {
  const int half = int(inv_freq.size());
  for (int j = 0; j < half; ++j) {
    const float angle = inv_freq[std::size_t(j)] * float(position);
    const float c = std::cos(angle), s = std::sin(angle), x1 = v[j], x2 = v[j + half];
    v[j] = x1 * c - x2 * s;
    v[j + half] = x2 * c + x1 * s;
  }
}

// The RoPE table of a layer: sliding layers use rope_local (θ = 10⁴ in the released configs),
// full layers rope_global (θ = 10⁶, inv_freq divided by the linear factor 8); both from config.json.
inline std::vector<float> rope_of_layer(const TextConfig& c, LayerType type) {
  return rope_inv_freq(type == LayerType::kSliding ? c.rope_local : c.rope_global, c.head_dim);
}

// GeGLU feed-forward: down(gelu_tanh(gate(x)) ⊙ up(x)).  x [T, H] -> [T, H]
template <class W>
inline Tensor mlp(const Tensor& x, const MlpWeights<W>& w) {
  Tensor gate = linear(x, w.gate_proj), up = linear(x, w.up_proj);  // [T, I]
  for (std::size_t i = 0; i < gate.data.size(); ++i) gate.data[i] = gelu_tanh(gate.data[i]) * up.data[i];
  return linear(gate, w.down_proj);
}

// h += x
inline void add(Tensor& h, const Tensor& x) {
  for (std::size_t i = 0; i < h.data.size(); ++i) h.data[i] += x.data[i];
}

// ---- attention -------------------------------------------------------------------------------

// q [T, n_h·d], k, v [K, n_kv·d]; visible(t, c): may query row t see key c? -> [T, n_h·d]
// For every query row t and head h: scores over the visible keys IN KEY ORDER, one softmax
// over exactly them, then the weighted sum of their values. The decoder passes its keys as
// [self ; cross] and so gets ONE softmax over both (the merged attention).
template <class Visible>
inline Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, Visible&& visible, const AttentionShape& a) {
  const int d = a.head_dim, group = a.heads / a.kv_heads;
  const float* softcap = a.softcap ? &*a.softcap : nullptr;  // unset for T5Gemma 2
  Tensor out(q.rows, a.heads * d);
  for (int t = 0; t < q.rows; ++t)
    for (int h = 0; h < a.heads; ++h) {
      const int kv = h / group;  // GQA: consecutive query heads share a key/value head
      std::vector<int> keys;     // the keys row t sees
      std::vector<float> p;      // their scores, then their weights
      for (int c = 0; c < k.rows; ++c)
        if (visible(t, c)) {
          keys.push_back(c);
          p.push_back(dot(q.row(t) + h * d, k.row(c) + kv * d, std::size_t(d)));  // q·k
        }
      Scalar::attention_softmax(p.data(), int(p.size()), a.scale, softcap);  // softmax(q·k · scale)
      float* o = out.row(t) + h * d;                                          // o = Σ_c p_c v_c,
      for (std::size_t i = 0; i < keys.size(); ++i)                           // keys in order
        for (int e = 0; e < d; ++e) o[e] = std::fma(p[i], v.row(keys[i])[kv * d + e], o[e]);
    }
  return out;
}

// q = RoPE(q_norm(x̂ Wqᵀ)), k = RoPE(k_norm(x̂ Wkᵀ)), v = x̂ Wvᵀ for rows at `positions` (the
// decoder's cross keys carry no RoPE: cross_keys_values below).
struct QKV {
  Tensor q, k, v;  // [T, n_h·d], [T, n_kv·d], [T, n_kv·d]
};
template <class W>
inline QKV project_qkv(const Tensor& x_hat, const AttentionWeights<W>& w, const TextConfig& c,
                          const std::vector<float>& inv_freq, const std::vector<int>& positions) {
  const float eps = float(c.rms_norm_eps);
  QKV r{rms_norm(linear(x_hat, w.q_proj), w.q_norm, eps), rms_norm(linear(x_hat, w.k_proj), w.k_norm, eps),
           linear(x_hat, w.v_proj)};
  for (std::size_t t = 0; t < positions.size(); ++t) {
    for (int h = 0; h < c.num_heads; ++h) rope(r.q.row(int(t)) + h * c.head_dim, inv_freq, positions[t]);
    for (int h = 0; h < c.num_kv_heads; ++h) rope(r.k.row(int(t)) + h * c.head_dim, inv_freq, positions[t]);
  }
  return r;
}

// ---- encoder ---------------------------------------------------------------------------------

// One encoder layer over all S rows (positions 0..S-1), in place. valid [S]: 0 = padding.
// Key c is visible to query t iff it is not padding and, on sliding layers, inside t's
// bidirectional window (masks.hpp: encoder_window_allows).
template <class W>
inline void encoder_layer(Tensor& h, const TextLayerWeights<W>& w, const TextConfig& c, const std::vector<uint8_t>& valid) {
  const float eps = float(c.rms_norm_eps);
  const bool sliding = w.type == LayerType::kSliding;
  const Tensor x_hat = rms_norm(h, w.pre_self_attn_layernorm, eps);  // [S, H]
  const QKV p = project_qkv(x_hat, w.self_attn, c, rope_of_layer(c, w.type), iota_positions(h.rows));
  const auto visible = [&](int t, int key) {
    return valid[std::size_t(key)] && (!sliding || encoder_window_allows(t, key, c.sliding_window));
  };
  const Tensor heads = attention(p.q, p.k, p.v, visible, attention_shape(c));         // [S, n_h·d]
  add(h, rms_norm(linear(heads, w.self_attn.o_proj), w.post_self_attn_layernorm, eps));  // sandwich
  add(h, rms_norm(mlp(rms_norm(h, w.pre_feedforward_layernorm, eps), w.mlp), w.post_feedforward_layernorm, eps));
}

// embeddings [S, H] (image features already merged) -> E = norm(layers(embeddings)) [S, H]
template <class W>
inline Tensor encoder(Tensor h, const StackWeights<W>& w, const TextConfig& c, const std::vector<uint8_t>& valid) {
  for (const TextLayerWeights<W>& layer : w.layers) encoder_layer(h, layer, c, valid);
  return rms_norm(std::move(h), w.norm, float(c.rms_norm_eps));
}

// ---- decoder: one step of one sequence ------------------------------------------------------

// One decoder layer's self keys/values. Full layers keep every position; sliding layers keep
// the last W in a ring: position p lives in slot p mod W, overwriting position p − W, which no
// later query may see anyway (a query at q sees (q − W, q]).
struct DecoderCache {
  int window = 0;                      // 0: keep everything
  std::vector<std::vector<float>> k, v;  // slots, each [n_kv·d]
  std::vector<int> positions;          // position held by each slot

  void append(const float* k_row, const float* v_row, int width, int position) {
    const std::size_t slot = window > 0 ? std::size_t(position % window) : std::size_t(position);
    if (slot == k.size()) k.emplace_back(), v.emplace_back(), positions.push_back(0);
    k[slot].assign(k_row, k_row + width);
    v[slot].assign(v_row, v_row + width);
    positions[slot] = position;
  }
  // The held keys/values in chronological order (oldest first): k, v [held, n_kv·d].
  KeyValues chronological(int width) const {
    std::vector<std::size_t> order(positions.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return positions[x] < positions[y]; });
    Tensor ks(int(order.size()), width), vs(int(order.size()), width);
    for (std::size_t i = 0; i < order.size(); ++i) {
      std::copy(k[order[i]].begin(), k[order[i]].end(), ks.row(int(i)));
      std::copy(v[order[i]].begin(), v[order[i]].end(), vs.row(int(i)));
    }
    return {.k = ks, .v = vs};
  }
};

// Cross keys/values of one decoder layer, computed once from the encoder output E [S, H]:
// the layer's own Wk, Wv and k_norm, no RoPE.  -> k, v [S, n_kv·d]
template <class W>
inline KeyValues cross_keys_values(const Tensor& E, const AttentionWeights<W>& w, const TextConfig& c) {
  return {.k = rms_norm(linear(E, w.k_proj), w.k_norm, float(c.rms_norm_eps)), .v = linear(E, w.v_proj)};
}

// One decoder layer for the token at `position` (h [1, H]), in place: its keys join `cache`,
// then ONE softmax over [cached self keys ; cross keys] (the merged attention).
template <class W>
inline void decoder_layer_step(Tensor& h, const TextLayerWeights<W>& w, const TextConfig& c, int position, DecoderCache& cache,
                               const KeyValues& cross, const std::vector<uint8_t>& encoder_valid) {
  const float eps = float(c.rms_norm_eps);
  const Tensor x_hat = rms_norm(h, w.pre_self_attn_layernorm, eps);  // [1, H]
  const QKV p = project_qkv(x_hat, w.self_attn, c, rope_of_layer(c, w.type), {position});
  cache.append(p.k.row(0), p.v.row(0), p.k.cols, position);
  const KeyValues self = cache.chronological(p.k.cols);  // [n_self, n_kv·d]
  const int n_self = self.k.rows;
  Tensor k(n_self + cross.k.rows, p.k.cols), v(k.rows, k.cols);  // [self ; cross]
  put_rows(k, 0, self.k);
  put_rows(k, n_self, cross.k);
  put_rows(v, 0, self.v);
  put_rows(v, n_self, cross.v);
  // Every cached self key is visible (causal, and within W on sliding layers: the ring holds
  // no older one); a cross key iff its encoder token is not padding.
  const auto visible = [&](int, int key) { return key < n_self || encoder_valid[std::size_t(key - n_self)] != 0; };
  const Tensor heads = attention(p.q, k, v, visible, attention_shape(c));  // [1, n_h·d]
  add(h, rms_norm(linear(heads, w.self_attn.o_proj), w.post_self_attn_layernorm, eps));
  add(h, rms_norm(mlp(rms_norm(h, w.pre_feedforward_layernorm, eps), w.mlp), w.post_feedforward_layernorm, eps));
}

// The decoder state of one sequence: per layer its self cache and its cross keys/values.
struct DecoderState {
  std::vector<DecoderCache> self;
  std::vector<KeyValues> cross;  // per layer
  std::vector<uint8_t> encoder_valid;
  int position = 0;  // of the next token
};

template <class W>
inline DecoderState start_decoder(const Tensor& E, const std::vector<uint8_t>& encoder_valid, const StackWeights<W>& w,
                                  const TextConfig& c) {
  DecoderState s;
  for (const TextLayerWeights<W>& layer : w.layers) {
    s.self.push_back(DecoderCache{.window = layer.type == LayerType::kSliding ? c.sliding_window : 0});
    s.cross.push_back(cross_keys_values(E, layer.self_attn, c));
  }
  s.encoder_valid = encoder_valid;
  return s;
}

// Feeds `token` at the state's next position -> logits [V] (tied LM head, optional soft-cap).
template <class W>
inline std::vector<float> decoder_step(DecoderState& s, int token, const TextWeights<W>& w, const ModelConfig& mc) {
  const TextConfig& c = mc.decoder;
  Tensor h = embed_tokens({token}, w.embed_tokens, w.eoi_embedding, mc.eoi_token_id);  // [1, H]
  for (std::size_t i = 0; i < w.decoder.layers.size(); ++i)
    decoder_layer_step(h, w.decoder.layers[i], c, s.position, s.self[i], s.cross[i], s.encoder_valid);
  h = rms_norm(std::move(h), w.decoder.norm, float(c.rms_norm_eps));
  Tensor logits = linear(h, w.embed_tokens);  // [1, V]: logits = h · E_tokensᵀ
  if (c.final_logit_softcapping)
    for (float& x : logits.data) x = soft_cap(x, float(*c.final_logit_softcapping));
  ++s.position;
  return logits.data;
}

// ---- SigLIP ----------------------------------------------------------------------------------

// y = x · Wᵀ + b
template <class W>
inline Tensor linear(const Tensor& x, const Linear<W>& l) {
  Tensor y = linear(x, l.weight);
  for (int t = 0; t < y.rows; ++t)
    for (int o = 0; o < y.cols; ++o) y.at(t, o) += l.bias[std::size_t(o)];
  return y;
}

// LayerNorm with weight and bias over each row (two passes: mean, then the centred variance).
inline Tensor layer_norm(Tensor x, const LayerNormWeights& w, float eps) {
  std::vector<float> centered(std::size_t(x.cols));
  for (int t = 0; t < x.rows; ++t)
    Scalar::layer_norm(x.row(t), w.weight.data(), w.bias.data(), std::size_t(x.cols), eps, centered.data());
  return x;
}

// One SigLIP encoder block over the N patch rows h [N, Hv], in place (pre-LayerNorm):
//   h += out_proj(MHA(layer_norm1(h)))     every patch sees every patch, scale d^-0.5
//   h += fc2(gelu_tanh(fc1(layer_norm2(h))))
template <class W>
inline void siglip_layer(Tensor& h, const VisionLayerWeights<W>& w, const VisionConfig& c) {
  const float eps = float(c.layer_norm_eps);
  const Tensor x_hat = layer_norm(h, w.layer_norm1, eps);  // [N, Hv]
  const AttentionShape a = attention_shape(c);
  const auto every_patch = [](int, int) { return true; };
  add(h, linear(attention(linear(x_hat, w.q_proj), linear(x_hat, w.k_proj), linear(x_hat, w.v_proj), every_patch, a), w.out_proj));
  Tensor m = linear(layer_norm(h, w.layer_norm2, eps), w.fc1);  // [N, Iv]
  for (float& x : m.data) x = gelu_tanh(x);
  add(h, linear(m, w.fc2));
}

}  // namespace textbook
T5GEMMA2_NAMESPACE_END
