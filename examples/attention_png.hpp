// t5gemma2-dump --attention-png: attention probabilities as PNG heat maps (stb_image_write).
//
// One picture per layer and head: rows = queries, columns = keys; white = 0, dark blue = 1
// (√p, so small weights stay visible); keys the mask hides are light grey, which draws the
// sliding window and the causal triangle. Decoder pictures show the merged key list
// [self | cross] with a red line at the boundary.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "t5gemma2/attention_maps.hpp"
#include "t5gemma2/dump.hpp"
#include "t5gemma2/generate.hpp"

extern "C" int stbi_write_png_to_func(void (*func)(void* context, void* data, int size), void* context, int w, int h, int comp,
                                      const void* data, int stride_in_bytes);

namespace t5gemma2_cli {

// probs [Q, K] (masked entries flagged by `visible`) -> RGB PNG; a red line after column
// `boundary` (0: none).
inline void write_heat_map(const std::string& path, const t5gemma2::Tensor& probs, const t5gemma2::Mask& visible, int boundary) {
  const int cell = std::clamp(768 / std::max(probs.rows, probs.cols), 1, 16);
  const int w = probs.cols * cell, h = probs.rows * cell;
  std::vector<uint8_t> rgb(std::size_t(w) * std::size_t(h) * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int q = y / cell, k = x / cell;
      uint8_t* px = &rgb[(std::size_t(y) * std::size_t(w) + std::size_t(x)) * 3];
      if (boundary > 0 && k == boundary && x % cell < std::max(1, cell / 4)) {
        px[0] = 220, px[1] = 30, px[2] = 30;
      } else if (!visible.at(q, k)) {
        px[0] = px[1] = px[2] = 225;
      } else {
        const double t = std::sqrt(std::clamp(double(probs.row(q)[k]), 0.0, 1.0));
        px[0] = uint8_t(std::lround(255 - t * (255 - 8)));
        px[1] = uint8_t(std::lround(255 - t * (255 - 48)));
        px[2] = uint8_t(std::lround(255 - t * (255 - 107)));
      }
    }
  std::string png;  // encoded in memory, then written whole or not at all
  const auto append = [](void* context, void* data, int size) { static_cast<std::string*>(context)->append(static_cast<char*>(data), std::size_t(size)); };
  if (!stbi_write_png_to_func(append, &png, w, h, 3, rgb.data(), w * 3)) throw t5gemma2::Error(path + ": cannot encode PNG");
  t5gemma2::write_file_atomically(path, png);
}

// Sample 0 of `in`: its encoder layers and, teacher-forced on `decoder_ids`, its decoder layers
// (only layer `only_layer` when >= 0). Returns the number of pictures written.
template <class M>
int write_attention_pngs(const M& model, const t5gemma2::CaseInputs& in, const std::vector<int>& decoder_ids, const std::string& dir,
                         int only_layer) {
  using namespace t5gemma2;
  std::filesystem::create_directories(dir);
  std::map<std::string, Tensor> seen;
  Observer observe;
  observe.tensor = [&](const std::string& name, const Tensor& t) { seen[name] = t; };
  const Tensor enc = encode_sample(model, in, 0, observe);
  (void)model.decode(decoder_ids, enc, in.encoder_valid[0], observe);
  const ModelConfig& c = model.config();
  const auto input_of = [&](const std::string& stack, int i) {
    return seen.at(stack + (i == 0 ? ".embeddings" : ".layer" + std::to_string(i - 1)));
  };
  const auto name = [&](const std::string& stack, int i, int h) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s/%s_layer%02d_head%d.png", dir.c_str(), stack.c_str(), i, h);
    return std::string(buf);
  };
  int written = 0;
  for (int i = 0; i < c.encoder.num_layers; ++i) {
    if (only_layer >= 0 && i != only_layer) continue;
    const auto& w = model.text_weights().encoder.layers[std::size_t(i)];
    const Mask mask = encoder_mask(w.type, in.encoder_valid[0], c.encoder.sliding_window);
    const std::vector<Tensor> maps = encoder_attention_maps(model, input_of("encoder", i), in.encoder_valid[0], i);
    for (std::size_t h = 0; h < maps.size(); ++h, ++written) write_heat_map(name("encoder", i, int(h)), maps[h], mask, 0);
  }
  std::vector<int> pos(decoder_ids.size());
  for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = int(i);
  for (int i = 0; i < c.decoder.num_layers; ++i) {
    if (only_layer >= 0 && i != only_layer) continue;
    const auto& w = model.text_weights().decoder.layers[std::size_t(i)];
    const Mask mask = decoder_merged_mask(w.type, pos, pos, in.encoder_valid[0], c.decoder.sliding_window);
    const std::vector<Tensor> maps = decoder_attention_maps(model, input_of("decoder", i), enc, in.encoder_valid[0], i);
    for (std::size_t h = 0; h < maps.size(); ++h, ++written)
      write_heat_map(name("decoder", i, int(h)), maps[h], mask, int(decoder_ids.size()));
  }
  return written;
}

}  // namespace t5gemma2_cli
