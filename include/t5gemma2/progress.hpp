// t5gemma2 — how far a long encoder pass has come (the CLI's progress bar). Kept
// out of the layer code: the encoder stack hands each layer a callback from EncoderProgress,
// which turns "pass p of layer i has finished r rows" into a Progress report with a work
// estimate (FLOPs) for the whole stack.
#pragma once

#include <algorithm>
#include <functional>
#include <vector>

#include "t5gemma2/config.hpp"
#include "t5gemma2/masks.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct Progress {
  int layer = 0;            // layer being computed, 0-based
  int layers = 0;           // layers in the stack
  int rows_done = 0;        // rows of THIS layer finished (0 while its keys/values are computed)
  int rows = 0;             // rows (tokens) in total
  double work_done = 0;     // estimated FLOPs finished, over the whole stack
  double work_total = 0;    // estimated FLOPs of the whole stack
};

// FLOPs of one encoder layer over S unpadded rows: the linear layers (projections, MLP), and
// attention — q·k and p·v over the keys each row sees (its window on sliding layers). Used for
// progress reports and the benchmarks' FLOP rates; norms, RoPE and softmax are not counted.
struct LayerFlops {
  double linear = 0;
  double attention = 0;
};
inline LayerFlops encoder_layer_flops(const TextConfig& c, LayerType type, int S) {
  const double H = c.hidden_size, q = double(c.num_heads) * c.head_dim, kv = double(c.num_kv_heads) * c.head_dim;
  LayerFlops f;
  f.linear = 2.0 * S * (H * q + 2 * H * kv + q * H + 3 * H * c.intermediate_size);
  double keys = 0;
  const EncoderVisibility visible(std::vector<uint8_t>(std::size_t(S), 1), type == LayerType::kSliding ? c.sliding_window : 0);
  std::vector<KeyInterval> row;
  for (int t = 0; t < S; ++t) {
    row.clear();
    visible(t, row);
    for (const KeyInterval& iv : row) keys += iv.end - iv.begin;
  }
  f.attention = 2.0 * 2.0 * keys * q;
  return f;
}

// The chunk callbacks of one encoder pass over S rows, reporting to `report`. A layer runs in
// two passes (encoder.hpp: keys/values of every row, then the rest row chunk by row chunk);
// pass 1 is credited with its share of the layer's linear work.
class EncoderProgress {
 public:
  using ChunkDone = std::function<void(int pass, int rows_done)>;

  EncoderProgress(std::function<void(const Progress&)> report, const TextConfig& c, const std::vector<LayerType>& types, int S)
      : report_(std::move(report)), types_(types) {
    progress_.layers = int(types.size());
    progress_.rows = S;
    if (!report_) return;  // nobody listens: no estimates
    sliding_ = encoder_layer_flops(c, LayerType::kSliding, S);
    full_ = encoder_layer_flops(c, LayerType::kFull, S);
    kv_linear_ = 2.0 * S * c.hidden_size * 2.0 * c.num_kv_heads * c.head_dim;
    for (LayerType t : types) progress_.work_total += layer_work(t);
  }

  // The callback for layer i (empty when nobody listens). Layers are reported in order.
  ChunkDone layer(int i) {
    if (!report_) return {};
    progress_.layer = i;
    const double work = layer_work(types_[std::size_t(i)]), before = progress_.work_done;
    const double kv_work = std::min(kv_linear_, work);
    return [this, work, before, kv_work](int pass, int rows_done) {
      const double share = double(rows_done) / progress_.rows;
      progress_.rows_done = pass == 1 ? 0 : rows_done;
      progress_.work_done = before + (pass == 1 ? kv_work * share : kv_work + (work - kv_work) * share);
      report_(progress_);
    };
  }

 private:
  double layer_work(LayerType t) const {
    const LayerFlops& f = t == LayerType::kSliding ? sliding_ : full_;
    return f.linear + f.attention;
  }
  std::function<void(const Progress&)> report_;
  std::vector<LayerType> types_;
  Progress progress_;
  LayerFlops sliding_, full_;
  double kv_linear_ = 0;
};

T5GEMMA2_NAMESPACE_END
