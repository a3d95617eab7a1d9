// t5gemma2 — the attention core shared by the encoder, the merged decoder attention and SigLIP
// (docs/model.md §3, §5).
//
// For query row t and query head h (kv head h / g, g = n_h / n_kv: consecutive GQA groups):
//   s_c = (q_t,h · k_c) · scale                scale = query_pre_attn_scalar^-0.5 (f32)
//   s_c = soft_cap(s_c, cap)                   only when AttentionShape::softcap is set
//   p_c = exp(s_c − max) / Σ exp(s − max)      over the keys c row t may see, in key order
//   o_t,h = Σ_c p_c · v_c                      sequential in c
// (Ops<Kernels>::attention_scores, attention_softmax, attention_pv). attn_logit_softcapping: transformers v5.0.0 reads it into the
// config but T5Gemma 2's attention (inherited from Gemma 3) never applies it; the tiny_b goldens
// (cap 50) are matched only without it. attention_shape() therefore leaves `softcap` unset; the
// field stays for callers who want Gemma-2-style capping on purpose.
//
// The five key types, from the model's view down to the kernel's:
//   KeyValues      k, v [K, n_kv·d] as projected (layers.hpp), optionally stored as bf16
//   KeyValueBlock  a range of rows of one KeyValues; a call's key list is blocks end to end
//   SelfKeys       the decoder's self blocks in chronological order + their positions (decoder.hpp)
//   KeyInterval    [begin, end) of key indices in that list: what a query row sees (masks.hpp)
//   KeySpan        what a kernel reads: a run of visible keys of ONE kv head, as rows (and, for
//                  a SIMD scores kernel, also as key panels) (ops/scalar.hpp)
// The plain version of this file, one query and one head at a time with a visibility predicate:
// textbook.hpp: attention.
//
// Which keys row t sees comes as a few intervals of key indices (masks.hpp: the encoder window,
// the causal/decoder window, padding runs), never as a dense [queries, keys] mask: a sliding
// layer costs O(S·W) and no O(S²) buffer exists. Keys come in one or more blocks laid end to
// end (the merged decoder attention passes [self ; cross]); intervals index that concatenation.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <optional>
#include <vector>

#include "t5gemma2/masks.hpp"
#include "t5gemma2/ops/parallel.hpp"
#include "t5gemma2/ops/scalar.hpp"
#include "t5gemma2/precision.hpp"
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

// SigLIP's attention: full multi-head (as many kv heads as heads), scale head_dim^-0.5.
inline AttentionShape attention_shape(const VisionConfig& c) {
  AttentionShape a;
  a.heads = a.kv_heads = c.num_heads;
  a.head_dim = c.head_dim();
  a.scale = float(std::pow(double(c.head_dim()), -0.5));
  return a;
}

inline bool same_intervals(const std::vector<KeyInterval>& x, const std::vector<KeyInterval>& y) {
  return std::equal(x.begin(), x.end(), y.begin(), y.end(),
                    [](const KeyInterval& p, const KeyInterval& q) { return p.begin == q.begin && p.end == q.end; });
}

// One block of keys and values: rows [begin, end) of k, v [K_i, n_kv·d] (end < 0: all rows);
// bf16-stored keys/values (the optional bf16 cross K/V) as k_bf16, v_bf16 with k, v null.
struct KeyValueBlock {
  const Tensor* k;
  const Tensor* v;
  int begin = 0;
  int end = -1;
  const Bf16Tensor* k_bf16 = nullptr;
  const Bf16Tensor* v_bf16 = nullptr;

  int stored_rows() const { return k ? k->rows : k_bf16->rows; }
  int rows() const { return (end < 0 ? stored_rows() : end) - begin; }
};

// Query rows per block of attention(): each block reads its keys once for the scores and its
// values once for P·V, so a block of more rows reads them less often per query. From 8 rows up
// to 128, as many as keep a block's scores (rows × group × keys) within 128 × 4,096 floats, 2 MiB
// (SigLIP's 4,096 keys: 128 rows; 32K text keys: 8), while every thread still gets two blocks.
// A block size changes which values are computed together, not a bit. (BM_VisionAttention, one
// SigLIP layer: 8-row blocks 1.76 s, these 0.89 s.)
inline int query_rows_per_block(int query_rows, int n_keys, int group) {
  int rows = 8;
  while (rows < 128 && long(2 * rows) * group * n_keys <= 128L * 4096 && 4L * rows * num_threads() <= query_rows) rows *= 2;
  return rows;
}

