// t5gemma2 — the attention core shared by the encoder, the merged decoder attention and SigLIP
// (spec §3.4 steps 4–8, §4.2 step 4).
//
// For query row t and query head h (kv head h / g, g = n_h / n_kv: consecutive GQA groups):
//   s_c = (q_t,h · k_c) · scale                scale = query_pre_attn_scalar^-0.5 (f32)
//   s_c = soft_cap(s_c, cap)                   only when AttentionShape::softcap is set
//   p_c = exp(s_c − max) / Σ exp(s − max)      over the keys c row t may see, in key order
//   o_t,h = Σ_c p_c · v_c                      sequential in c
// (Ops<Target>::attention_head). attn_logit_softcapping: transformers v5.0.0 reads it into the
// config but T5Gemma 2's attention (inherited from Gemma 3) never applies it; the tiny_b goldens
// (cap 50) are matched only without it. attention_shape() therefore leaves `softcap` unset; the
// field stays for callers who want Gemma-2-style capping on purpose.
//
// Which keys row t sees comes as a few intervals of key indices (masks.hpp: the encoder window,
// the causal/decoder window, padding runs), never as a dense [queries, keys] mask: a sliding
// layer costs O(S·W) and no O(S²) buffer exists. Keys come in one or more blocks laid end to
// end (the merged decoder attention passes [self ; cross]); intervals index that concatenation.
#pragma once

#include <cmath>
#include <concepts>
#include <optional>
#include <vector>

#include "t5gemma2/masks.hpp"
#include "t5gemma2/ops/parallel.hpp"
#include "t5gemma2/ops/scalar.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct AttentionShape {
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  float scale = 0;                       // query_pre_attn_scalar^-0.5
  std::optional<float> softcap;          // unset for T5Gemma 2 (see above)
};

inline AttentionShape attention_shape(const TextConfig& c) {
  AttentionShape a;
  a.heads = c.num_heads;
  a.kv_heads = c.num_kv_heads;
  a.head_dim = c.head_dim;
  a.scale = float(std::pow(c.query_pre_attn_scalar, -0.5));
  return a;
}

// One block of keys and values: rows [begin, end) of k, v [K_i, n_kv·d] (end < 0: all rows).
struct KeyValueBlock {
  const Tensor* k;
  const Tensor* v;
  int begin = 0;
  int end = -1;
};

// q [T, n_h·d], blocks with Σ K_i keys; visible(t, intervals) fills the key intervals query
// row t sees (ascending, disjoint) -> out [T, n_h·d]
//
// Only the visible keys take part, in key order, and the softmax runs over exactly them: so the
// result depends on WHICH keys are visible and in what order, not on where they sit. A KV-cached
// decoder step therefore gives the same bits as a full recomputation.
template <class Target, class Visible>
  requires std::invocable<const Visible&, int, std::vector<KeyInterval>&>
inline Tensor attention(const Tensor& q, const std::vector<KeyValueBlock>& blocks, Visible&& visible, const AttentionShape& a) {
  const int d = a.head_dim, group = a.heads / a.kv_heads;
  // Start of each block in the concatenated key list.
  std::vector<int> first{0};
  for (const auto& b : blocks) first.push_back(first.back() + (b.end < 0 ? b.k->rows : b.end) - b.begin);
  const int n_keys = first.back();
  const float* softcap = a.softcap ? &*a.softcap : nullptr;

  // Query rows are independent: split them across threads (no result bit depends on it).
  Tensor out(q.rows, a.heads * d);
  const long work = long(q.rows) * std::min(n_keys, 4096) * a.heads * d * 2;
  parallel_for(q.rows, work, [&](int row_begin, int row_end) {
    std::vector<KeyInterval> intervals;
    std::vector<KeySpan> spans;
    std::vector<float> scores;
    for (int t = row_begin; t < row_end; ++t) {
      intervals.clear();
      visible(t, intervals);
      for (int h = 0; h < a.heads; ++h) {
        const int kv = h / group;
        // Intervals -> spans of rows inside the blocks.
        spans.clear();
        int total = 0;
        for (const KeyInterval& iv : intervals) {
          for (std::size_t b = 0; b < blocks.size(); ++b) {
            const int lo = std::max(iv.begin, first[b]), hi = std::min(iv.end, first[b + 1]);
            if (lo >= hi) continue;
            const KeyValueBlock& blk = blocks[b];
            const int row = blk.begin + (lo - first[b]);
            spans.push_back({blk.k->row(row) + kv * d, blk.v->row(row) + kv * d, std::size_t(blk.k->cols), hi - lo});
            total += hi - lo;
          }
        }
        if (int(scores.size()) < total) scores.resize(std::size_t(total));
        Ops<Target>::attention_head(q.row(t) + h * d, spans.data(), int(spans.size()), d, a.scale, softcap, scores.data(),
                                    out.row(t) + h * d);
      }
    }
  });
  return out;
}

// The same with a dense mask [T, Σ K_i] (tests and callers that have one).
template <class Target>
inline Tensor attention(const Tensor& q, const std::vector<KeyValueBlock>& blocks, const Mask& mask, const AttentionShape& a) {
  int n_keys = 0;
  for (const auto& b : blocks) n_keys += (b.end < 0 ? b.k->rows : b.end) - b.begin;
  check(mask.rows == q.rows && mask.cols == n_keys, "attention: mask shape does not match queries and keys");
  return attention<Target>(q, blocks, [&](int t, std::vector<KeyInterval>& out) { mask_row_intervals(mask, t, out); }, a);
}

T5GEMMA2_NAMESPACE_END
