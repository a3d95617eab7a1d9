// t5gemma2 — attention masks (docs/model.md §4, §5). A Mask is [queries, keys] of 0/1 (1 = may
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

#include <algorithm>
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

// ---- visible keys as intervals -----------------------------------------------------------

// Keys [begin, end) of the concatenated key list.
struct KeyInterval {
  int begin = 0;
  int end = 0;
};

// The runs of 1s of a mask row, as intervals (ascending).
inline void mask_row_intervals(const Mask& m, int q, std::vector<KeyInterval>& out) {
  for (int k = 0; k < m.cols;) {
    if (!m.at(q, k)) {
      ++k;
      continue;
    }
    const int begin = k;
    while (k < m.cols && m.at(q, k)) ++k;
    out.push_back({begin, k});
  }
}

// The runs of valid (non-padding) keys, shifted by `offset`.
inline std::vector<KeyInterval> valid_runs(const std::vector<uint8_t>& valid, int offset = 0) {
  std::vector<KeyInterval> runs;
  for (int k = 0; k < int(valid.size());) {
    if (!valid[std::size_t(k)]) {
      ++k;
      continue;
    }
    const int begin = k;
    while (k < int(valid.size()) && valid[std::size_t(k)]) ++k;
    runs.push_back({begin + offset, k + offset});
  }
  return runs;
}

// Appends the parts of `runs` inside [lo, hi).
inline void clip_runs(const std::vector<KeyInterval>& runs, int lo, int hi, std::vector<KeyInterval>& out) {
  for (const KeyInterval& r : runs) {
    const int b = std::max(r.begin, lo), e = std::min(r.end, hi);
    if (b < e) out.push_back({b, e});
  }
}

// Encoder query q sees the valid keys; on sliding layers only those with
// q − ⌊(W+1)/2⌋ < k < q + ⌊W/2⌋ + 1 (encoder_window_allows). window = 0: full attention.
struct EncoderVisibility {
  std::vector<KeyInterval> runs;
  int window = 0;

  EncoderVisibility(const std::vector<uint8_t>& key_valid, int window_or_0) : runs(valid_runs(key_valid)), window(window_or_0) {}
  void operator()(int q, std::vector<KeyInterval>& out) const {
    if (window == 0) return clip_runs(runs, 0, 1 << 30, out);
    clip_runs(runs, q - (window + 1) / 2 + 1, q + window / 2 + 1, out);
  }
};

inline EncoderVisibility encoder_visibility(LayerType type, const std::vector<uint8_t>& key_valid, int window) {
  return EncoderVisibility(key_valid, type == LayerType::kSliding ? window : 0);
}

// Several sequences' rows stacked one after another (encoder_forward_stacked): row q of the
// stack sees its own sequence's keys only, by that sequence's rule.
struct StackedVisibility {
  std::vector<EncoderVisibility> parts;
  std::vector<int> first{0};  // first row of each part; the last entry is the total

  void add(EncoderVisibility part, int rows) {
    parts.push_back(std::move(part));
    first.push_back(first.back() + rows);
  }
  void operator()(int q, std::vector<KeyInterval>& out) const {
    const std::size_t p = std::size_t(std::upper_bound(first.begin(), first.end(), q) - first.begin()) - 1;
    const std::size_t before = out.size();
    parts[p](q - first[p], out);
    for (std::size_t i = before; i < out.size(); ++i) {
      out[i].begin += first[p];
      out[i].end += first[p];
    }
  }
};

// Decoder query i (position query_positions[i]) over [self keys ; encoder keys]: the self keys
// at positions ≤ q (and > q − W on sliding layers), then every valid encoder key. Self key
// positions are ascending (chronological), so the visible self keys are one interval.
struct DecoderVisibility {
  const std::vector<int>* query_positions;
  const std::vector<int>* self_positions;
  std::vector<KeyInterval> cross_runs;
  int window = 0;  // 0: full (causal) attention

  DecoderVisibility(LayerType type, const std::vector<int>& query_pos, const std::vector<int>& self_pos,
                    const std::vector<uint8_t>& encoder_valid, int w)
      : query_positions(&query_pos),
        self_positions(&self_pos),
        cross_runs(valid_runs(encoder_valid, int(self_pos.size()))),
        window(type == LayerType::kSliding ? w : 0) {
    check(std::is_sorted(self_pos.begin(), self_pos.end()), "decoder self keys must be in chronological order");
  }
  void operator()(int i, std::vector<KeyInterval>& out) const {
    const int q = (*query_positions)[std::size_t(i)];
    const auto& p = *self_positions;
    const int hi = int(std::upper_bound(p.begin(), p.end(), q) - p.begin());  // positions ≤ q
    const int lo = window ? int(std::upper_bound(p.begin(), p.end(), q - window) - p.begin()) : 0;  // > q − W
    if (lo < hi) out.push_back({lo, hi});
    out.insert(out.end(), cross_runs.begin(), cross_runs.end());
  }
};

T5GEMMA2_NAMESPACE_END