// The keys and values of f32 blocks, copied head by head into 64-byte aligned rows of d rounded
// up to 16 floats (PaddedRows): k, v [n_kv, Σ K_i, stride]. A kernel that reads a key row many times (once per
// block of queries) then loads whole cache lines, and one head's keys lie together: a Tensor's row
// starts 16 bytes past a line, a head of 72 floats anywhere, and a head's rows are n_kv·d apart.
// attention() reads these copies when enough query rows share the keys; the values are the same,
// and so are the bits.
//
// For a kernel set that reads them (Ops<Kernels>::reads_key_panels()), the keys once more as key
// panels (KeySpan::panels): per kv head, panels of 16 keys, each [d, 16] — element i of key
// 16p + l at (p·d + i)·16 + l, lanes past the last key 0. A SIMD scores kernel then holds 16
// keys in the lanes of one 16-lane accumulator (one vector on AVX3, two on AVX2) and runs each
// key's canonical dot in its own lane: each of the 16 partial sums of ops/reduce.hpp is one such
// accumulator for all 16 keys and the tree adds whole accumulators, where reading rows costs a
// transposing reduction per 16 scores (ops/hwy/kernels-inl.h: PanelDotTile).
struct HeadMajorKeysValues {
  int keys = 0;    // Σ K_i
  int kv_heads = 0;
  int dim = 0;
  int panels_per_head = 0;  // ⌈keys / 16⌉ when key panels are made, else 0
  PaddedRows rows;          // [2 · n_kv · Σ K_i] rows: the keys of every head, then the values
  std::optional<PaddedRows> key_panels;  // [n_kv · panels_per_head · d] rows of 16

  HeadMajorKeysValues(int n_keys, int n_kv, int d) : keys(n_keys), kv_heads(n_kv), dim(d), rows(2 * std::size_t(n_kv) * std::size_t(n_keys), std::size_t(d)) {}
  float* key(int kv, int c) const { return rows.row(std::size_t(kv) * std::size_t(keys) + std::size_t(c)); }
  float* value(int kv, int c) const { return rows.row((std::size_t(kv_heads) + std::size_t(kv)) * std::size_t(keys) + std::size_t(c)); }
  float* panels(int kv) const { return key_panels->row(std::size_t(kv) * std::size_t(panels_per_head) * std::size_t(dim)); }
};

inline HeadMajorKeysValues head_major_copy(const std::vector<KeyValueBlock>& blocks, int kv_heads, int d, bool with_panels) {
  int n_keys = 0;
  for (const auto& b : blocks) n_keys += b.rows();
  HeadMajorKeysValues h(n_keys, kv_heads, d);
  const auto put = [&](const float* from, float* to) {  // one row and its zero padding
    std::copy(from, from + d, to);
    std::fill(to + d, to + h.rows.stride, 0.0f);
  };
  int c0 = 0;  // first key of the block
  for (const auto& b : blocks) {
    parallel_for(b.rows(), long(b.rows()) * kv_heads * d / 8, [&](int r0, int r1) {
      for (int r = r0; r < r1; ++r)
        for (int kv = 0; kv < kv_heads; ++kv) {
          put(b.k->row(b.begin + r) + kv * d, h.key(kv, c0 + r));
          put(b.v->row(b.begin + r) + kv * d, h.value(kv, c0 + r));
        }
    });
    c0 += b.rows();
  }
  if (with_panels) {
    constexpr int kLanes = int(kReduceLanes);
    h.panels_per_head = (n_keys + kLanes - 1) / kLanes;
    h.key_panels.emplace(std::size_t(kv_heads) * std::size_t(h.panels_per_head) * std::size_t(d), kReduceLanes);
    parallel_for(kv_heads * h.panels_per_head, long(n_keys) * kv_heads * d / 8, [&](int p0, int p1) {
      for (int p = p0; p < p1; ++p) {
        const int kv = p / h.panels_per_head, panel = p % h.panels_per_head;
        float* to = h.panels(kv) + std::size_t(panel) * std::size_t(d) * kReduceLanes;  // [d, 16]
        for (int l = 0; l < kLanes; ++l) {
          const int c = panel * kLanes + l;
          const float* key = c < n_keys ? h.key(kv, c) : nullptr;
          for (int i = 0; i < d; ++i) to[std::size_t(i) * kReduceLanes + std::size_t(l)] = key ? key[i] : 0.0f;
        }
      }
    });
  }
  return h;
}

