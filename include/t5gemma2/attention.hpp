// t5gemma2 — the attention core shared by the encoder and the merged decoder attention
// (spec §3.4 steps 4–8, §4.2 step 4).
//
// For query row t and query head h (kv head h / g, g = n_h / n_kv: consecutive GQA groups):
//   s_c = (q_t,h · k_c) · scale                scale = query_pre_attn_scalar^-0.5 (f32)
//   s_c = soft_cap(s_c, cap)                   only when AttentionShape::softcap is set
//   p_c = exp(s_c − max) / Σ exp(s − max)      over the keys c the mask allows (compacted)
//   o_t,h = Σ_c p_c · v_c                      sequential in c (Ops::axpy)
// attn_logit_softcapping: transformers v5.0.0 reads it into the config but T5Gemma 2's
// attention (inherited from Gemma 3) never applies it; the tiny_b goldens (cap 50) are
// matched only without it. attention_shape() therefore leaves `softcap` unset; the field
// stays for callers who want Gemma-2-style capping on purpose.
// Keys come in one or more blocks laid end to end (the merged decoder attention passes
// [self ; cross]); mask columns index that concatenation.
#pragma once

#include <cmath>
#include <optional>
#include <vector>

#include "t5gemma2/masks.hpp"
#include "t5gemma2/ops/parallel.hpp"
#include "t5gemma2/ops/scalar.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// cap · tanh(x / cap), rounded step by step as PyTorch does (divide, tanh, multiply).
inline float soft_cap(float x, float cap) { return std::tanh(x / cap) * cap; }

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

// q [T, n_h·d], blocks with Σ K_i = mask.cols, mask [T, Σ K_i] -> out [T, n_h·d]
//
// Per query row only the visible keys take part, in key order, and the softmax sum runs over
// that compacted list: so the result depends on WHICH keys are visible and in what order, not
// on where they sit in the mask. A KV-cached decoder step (fewer columns) therefore gives the
// same bits as a full recomputation.
template <class Target>
inline Tensor attention(const Tensor& q, const std::vector<KeyValueBlock>& blocks, const Mask& mask, const AttentionShape& a) {
  const int d = a.head_dim, group = a.heads / a.kv_heads;
  // Flatten the blocks into one list of key/value row pointers.
  std::vector<const float*> keys, values;
  for (const auto& b : blocks)
    for (int r = b.begin; r < (b.end < 0 ? b.k->rows : b.end); ++r) {
      keys.push_back(b.k->row(r));
      values.push_back(b.v->row(r));
    }
  const int n_keys = int(keys.size());
  check(mask.rows == q.rows && mask.cols == n_keys, "attention: mask shape does not match queries and keys");

  // Query rows are independent: split them across threads (no result bit depends on it).
  Tensor out(q.rows, a.heads * d);
  const long work = long(q.rows) * n_keys * a.heads * d * 2;
  parallel_for(q.rows, work, [&](int row_begin, int row_end) {
    std::vector<int> visible;
    std::vector<float> p;
    for (int t = row_begin; t < row_end; ++t) {
      visible.clear();
      for (int c = 0; c < n_keys; ++c)
        if (mask.at(t, c)) visible.push_back(c);
      if (visible.empty()) continue;  // no visible key (an all-padding input): output 0
      p.resize(visible.size());
      for (int h = 0; h < a.heads; ++h) {
        const int kv = h / group;
        const float* qv = q.row(t) + h * d;
        float max_score = -INFINITY;
        for (std::size_t i = 0; i < visible.size(); ++i) {
          float s = Ops<Target>::dot(qv, keys[std::size_t(visible[i])] + kv * d, std::size_t(d)) * a.scale;
          if (a.softcap) s = soft_cap(s, *a.softcap);
          p[i] = s;
          max_score = std::max(max_score, s);
        }
        for (float& x : p) x = std::exp(x - max_score);
        const float denom = sum(p.data(), p.size());
        float* o = out.row(t) + h * d;
        for (std::size_t i = 0; i < visible.size(); ++i)
          Ops<Target>::axpy(p[i] / denom, values[std::size_t(visible[i])] + kv * d, o, std::size_t(d));
      }
    }
  });
  return out;
}

T5GEMMA2_NAMESPACE_END
