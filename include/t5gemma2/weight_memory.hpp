// t5gemma2 — how much memory a model's weights take, checked before loading.
//
// Weights that map zero-copy from a checkpoint storing W cost page cache, which the kernel can
// drop and re-read. Weights we convert (an F16/F32 file loaded as bf16, a bf16 file as f32) or
// generate (synthetic weights) are memory of our own: if they cannot fit, the load would end in
// the OOM killer minutes later. Model's constructor therefore compares the estimate below with
// the memory the machine has available (MemAvailable) first and refuses with both numbers.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "t5gemma2/config.hpp"
#include "t5gemma2/error.hpp"
#include "t5gemma2/file_io.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct WeightCount {
  int64_t matrix = 0;  // elements of weight matrices (stored as W)
  int64_t vector = 0;  // elements of norm weights, biases, eoi embedding (always f32)

  double bytes(std::size_t weight_size) const { return double(matrix) * double(weight_size) + double(vector) * 4.0; }
};

// The parameters a Model loads: the tied embedding table, the encoder, the decoder (unless
// encoder-only) and the vision tower + projector (when loaded).
inline WeightCount weight_count(const ModelConfig& c, bool with_decoder, bool with_vision) {
  WeightCount n;
  const int64_t H = c.encoder.hidden_size;
  n.matrix += int64_t(c.encoder.vocab_size) * H;
  n.vector += H;  // eoi_embedding
  auto stack = [&](const TextConfig& t) {
    const int64_t q = int64_t(t.num_heads) * t.head_dim, kv = int64_t(t.num_kv_heads) * t.head_dim;
    n.matrix += int64_t(t.num_layers) * (2 * q * H + 2 * kv * H + 3 * int64_t(t.intermediate_size) * H);
    n.vector += int64_t(t.num_layers) * (4 * H + 2 * int64_t(t.head_dim)) + H;
  };
  stack(c.encoder);
  if (with_decoder) stack(c.decoder);
  if (with_vision && c.vision.hidden_size > 0) {
    const VisionConfig& v = c.vision;
    const int64_t hv = v.hidden_size, iv = v.intermediate_size, p = v.patch_size;
    n.matrix += hv * v.num_channels * p * p + int64_t(v.num_patches()) * hv + int64_t(v.num_layers) * (4 * hv * hv + 2 * hv * iv) +
                hv * H;
    n.vector += hv + int64_t(v.num_layers) * (4 * hv + iv + 5 * hv) + 2 * hv + hv;
  }
  return n;
}

// MemAvailable from /proc/meminfo in bytes, or 0 when unknown (not Linux).
inline double available_memory_bytes() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  double kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
  std::fclose(f);
  return kib * 1024.0;
}

// Throws when `needed` bytes of weights we must hold ourselves exceed `available` (0: unknown,
// no check). `what` says which weights ("f32 weights", ...).
inline void check_weights_fit(double needed, double available, const std::string& what, int64_t parameters) {
  if (available <= 0 || needed <= available) return;
  throw Error("the model's " + what + " need " + byte_count(std::size_t(needed)) + " of memory (" + std::to_string(parameters) +
              " parameters) but this machine has " + byte_count(std::size_t(available)) +
              " available: load it with bf16 weights (Model<..., bf16_t, ...>; CLI: --precision bf16-weights or "
              "hf-bf16), from a bf16 checkpoint if you have one (mapped, not copied)");
}

T5GEMMA2_NAMESPACE_END
