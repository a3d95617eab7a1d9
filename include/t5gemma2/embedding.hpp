// t5gemma2 — token embedding (docs/model.md §3), shared by encoder and decoder (tied table).
//
//   e = E[id] · round_W(√H)     the scale is first rounded to the weight type W, as HF casts
//                               it to the weight dtype (f32: 25.298222 for H = 640; bf16: 25.25)
//   e = eoi_embedding           for id == eoi_token_id: the learned vector, NOT scaled
// Image soft tokens keep their scaled row here; Model::encoder_embeddings overwrites them with image
// features (vision path).
#pragma once

#include <cmath>
#include <vector>

#include "t5gemma2/error.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

template <class W>
inline float embed_scale(int hidden) {
  return to_f32(weight_from_f32<W>(float(std::sqrt(double(hidden)))));
}

// ids [S] -> [S, H]
template <class W>
inline Tensor embed_tokens(const std::vector<int>& ids, const WeightMatrix<W>& table, const WeightVector& eoi_embedding,
                           int eoi_token_id) {
  const float scale = embed_scale<W>(table.cols);
  Tensor e(int(ids.size()), table.cols);
  for (int i = 0; i < e.rows; ++i) {
    const int id = ids[std::size_t(i)];
    check(id >= 0 && id < table.rows, [&] {
      return "token id " + std::to_string(id) + " at position " + std::to_string(i) + " is outside the vocabulary [0, " +
             std::to_string(table.rows) + ")";
    });
    float* out = e.row(i);
    if (id == eoi_token_id) {
      for (int c = 0; c < e.cols; ++c) out[c] = eoi_embedding[std::size_t(c)];
    } else {
      const W* row = table.row(id);
      for (int c = 0; c < e.cols; ++c) out[c] = to_f32(row[c]) * scale;
    }
  }
  return e;
}

T5GEMMA2_NAMESPACE_END
