// t5gemma2 — attention masks (spec §3.5, §4.3). A Mask is [queries, keys] of 0/1 (1 = may
// attend); the attention core skips masked keys, which equals HF's additive finfo.min mask
// (exp underflows to exactly 0).
//
// Encoder (bidirectional):
//   encoder_full_mask    key k visible iff it is not padding
//   encoder_window_mask  additionally  q − ⌊(W+1)/2⌋ < k ≤ q + ⌊W/2⌋   (asymmetric by one:
//                        W = 512 gives k ∈ [q−255, q+256])
// Decoder, merged self + cross keys [self (T_self) ; encoder (S)]:
//   self block   causal k ≤ q; on sliding layers also k > q − W (W keys including self)
//   cross block  every non-padded encoder token, on every layer type
#pragma once

#include <cstdint>
#include <vector>

#include "t5gemma2/config.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct Mask {
  int rows = 0;
  int cols = 0;
  std::vector<uint8_t> allowed;  // [rows, cols]

  Mask(int r, int c) : rows(r), cols(c), allowed(std::size_t(r) * std::size_t(c), 0) {}
  uint8_t& at(int q, int k) { return allowed[std::size_t(q) * std::size_t(cols) + std::size_t(k)]; }
  uint8_t at(int q, int k) const { return allowed[std::size_t(q) * std::size_t(cols) + std::size_t(k)]; }
};

// The encoder's bidirectional sliding window for query position q and key position k.
inline bool encoder_window_allows(int q, int k, int window) {
  const int left = (window + 1) / 2;  // keys at or before q: q − left < k ≤ q
  const int right = window / 2 + 1;   // keys after q:         q < k < q + right
  const int dist = q - k;
  return (dist >= 0 && dist < left) || (dist < 0 && -dist < right);
}

// The decoder's causal sliding window: the W most recent positions, self included.
inline bool decoder_window_allows(int q, int k, int window) { return k <= q && k > q - window; }

// key_valid [S]: 1 for real tokens, 0 for padding (the encoder attention_mask row).
inline Mask encoder_full_mask(const std::vector<uint8_t>& key_valid) {
  const int s = int(key_valid.size());
  Mask m(s, s);
  for (int q = 0; q < s; ++q)
    for (int k = 0; k < s; ++k) m.at(q, k) = key_valid[std::size_t(k)];
  return m;
}

inline Mask encoder_window_mask(const std::vector<uint8_t>& key_valid, int window) {
  const int s = int(key_valid.size());
  Mask m(s, s);
  for (int q = 0; q < s; ++q)
    for (int k = 0; k < s; ++k) m.at(q, k) = key_valid[std::size_t(k)] && encoder_window_allows(q, k, window);
  return m;
}

inline Mask encoder_mask(LayerType type, const std::vector<uint8_t>& key_valid, int window) {
  return type == LayerType::kSliding ? encoder_window_mask(key_valid, window) : encoder_full_mask(key_valid);
}

// query_positions [T] and self_key_positions [T_self] are absolute decoder positions (with a
// KV cache the keys are the cached positions); encoder_valid [S] is the encoder padding row.
// Result: [T, T_self + S].
inline Mask decoder_merged_mask(LayerType type, const std::vector<int>& query_positions,
                                const std::vector<int>& self_key_positions, const std::vector<uint8_t>& encoder_valid,
                                int window) {
  const int t = int(query_positions.size()), ts = int(self_key_positions.size()), s = int(encoder_valid.size());
  Mask m(t, ts + s);
  for (int i = 0; i < t; ++i) {
    const int q = query_positions[std::size_t(i)];
    for (int j = 0; j < ts; ++j) {
      const int k = self_key_positions[std::size_t(j)];
      m.at(i, j) = type == LayerType::kSliding ? decoder_window_allows(q, k, window) : k <= q;
    }
    for (int j = 0; j < s; ++j) m.at(i, ts + j) = encoder_valid[std::size_t(j)];
  }
  return m;
}

T5GEMMA2_NAMESPACE_END
