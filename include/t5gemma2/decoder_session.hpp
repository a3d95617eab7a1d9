// t5gemma2 — decoder sessions: KV caches and one-token decoder steps (docs/model.md §5).
//
//   cross K/V   per layer, k_norm(E·Wkᵀ) and E·Wvᵀ, computed ONCE from the encoder output
//   self K/V    per layer, keys after k_norm and RoPE, values raw:
//                 full_attention layers keep every position;
//                 sliding_attention layers keep the last W positions in a ring buffer —
//                 all a query at position q may see is (q − W, q].
// A step appends the new token's keys, then attends to the cache's keys in chronological
// order, so it reproduces the teacher-forced pass bit for bit (see attention.hpp; F32 policy —
// under HfBf16 the result depends on key positions, as HF's does).
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "t5gemma2/decoder.hpp"
#include "t5gemma2/model.hpp"

T5GEMMA2_NAMESPACE_BEGIN

class SelfKeyValueCache {
 public:
  // window = 0: keep everything; window = W: ring buffer of the last W entries.
  SelfKeyValueCache(int kv_width, int window) : window_(window), k_(0, kv_width), v_(0, kv_width) {}

  // Appends one position's key and value (k, v: one row [1, n_kv·d] each).
  void append(const Tensor& k, const Tensor& v, int position) {
    check(k.rows == 1 && v.rows == 1, "SelfKeyValueCache::append takes one position at a time");
    if (window_ == 0 || count_ < window_) {  // grow
      k_.data.insert(k_.data.end(), k.data.begin(), k.data.end());
      v_.data.insert(v_.data.end(), v.data.begin(), v.data.end());
      ++k_.rows;
      ++v_.rows;
      positions_.push_back(position);
    } else {  // overwrite the oldest slot
      const int slot = count_ % window_;
      std::copy(k.data.begin(), k.data.end(), k_.row(slot));
      std::copy(v.data.begin(), v.data.end(), v_.row(slot));
      positions_[std::size_t(slot)] = position;
    }
    ++count_;
  }
  void append(const KeyValues& kv, int position) { append(kv.k, kv.v, position); }

  int size() const { return k_.rows; }    // entries held
  int appended() const { return count_; }  // entries ever appended = next position

  // Keys in chronological order: for a wrapped ring, [oldest slot, end) then [0, oldest slot).
  SelfKeys keys() const {
    const int oldest = (window_ == 0 || count_ <= window_) ? 0 : count_ % window_;
    SelfKeys s;
    s.blocks.push_back({.k = &k_, .v = &v_, .begin = oldest, .end = k_.rows});
    if (oldest > 0) s.blocks.push_back({.k = &k_, .v = &v_, .begin = 0, .end = oldest});
    for (int i = oldest; i < k_.rows; ++i) s.positions.push_back(positions_[std::size_t(i)]);
    for (int i = 0; i < oldest; ++i) s.positions.push_back(positions_[std::size_t(i)]);
    return s;
  }

 private:
  int window_;
  int count_ = 0;
  Tensor k_, v_;                // [held, n_kv·d]
  std::vector<int> positions_;  // position of each slot
};

// The decoder state of a batch of sequences during generation, stepped together: every layer's
// linear parts (projections, MLP, LM head) run as one matrix product over the batch's rows — each
// weight streamed once per step, not once per sequence — while every sequence keeps its own
// cross K/V, self KV caches and padding. Every kernel computes each row on its own, so a
// sequence's logits are the bits it gets when stepped alone (tests/test_generation.cpp).
template <class Model>
class BatchDecoderSession {
 public:
  using Kernels = typename Model::Kernels;

