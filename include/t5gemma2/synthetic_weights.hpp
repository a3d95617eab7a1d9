// t5gemma2 — deterministic synthetic weights ("synth-weights-v1", the generator of the HF oracle's
// full-size goldens in tests/data/full).
//
// Every weight is a pure function of (HF tensor name with the "model." prefix, seed, flat index):
//   key = fnv1a64(name) ^ splitmix64(seed)
//   r   = splitmix64(key + i);  k = r >> 40                       (top 24 bits)
//   u   = (2k − 2^24) · 2^-24                                     (exact double in [-1, 1))
//   w   = f32( (u · scale) + offset )                             (two double ops, one rounding to f32)
// with (offset, scale) chosen by the tensor's role (synthetic_rule). The full-size goldens were
// made with these weights, so a full-size model can be checked without shipping gigabytes.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "t5gemma2/checkpoint.hpp"
#include "t5gemma2/ops/parallel.hpp"

T5GEMMA2_NAMESPACE_BEGIN

inline uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char b : bytes) h = (h ^ b) * 0x100000001B3ull;
  return h;
}

inline float synthetic_value(uint64_t key, uint64_t index, double scale, double offset) {
  const uint64_t k = splitmix64(key + index) >> 40;
  const double u = double(int64_t(2 * k) - (int64_t(1) << 24)) * 0x1p-24;
  const double t = u * scale;  // no FMA: the target builds with -ffp-contract=off
  const double v = t + offset;
  return float(v);
}

// The oracle's synthetic token ids (the full-size goldens' inputs and the benchmarks'):
//   id_j = 4 + splitmix64(fnv1a64(tag) + j) mod 255995,  j = 0, 1, ..., n−1
// -> ids in [4, 255998]: never PAD/EOS/BOS/UNK nor the image specials.
inline std::vector<int> synthetic_token_stream(std::string_view tag, int n) {
  const uint64_t key = fnv1a64(tag);
  std::vector<int> ids(static_cast<std::size_t>(n));
  for (int j = 0; j < n; ++j) ids[std::size_t(j)] = 4 + int(splitmix64(key + uint64_t(j)) % 255995u);
  return ids;
}

struct SyntheticRule {
  double offset = 0;
  double scale = 0;
};

inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// (offset, scale) of a tensor from its name and shape (spec table §2); unknown names throw.
inline SyntheticRule synthetic_rule(const std::string& name, const std::vector<int64_t>& shape) {
  const bool vision = name.find(".vision_tower.") != std::string::npos;
  const auto inv_sqrt = [](int64_t n) { return 1.0 / std::sqrt(double(n)); };
  const auto any_suffix = [&](std::initializer_list<const char*> suffixes) {
    for (const char* s : suffixes)
      if (ends_with(name, s)) return true;
    return false;
  };
  if (ends_with(name, "embeddings.patch_embedding.weight")) return {0, inv_sqrt(shape[1] * shape[2] * shape[3])};
  if (ends_with(name, "embeddings.patch_embedding.bias")) return {0, 0.1};
  if (ends_with(name, "embeddings.position_embedding.weight")) return {0, 0.5};
  if (ends_with(name, "mm_input_projection_weight")) return {0, inv_sqrt(shape[0])};
  if (ends_with(name, "embed_tokens.weight")) return {0, inv_sqrt(shape[1])};
  if (ends_with(name, "embed_tokens.eoi_embedding")) return {0, 1.0};
  if (vision) {
    if (any_suffix({"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.out_proj.weight",
                    "mlp.fc1.weight", "mlp.fc2.weight"}))
      return {0, inv_sqrt(shape[1])};
    if (any_suffix({"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias", "self_attn.out_proj.bias",
                    "mlp.fc1.bias", "mlp.fc2.bias"}))
      return {0, 0.1};
    if (any_suffix({"layer_norm1.weight", "layer_norm2.weight", "post_layernorm.weight"})) return {1.0, 0.25};
    if (any_suffix({"layer_norm1.bias", "layer_norm2.bias", "post_layernorm.bias"})) return {0, 0.1};
  } else {
    if (any_suffix({"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
                    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"}))
      return {0, inv_sqrt(shape[1])};
    if (any_suffix({"_layernorm.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight", "mm_soft_emb_norm.weight"}) ||
        name == "model.encoder.norm.weight" || name == "model.decoder.norm.weight")
      return {0, 0.5};
  }
  throw Error("synthetic weights: no rule for tensor '" + name + "'");
}

// The whole tensor `name` (HF name with "model.") of `shape` as f32.
inline std::vector<float> synthetic_tensor(const std::string& name, const std::vector<int64_t>& shape, uint64_t seed) {
  const SyntheticRule rule = synthetic_rule(name, shape);
  const uint64_t key = fnv1a64(name) ^ splitmix64(seed);
  std::vector<float> out(std::size_t(shape_numel(shape)));
  parallel_for(int(out.size() / 4096 + 1), long(out.size()) * 8, [&](int begin, int end) {
    const std::size_t stop = std::min(out.size(), std::size_t(end) * 4096);
    for (std::size_t i = std::size_t(begin) * 4096; i < stop; ++i) out[i] = synthetic_value(key, i, rule.scale, rule.offset);
  });
  return out;
}

// A checkpoint whose tensors are generated on request (seed 0 for the goldens). With
// with_vision = false the vision tower and projector are absent (a text-only model).
inline std::shared_ptr<Checkpoint> synthetic_checkpoint(uint64_t seed, bool with_vision) {
  return std::make_shared<Checkpoint>(
      [seed](const std::string& canonical_name, const std::vector<int64_t>& shape) {
        return synthetic_tensor("model." + canonical_name, shape, seed);
      },
      with_vision ? std::vector<std::string>{"encoder.vision_tower.", "encoder.multi_modal_projector."} : std::vector<std::string>{});
}

T5GEMMA2_NAMESPACE_END