// Copy the keys and values head-major when at least kHeadMajorQueries query rows read them (a
// decode step's one row reads the cache in place: copying it would cost more than reading it) and
// the copy stays within kHeadMajorMaxFloats, or kHeadMajorWithPanelsMaxFloats with key panels:
// SigLIP's 16 heads × 4,096 keys (40 MiB of rows + 18 MiB of panels) are copied; 32K text keys
// (96 MiB per 512-query chunk) are not: the copy would add to a long input's memory, for little
// (BM_AttentionLong/32768/1: 40.1 s either way before the panels; with them ~5 % faster, 33.8–36.8
// against 35.7–40.4 s in three pairs, for 96 MiB more per call). 270m text is copied up to 20K
// keys (24K without panels). (BM_VisionAttention, one SigLIP layer: 833–855 ms reading the blocks, 792–803
// ms the copies; 540–587 ms with the key panels.)
inline constexpr long kHeadMajorQueries = 8;
inline constexpr long kHeadMajorMaxFloats = 12L << 20;            // 48 MiB: key and value rows
inline constexpr long kHeadMajorWithPanelsMaxFloats = 15L << 20;  // 60 MiB: the same and key panels

inline bool reads_head_major(const std::vector<KeyValueBlock>& blocks, int query_rows, int kv_heads, int d, bool with_panels) {
  long keys = 0;
  for (const auto& b : blocks) {
    if (!b.k) return false;  // bf16-stored keys are read as stored
    keys += b.rows();
  }
  const long lanes = long(kReduceLanes);
  long floats = 2 * keys * kv_heads * long(PaddedRows::stride_for(std::size_t(d)));
  if (with_panels) floats += (keys + lanes - 1) / lanes * lanes * kv_heads * d;
  return query_rows >= kHeadMajorQueries && floats <= (with_panels ? kHeadMajorWithPanelsMaxFloats : kHeadMajorMaxFloats);
}

// q [T, n_h·d], blocks with Σ K_i keys; visible(t, intervals) fills the key intervals query
// row t sees (ascending, disjoint) -> out [T, n_h·d]
//
// Only the visible keys take part, in key order, and the softmax runs over exactly them: so the
// result depends on WHICH keys are visible and in what order, not on where they sit. A KV-cached
// decoder step therefore gives the same bits as a full recomputation (F32 policy; under HfBf16
// PyTorch's sums depend on key positions: precision.hpp, softmax_of_visible_keys).
//
// Work is done per block of query_rows query rows: the block's rows × the query heads of one kv
// head score the union of the keys the rows see in one Ops::attention_scores call (a SIMD
// target runs it in register tiles: a GEMM tile over key rows, or PanelDotTile over key panels), then each (row, head) takes the dots of ITS keys,
// in order, into Ops::attention_softmax; Ops::attention_pv then applies the weights of all the
// queries that see the same keys in one pass over the values (a kernel set with kPvOverKeyUnion,
// hf-bf16's, takes all the block's queries over the union, zero weights for unseen keys). Every
// value is computed exactly as one query alone would compute it. When enough query rows share
// the keys (reads_head_major), the kernels read f32 keys and values from one head-major copy
// (head_major_copy) instead of the blocks: the same values at other addresses.
template <class Kernels, class Visible>
  requires std::invocable<const Visible&, int, std::vector<KeyInterval>&>