  // One sequence per encoder output, or `copies` consecutive sequences per encoder output (beam
  // search: one per beam) that share its cross keys/values, computed once. cross_kv_bf16: keep
  // the cross keys/values as bf16 (decoder.hpp: all_cross_keys_values).
  BatchDecoderSession(const Model& model, const std::vector<Tensor>& encoder_outputs,
                      const std::vector<std::vector<uint8_t>>& encoder_valid, bool cross_kv_bf16 = false, int copies = 1)
      : model_(model) {
    model.require_decoder();
    check(encoder_outputs.size() == encoder_valid.size(), "BatchDecoderSession: one padding mask per encoder output");
    check(copies >= 1, "BatchDecoderSession: copies must be >= 1");
    const TextConfig& c = model.config().decoder;
    const auto& w = model.text_weights().decoder;
    for (std::size_t b = 0; b < encoder_outputs.size(); ++b) {
      check(encoder_valid[b].size() == std::size_t(encoder_outputs[b].rows), [&] {
        return "BatchDecoderSession: the padding mask of encoder output " + std::to_string(b) + " has " +
               std::to_string(encoder_valid[b].size()) + " entries for " + std::to_string(encoder_outputs[b].rows) + " rows";
      });
      auto cross = std::make_shared<CrossState>();
      cross->encoder_valid = encoder_valid[b];
      cross->kv = all_cross_keys_values<Kernels>(encoder_outputs[b], w, c, cross_kv_bf16);
      for (int copy = 0; copy < copies; ++copy) {
        Sequence s;
        s.cross = cross;
        for (const auto& layer : w.layers)
          s.self.emplace_back(c.num_kv_heads * c.head_dim, layer.type == LayerType::kSliding ? c.sliding_window : 0);
        sequences_.push_back(std::move(s));
      }
    }
  }

  std::size_t size() const { return sequences_.size(); }
  int position(std::size_t b) const { return sequences_[b].self.empty() ? 0 : sequences_[b].self.front().appended(); }
  const SelfKeyValueCache& cache(std::size_t b, int layer) const { return sequences_[b].self[std::size_t(layer)]; }

  // Beam search: sequence b continues from the state sequence source[b] holds now — its self KV
  // caches are copied (cross keys/values are shared and stay). source[b] must be a sequence of
  // the same encoder output.
  void reorder(const std::vector<std::size_t>& source) {
    check(source.size() == sequences_.size(), "BatchDecoderSession::reorder: one source per sequence");
    // Copies first (from the states as they are now), then moves them in; a sequence that
    // continues itself keeps its caches untouched.
    std::vector<std::pair<std::size_t, std::vector<SelfKeyValueCache>>> copies;
    for (std::size_t b = 0; b < source.size(); ++b) {
      check(source[b] < sequences_.size() && sequences_[source[b]].cross == sequences_[b].cross,
            "BatchDecoderSession::reorder: a sequence may only continue one of the same input");
      if (source[b] != b) copies.emplace_back(b, sequences_[source[b]].self);
    }
    for (auto& [b, self] : copies) sequences_[b].self = std::move(self);
  }

  // Bytes of cross keys and values every step reads (all layers, all inputs; shared ones once).
  std::size_t cross_bytes() const {
    std::size_t n = 0;
    for (std::size_t b = 0; b < sequences_.size(); ++b) {
      if (b > 0 && sequences_[b].cross == sequences_[b - 1].cross) continue;
      for (const KeyValues& kv : sequences_[b].cross->kv)
        n += kv.bf16 ? (kv.k_bf16.data.size() + kv.v_bf16.data.size()) * sizeof(bf16_t)
                     : (kv.k.data.size() + kv.v.data.size()) * sizeof(float);
    }
    return n;
  }

