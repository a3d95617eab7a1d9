// t5gemma2 — storage number formats: bfloat16 and IEEE half, and their conversions.
//
// Activations are held in f32 (under the HfBf16 policy they hold bf16 values). Weights may be
// stored as f32 or bf16 (Model's `W` template parameter); f16 checkpoints are converted on load.
#pragma once

#include <cstddef>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "t5gemma2/version.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// bfloat16: the upper 16 bits of an IEEE f32.
struct bf16_t {
  uint16_t bits = 0;
};

inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline uint32_t bits_from_f32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float to_f32(float x) { return x; }
inline float to_f32(bf16_t x) { return f32_from_bits(uint32_t(x.bits) << 16); }

// f32 -> bf16 with round-to-nearest-even, as PyTorch's `.to(torch.bfloat16)` does.
// NaN stays NaN (quiet bit forced), infinities stay infinite.
inline bf16_t bf16_from_f32(float f) {
  const uint32_t u = bits_from_f32(f);
  if (std::isnan(f)) return bf16_t{uint16_t((u >> 16) | 0x0040u)};
  const uint32_t rounding_bias = 0x7FFFu + ((u >> 16) & 1u);
  return bf16_t{uint16_t((u + rounding_bias) >> 16)};
}

// Rounds an f32 value to the nearest bf16 and returns it as f32.
inline float round_to_bf16(float f) { return to_f32(bf16_from_f32(f)); }

// Rounds n values in place to the nearest bf16 (ties to even).
inline void round_to_bf16(float* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) x[i] = round_to_bf16(x[i]);
}

// IEEE binary16 -> f32 (exact; handles subnormals, inf and NaN).
inline float f32_from_f16_bits(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  const uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float magnitude = std::ldexp(float(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return f32_from_bits(sign | 0x7F800000u | (mantissa << 13));
  return f32_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// Converts an f32 to the weight storage type T (identity for float).
template <class T>
inline T weight_from_f32(float f);
template <>
inline float weight_from_f32<float>(float f) { return f; }
template <>
inline bf16_t weight_from_f32<bf16_t>(float f) { return bf16_from_f32(f); }

// Name of a weight type, for messages and benchmark labels.
template <class T>
constexpr const char* weight_type_name();
template <>
constexpr const char* weight_type_name<float>() { return "f32"; }
template <>
constexpr const char* weight_type_name<bf16_t>() { return "bf16"; }

T5GEMMA2_NAMESPACE_END
