// t5gemma2 — the encoder text stack (docs/model.md §4): bidirectional attention with
// per-layer-type masks and RoPE tables, sandwich layers, final RMSNorm. The same layer without
// chunking, in plain loops: textbook.hpp: encoder_layer (tested bit-identical to this file).
//
//   h = embeddings (image features already merged at the image-token rows)
//   for each layer: h = encoder_layer(h)     (sandwich_layer around self-attention)
//   E = rms_norm(h, encoder.norm)            -> [S, H], read by every decoder layer
//
// Long inputs (to 128K tokens) in bounded memory: everything in a layer but attention is
// row-local, so a layer runs in two passes over chunks of `chunk_rows` rows —
//   1. keys/values of every row   k, v [S, n_kv·d]   (any query may see any key)
//   2. per chunk: queries, attention over the visible keys, o_proj, residual, MLP
// The largest buffers are then h [S, H] and k, v [S, n_kv·d]; the MLP's [rows, I] intermediates,
// the queries and the RoPE tables exist for one chunk at a time. The price: x̂ =
// pre_self_attn_layernorm(h) is computed twice per row (once per pass) instead of being kept
// as another [S, H] buffer — the same bits both times. Every kernel computes each output element
// on its own (ops/scalar.hpp), so the chunk size changes no bit of the result
// (tests/test_long_context.cpp checks chunk_rows = 1, 7, 64, 499 and S).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "t5gemma2/layers.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// Rows per chunk by default: the MLP intermediates of a chunk are 2 × 512 × I floats (8 MB for
// the 270m preset), and 512 rows still fill the matmul's row tiles.
inline constexpr int kEncoderChunkRows = 512;

// fn(begin, end) for consecutive row ranges of at most `chunk` rows covering [0, rows).
template <class Fn>
inline void for_row_chunks(int rows, int chunk, Fn&& fn) {
  for (int r0 = 0; r0 < rows; r0 += chunk) fn(r0, std::min(rows, r0 + chunk));
}

// RoPE angles of rows begin..end-1, whose positions are positions[begin..end).
inline RopeAngles rope_angles_of_rows(const std::vector<float>& inv_freq, const std::vector<int>& positions, int begin, int end) {
  return rope_angles(inv_freq, std::vector<int>(positions.begin() + begin, positions.begin() + end));
}

// One encoder layer over h [S, H], in place. Row r sits at positions[r] and sees the keys
// visible(r, ·) lists (one sequence: positions 0..S-1; a stack of sequences: each row its own).
template <class Kernels, class W, class Visible>
inline void encoder_layer(Tensor& h, const TextLayerWeights<W>& layer, const AttentionShape& a, float eps,
                          const std::vector<float>& inv_freq, const Visible& visible, const std::vector<int>& positions,
                          int chunk_rows, const std::function<void(int pass, int rows_done)>& on_chunk) {
  const AttentionWeights<W>& w = layer.self_attn;
  const int S = h.rows, kv_width = a.kv_heads * a.head_dim;

  // Pass 1: keys and values of every row.
  KeyValues kv;  // [S, n_kv·d] each
  kv.k = Tensor(S, kv_width);
  kv.v = Tensor(S, kv_width);
  for_row_chunks(S, chunk_rows, [&](int r0, int r1) {
    const Tensor x_hat = rms_norm<Kernels>(row_range(h, r0, r1), layer.pre_self_attn_layernorm, eps);  // [n, H]
    const RopeAngles rope = rope_angles_of_rows(inv_freq, positions, r0, r1);
    const KeyValues part = project_keys_values<Kernels>(x_hat, w, eps, &rope, a.head_dim);  // [n, n_kv·d]
    put_rows(kv.k, r0, part.k);
    put_rows(kv.v, r0, part.v);
    if (on_chunk) on_chunk(1, r1);
  });

  // Pass 2: the rest of the layer, chunk by chunk (rows r0..r1-1 are queries r0..r1-1).
  for_row_chunks(S, chunk_rows, [&](int r0, int r1) {
    Tensor x = row_range(h, r0, r1);  // [n, H]
    sandwich_layer<Kernels>(x, layer, eps, [&](const Tensor& x_hat) {
      const RopeAngles rope = rope_angles_of_rows(inv_freq, positions, r0, r1);
      const Tensor q = project_queries<Kernels>(x_hat, w, eps, rope, a.head_dim);  // [n, n_h·d]
      const auto visible_to_row = [&](int t, std::vector<KeyInterval>& out) { visible(r0 + t, out); };
      return output_projection<Kernels>(attention<Kernels>(q, {{&kv.k, &kv.v}}, visible_to_row, a), w);
    });
    put_rows(h, r0, x);
    if (on_chunk) on_chunk(2, r1);
  });
}