  // Feeds tokens[b] to sequence b at its next position; returns each sequence's logits [B][V].
  std::vector<std::vector<float>> step(const std::vector<int>& tokens) {
    check(tokens.size() == sequences_.size(), "BatchDecoderSession::step: one token per sequence");
    const TextConfig& c = model_.config().decoder;
    const auto& w = model_.text_weights().decoder;
    const int B = int(tokens.size());
    std::vector<int> positions(static_cast<std::size_t>(B));  // row b: position of sequence b
    for (int b = 0; b < B; ++b) positions[std::size_t(b)] = position(std::size_t(b));
    const RopeAngles local = rope_angles(model_.decoder_rope().local_inv_freq, positions);
    const RopeAngles global = rope_angles(model_.decoder_rope().global_inv_freq, positions);
    const float eps = float(c.rms_norm_eps);
    Tensor h = model_.embed(tokens);  // [B, H]
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
      const RopeAngles& angles = w.layers[i].type == LayerType::kSliding ? local : global;
      sandwich_layer<Kernels>(h, w.layers[i], eps, [&](const Tensor& x_hat) { return attention_step(i, x_hat, angles, positions); });
    }
    rms_norm_in_place<Kernels>(h, w.norm, eps);
    const Tensor logits = model_.logits(h);  // [B, V]
    std::vector<std::vector<float>> out(static_cast<std::size_t>(B));
    for (int b = 0; b < B; ++b) out[std::size_t(b)].assign(logits.row(b), logits.row(b) + logits.cols);
    return out;
  }

 private:
  // The attention half of decoder layer i for the batch's new rows x̂ [B, H]: projections for all
  // rows in one product each, then per sequence its new keys join its cache and its query attends
  // to [cached self keys ; its cross keys] (merged_attention) -> [B, H]
  Tensor attention_step(std::size_t i, const Tensor& x_hat, const RopeAngles& angles, const std::vector<int>& positions) {
    const TextConfig& c = model_.config().decoder;
    const TextLayerWeights<W>& layer = model_.text_weights().decoder.layers[i];
    const float eps = float(c.rms_norm_eps);
    const Tensor q = project_queries<Kernels>(x_hat, layer.self_attn, eps, angles, c.head_dim);            // [B, n_h·d]
    const KeyValues kv = project_keys_values<Kernels>(x_hat, layer.self_attn, eps, &angles, c.head_dim);  // [B, n_kv·d]
    Tensor heads(q.rows, q.cols);                                                                        // [B, n_h·d]
    for (int b = 0; b < q.rows; ++b) {
      Sequence& s = sequences_[std::size_t(b)];
      const std::vector<int> position{positions[std::size_t(b)]};
      s.self[i].append(row_range(kv.k, b, b + 1), row_range(kv.v, b, b + 1), position[0]);
      const SelfKeys self = s.self[i].keys();  // chronological
      const DecoderVisibility visible(layer.type, position, self.positions, s.cross->encoder_valid, c.sliding_window);
      put_rows(heads, b, merged_attention<Kernels>(row_range(q, b, b + 1), self, s.cross->kv[i], visible, attention_shape(c)));
    }
    return output_projection<Kernels>(heads, layer.self_attn);
  }

  using W = typename Model::WeightType;
  struct CrossState {  // what a sequence reads of its encoder output
    std::vector<uint8_t> encoder_valid;
    std::vector<KeyValues> kv;  // per layer
  };
  struct Sequence {
    std::shared_ptr<const CrossState> cross;  // shared by the beams of one input
    std::vector<SelfKeyValueCache> self;      // per layer
  };
  const Model& model_;
  std::vector<Sequence> sequences_;
};

// The decoder state of one sequence during generation (a batch of one).
template <class Model>
class DecoderSession {
 public:
  // cross_kv_bf16: keep the cross keys/values as bf16 (decoder.hpp: all_cross_keys_values).
  DecoderSession(const Model& model, const Tensor& encoder_output, std::vector<uint8_t> encoder_valid, bool cross_kv_bf16 = false)
      : batch_(model, {encoder_output}, {std::move(encoder_valid)}, cross_kv_bf16) {}

  int position() const { return batch_.position(0); }
  const SelfKeyValueCache& cache(int layer) const { return batch_.cache(0, layer); }
  std::size_t cross_bytes() const { return batch_.cross_bytes(); }

  // Feeds `token` at the next position; returns the logits of that position [V].
  std::vector<float> step(int token) { return std::move(batch_.step({token}).front()); }

 private:
  BatchDecoderSession<Model> batch_;
};

T5GEMMA2_NAMESPACE_END
