// t5gemma2 — decoder KV caches and one-token decoder steps (spec §4.4).
//
//   cross K/V   per layer, k_norm(E·Wkᵀ) and E·Wvᵀ, computed ONCE from the encoder output
//   self K/V    per layer, keys after k_norm and RoPE, values raw:
//                 full_attention layers keep every position;
//                 sliding_attention layers keep the last W positions in a ring buffer —
//                 all a query at position q may see is (q − W, q].
// A step appends the new token's keys, then attends to the cache's keys in chronological
// order, so it reproduces the teacher-forced pass bit for bit (see attention.hpp).
#pragma once

#include <vector>

#include "t5gemma2/decoder.hpp"
#include "t5gemma2/model.hpp"

T5GEMMA2_NAMESPACE_BEGIN

class SelfKeyValueCache {
 public:
  // window = 0: keep everything; window = W: ring buffer of the last W entries.
  SelfKeyValueCache(int kv_width, int window) : window_(window), k_(0, kv_width), v_(0, kv_width) {}

  // Appends one position's keys/values (kv: one row each).
  void append(const KeyValues& kv, int position) {
    check(kv.k.rows == 1 && kv.v.rows == 1, "SelfKeyValueCache::append takes one position at a time");
    if (window_ == 0 || count_ < window_) {  // grow
      k_.data.insert(k_.data.end(), kv.k.data.begin(), kv.k.data.end());
      v_.data.insert(v_.data.end(), kv.v.data.begin(), kv.v.data.end());
      ++k_.rows;
      ++v_.rows;
      positions_.push_back(position);
    } else {  // overwrite the oldest slot
      const int slot = count_ % window_;
      std::copy(kv.k.data.begin(), kv.k.data.end(), k_.row(slot));
      std::copy(kv.v.data.begin(), kv.v.data.end(), v_.row(slot));
      positions_[std::size_t(slot)] = position;
    }
    ++count_;
  }

  int size() const { return k_.rows; }    // entries held
  int appended() const { return count_; }  // entries ever appended = next position

  // Keys in chronological order: for a wrapped ring, [oldest slot, end) then [0, oldest slot).
  SelfKeys keys() const {
    const int oldest = (window_ == 0 || count_ <= window_) ? 0 : count_ % window_;
    SelfKeys s;
    s.blocks.push_back({&k_, &v_, oldest, k_.rows});
    if (oldest > 0) s.blocks.push_back({&k_, &v_, 0, oldest});
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

// The decoder state of one sequence during generation.
template <class Model>
class DecoderSession {
 public:
  using Target = typename Model::TargetType;

  // cross_kv_bf16: keep the cross keys/values as bf16 (decoder.hpp: all_cross_keys_values).
  DecoderSession(const Model& model, const Tensor& encoder_output, std::vector<uint8_t> encoder_valid, bool cross_kv_bf16 = false)
      : model_(model), encoder_valid_(std::move(encoder_valid)) {
    model.require_decoder();
    const TextConfig& c = model.config().decoder;
    const auto& w = model.text_weights().decoder;
    cross_ = all_cross_keys_values<Target>(encoder_output, w, c, cross_kv_bf16);
    for (const auto& layer : w.layers)
      self_.emplace_back(c.num_kv_heads * c.head_dim, layer.type == LayerType::kSliding ? c.sliding_window : 0);
  }

  int position() const { return self_.empty() ? 0 : self_.front().appended(); }
  const SelfKeyValueCache& cache(int layer) const { return self_[std::size_t(layer)]; }

  // Bytes of cross keys and values every step reads (all layers).
  std::size_t cross_bytes() const {
    std::size_t n = 0;
    for (const KeyValues& kv : cross_)
      n += kv.bf16 ? (kv.k_bf16.data.size() + kv.v_bf16.data.size()) * sizeof(bf16_t)
                   : (kv.k.data.size() + kv.v.data.size()) * sizeof(float);
    return n;
  }

  // Feeds `token` at the next position; returns the logits of that position [V].
  std::vector<float> step(int token) {
    const TextConfig& c = model_.config().decoder;
    const auto& w = model_.text_weights().decoder;
    const std::vector<int> positions{position()};
    const RopeAngles local = rope_angles(model_.decoder_rope().local_inv_freq, positions);
    const RopeAngles global = rope_angles(model_.decoder_rope().global_inv_freq, positions);
    Tensor h = model_.embed({token});  // [1, H]
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
      const auto& layer = w.layers[i];
      decoder_layer<Target>(h, layer, c, layer.type == LayerType::kSliding ? local : global, positions, cross_[i], encoder_valid_,
                            [&](const KeyValues& kv) {
                              self_[i].append(kv, positions[0]);
                              return self_[i].keys();
                            });
    }
    rms_norm_groups<Target>(h, w.norm, float(c.rms_norm_eps));
    return model_.logits(h).data;
  }

 private:
  const Model& model_;
  std::vector<uint8_t> encoder_valid_;
  std::vector<KeyValues> cross_;
  std::vector<SelfKeyValueCache> self_;
};

T5GEMMA2_NAMESPACE_END