// The encoder stack over rows at `positions` that see the keys window_keys (sliding layers) or
// all_keys (full layers) list: embeddings [S, H] -> E [S, H]. encoder_forward and
// encoder_forward_stacked below say what the rows are.
template <class Kernels, class W, class Visible>
inline Tensor encoder_stack(Tensor h, const Visible& window_keys, const Visible& all_keys, const std::vector<int>& positions,
                            const StackWeights<W>& w, const TextConfig& c, const Rope& rope, const Observer& observe,
                            int chunk_rows) {
  check(chunk_rows > 0, "encoder_forward: chunk_rows must be positive");
  const AttentionShape a = attention_shape(c);
  const float eps = float(c.rms_norm_eps);
  std::vector<LayerType> types;
  for (const auto& layer : w.layers) types.push_back(layer.type);
  EncoderProgress progress(observe.progress, c, types, h.rows);  // reports only to an observer that asks
  observe("encoder.embeddings", h);
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const TextLayerWeights<W>& layer = w.layers[i];
    const auto& visible = layer.type == LayerType::kSliding ? window_keys : all_keys;
    encoder_layer<Kernels>(h, layer, a, eps, rope.inv_freq(layer.type), visible, positions, chunk_rows, progress.layer(int(i)));
    observe("encoder.layer" + std::to_string(i), h);
  }
  rms_norm_in_place<Kernels>(h, w.norm, eps);
  observe("encoder.last_hidden_state", h);
  return h;
}

// embeddings [S, H], key_valid [S] (attention_mask) -> E [S, H]
template <class Kernels, class W>
inline Tensor encoder_forward(Tensor h, const std::vector<uint8_t>& key_valid, const StackWeights<W>& w,
                              const TextConfig& c, const Rope& rope, const Observer& observe = {},
                              int chunk_rows = kEncoderChunkRows) {
  check(int(key_valid.size()) == h.rows, "encoder_forward: attention mask length differs from the number of tokens");
  if (observe.mask) {  // dense [S, S] masks only for an observer that asks (dump tool, tests)
    observe("encoder.mask.sliding_attention", encoder_window_mask(key_valid, c.sliding_window));
    observe("encoder.mask.full_attention", encoder_full_mask(key_valid));
  }
  const int S = h.rows;  // positions 0..S-1, padding or not (docs/model.md §3)
  return encoder_stack<Kernels>(std::move(h), encoder_visibility(LayerType::kSliding, key_valid, c.sliding_window),
                                      encoder_visibility(LayerType::kFull, key_valid, c.sliding_window), iota_positions(S), w, c,
                                      rope, observe, chunk_rows);
}

// Several sequences' embeddings stacked into one [Σ S_b, H] -> their outputs, stacked likewise.
// Every linear layer runs once over all the rows (short texts: one pass over the weights instead
// of one per text); each row takes its own sequence's position and sees only its own sequence's
// keys, and every kernel computes a row on its own: each sequence gets the bits it gets alone.
template <class Kernels, class W>
inline Tensor encoder_forward_stacked(Tensor h, const std::vector<std::vector<uint8_t>>& key_valid, const StackWeights<W>& w,
                                      const TextConfig& c, const Rope& rope, int chunk_rows = kEncoderChunkRows) {
  StackedVisibility window_keys, all_keys;
  std::vector<int> positions;
  for (const auto& valid : key_valid) {
    window_keys.add(encoder_visibility(LayerType::kSliding, valid, c.sliding_window), int(valid.size()));
    all_keys.add(encoder_visibility(LayerType::kFull, valid, c.sliding_window), int(valid.size()));
    for (int p = 0; p < int(valid.size()); ++p) positions.push_back(p);
  }
  check(int(positions.size()) == h.rows, "encoder_forward_stacked: the padding masks do not cover the stacked rows");
  return encoder_stack<Kernels>(std::move(h), window_keys, all_keys, positions, w, c, rope, {}, chunk_rows);
}

T5GEMMA2_NAMESPACE_END