inline Tensor attention(const Tensor& q, const std::vector<KeyValueBlock>& blocks, Visible&& visible, const AttentionShape& a) {
  const int d = a.head_dim, group = a.heads / a.kv_heads;
  // Start of each block in the concatenated key list.
  std::vector<int> first{0};
  for (const auto& b : blocks) first.push_back(first.back() + b.rows());
  const int n_keys = first.back();
  const int query_rows = query_rows_per_block(q.rows, n_keys, group);
  const AttentionCall call{.keys = n_keys, .query_rows = q.rows, .heads = a.heads};

  bool with_panels = false;
  if constexpr (requires { Ops<Kernels>::reads_key_panels(); }) with_panels = Ops<Kernels>::reads_key_panels();
  std::optional<HeadMajorKeysValues> head_major;
  if (reads_head_major(blocks, q.rows, a.kv_heads, d, with_panels)) head_major = head_major_copy(blocks, a.kv_heads, d, with_panels);

  // Key intervals -> runs of rows inside the blocks (or of the head-major copy), for kv head `kv`.
  auto to_spans = [&](const std::vector<KeyInterval>& intervals, int kv, std::vector<KeySpan>& spans) {
    spans.clear();
    if (head_major) {
      for (const KeyInterval& iv : intervals) {
        const int lo = std::max(iv.begin, 0), hi = std::min(iv.end, n_keys);  // as the blocks clip below
        if (lo >= hi) continue;
        spans.push_back({.k = head_major->key(kv, lo), .v = head_major->value(kv, lo), .stride = head_major->rows.stride,
                         .count = hi - lo, .first = lo, .call = &call,
                         .panels = head_major->key_panels ? head_major->panels(kv) : nullptr, .panel_key = lo});
      }
      return;
    }
    for (const KeyInterval& iv : intervals)
      for (std::size_t b = 0; b < blocks.size(); ++b) {
        const int lo = std::max(iv.begin, first[b]), hi = std::min(iv.end, first[b + 1]);
        if (lo >= hi) continue;
        const KeyValueBlock& blk = blocks[b];
        const int row = blk.begin + (lo - first[b]);
        if (blk.k)
          spans.push_back({.k = blk.k->row(row) + kv * d, .v = blk.v->row(row) + kv * d, .stride = std::size_t(blk.k->cols),
                           .count = hi - lo, .first = lo, .call = &call});
        else
          spans.push_back({.stride = std::size_t(blk.k_bf16->cols), .count = hi - lo, .k_bf16 = blk.k_bf16->row(row) + kv * d,
                           .v_bf16 = blk.v_bf16->row(row) + kv * d, .first = lo, .call = &call});
      }
  };

  Tensor out(q.rows, a.heads * d);
  const int n_blocks = (q.rows + query_rows - 1) / query_rows;
  const long work = long(q.rows) * std::min(n_keys, 4096) * a.heads * d * 2;
  parallel_for(n_blocks, work, [&](int block_begin, int block_end) {
    std::vector<std::vector<KeyInterval>> row_intervals(query_rows);
    std::vector<KeyInterval> all, merged;
    std::vector<KeySpan> union_spans, spans;
    std::vector<const float*> queries, weight_rows;
    std::vector<float*> out_rows, own;
    std::vector<std::size_t> gathered_at;
    constexpr std::size_t kInPlace = SIZE_MAX;
    std::vector<float> scores, weights, union_weights;
    std::vector<int> positions;
    for (int blk = block_begin; blk < block_end; ++blk) {
      const int t0 = blk * query_rows, rows = std::min(query_rows, q.rows - t0);
      // The union of the rows' visible keys (sorted, merged) and each interval's offset in it.
      all.clear();
      for (int r = 0; r < rows; ++r) {
        row_intervals[std::size_t(r)].clear();
        visible(t0 + r, row_intervals[std::size_t(r)]);
        all.insert(all.end(), row_intervals[std::size_t(r)].begin(), row_intervals[std::size_t(r)].end());
      }
      std::sort(all.begin(), all.end(), [](const KeyInterval& x, const KeyInterval& y) { return x.begin < y.begin; });
      merged.clear();
      for (const KeyInterval& iv : all) {
        if (!merged.empty() && iv.begin <= merged.back().end) merged.back().end = std::max(merged.back().end, iv.end);
        else merged.push_back(iv);
      }
      std::vector<int> offset(merged.size() + 1, 0);
      for (std::size_t u = 0; u < merged.size(); ++u) offset[u + 1] = offset[u] + merged[u].end - merged[u].begin;
      const int n_union = offset.back();
      // Position of key `k` in the union's score columns.
      auto column = [&](int k) {
        std::size_t u = 0;
        while (merged[u].end <= k) ++u;
        return offset[u] + (k - merged[u].begin);
      };

      for (int kv = 0; kv < a.kv_heads; ++kv) {
        to_spans(merged, kv, union_spans);
        queries.clear();  // rows × the query heads of this kv head (consecutive GQA groups)
        for (int r = 0; r < rows; ++r)
          for (int g = 0; g < group; ++g) queries.push_back(q.row(t0 + r) + (kv * group + g) * d);
        scores.resize(queries.size() * std::size_t(n_union));
        Ops<Kernels>::attention_scores(queries.data(), int(queries.size()), union_spans.data(), int(union_spans.size()), d,
                                      scores.data());
        // Each query's dots of its own keys, in key order, become its weights: in place when the
        // row sees the whole union (SigLIP, a full encoder layer), else gathered into `weights`.
        weights.clear();
        own.clear();  // the weights of query (r, g)
        gathered_at.clear();  // where they start in `weights` (kInPlace: in the scores)
        for (int r = 0; r < rows; ++r) {
          const bool whole_union = same_intervals(row_intervals[std::size_t(r)], merged);
          for (int g = 0; g < group; ++g) {
            float* row_scores = scores.data() + std::size_t(r * group + g) * std::size_t(n_union);
            int n_visible = n_union;
            gathered_at.push_back(kInPlace);
            if (!whole_union) {
              gathered_at.back() = weights.size();
              for (const KeyInterval& iv : row_intervals[std::size_t(r)]) {
                const int c = column(iv.begin);
                weights.insert(weights.end(), row_scores + c, row_scores + c + (iv.end - iv.begin));
              }
              row_scores = weights.data() + gathered_at.back();
              n_visible = int(weights.size() - gathered_at.back());
            }
            own.push_back(row_scores);
            softmax_of_visible_keys<Kernels>(row_scores, n_visible, a.scale, a.softcap ? &*a.softcap : nullptr,
                                             row_intervals[std::size_t(r)], n_keys, positions);
          }
        }
        for (std::size_t i = 0; i < own.size(); ++i)  // `weights` may have moved as it grew
          if (gathered_at[i] != kInPlace) own[i] = weights.data() + gathered_at[i];
        if constexpr (!requires { requires Ops<Kernels>::kPvOverKeyUnion; }) {
          // P·V, batched over the queries that see the same keys (consecutive rows with equal
          // intervals, and always the heads of one row).
          for (int r0 = 0; r0 < rows;) {
            int r1 = r0 + 1;
            while (r1 < rows && same_intervals(row_intervals[std::size_t(r1)], row_intervals[std::size_t(r0)])) ++r1;
            to_spans(row_intervals[std::size_t(r0)], kv, spans);
            weight_rows.clear();
            out_rows.clear();
            for (int r = r0; r < r1; ++r)
              for (int g = 0; g < group; ++g) {
                weight_rows.push_back(own[std::size_t(r * group + g)]);
                out_rows.push_back(out.row(t0 + r) + (kv * group + g) * d);
              }
            Ops<Kernels>::attention_pv(weight_rows.data(), out_rows.data(), int(out_rows.size()), spans.data(), int(spans.size()), d);
            r0 = r1;
          }
        } else {
          // A policy that multiplies whole weight rows by the values (hf-bf16: HF's P·V runs over
          // every key, masked ones with weight 0): every query of the block in one call, over
          // the union's keys, with zeros for the keys a row does not see.
          union_weights.assign(queries.size() * std::size_t(n_union), 0.0f);  // [rows·group, n_union]
          weight_rows.clear();
          out_rows.clear();
          for (int r = 0; r < rows; ++r)
            for (int g = 0; g < group; ++g) {
              float* row = union_weights.data() + std::size_t(r * group + g) * std::size_t(n_union);
              const float* visible_weights = own[std::size_t(r * group + g)];
              for (const KeyInterval& iv : row_intervals[std::size_t(r)]) {
                std::copy(visible_weights, visible_weights + (iv.end - iv.begin), row + column(iv.begin));
                visible_weights += iv.end - iv.begin;
              }
              weight_rows.push_back(row);
              out_rows.push_back(out.row(t0 + r) + (kv * group + g) * d);
            }
          Ops<Kernels>::attention_pv(weight_rows.data(), out_rows.data(), int(out_rows.size()), union_spans.data(),
                                     int(union_spans.size()), d);
        }
      }
    }
  });
  return out;
}

// The same with a dense mask [T, Σ K_i] (tests and callers that have one).
template <class Kernels>
inline Tensor attention(const Tensor& q, const std::vector<KeyValueBlock>& blocks, const Mask& mask, const AttentionShape& a) {
  int n_keys = 0;
  for (const auto& b : blocks) n_keys += b.rows();
  check(mask.rows == q.rows && mask.cols == n_keys, "attention: mask shape does not match queries and keys");
  return attention<Kernels>(q, blocks, [&](int t, std::vector<KeyInterval>& out) { mask_row_intervals(mask, t, out); }, a);
}

T5GEMMA2_NAMESPACE_END
