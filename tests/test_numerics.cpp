// Number formats and the canonical reductions.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "t5gemma2/numeric_types.hpp"
#include "t5gemma2/ops/reduce.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

TEST_CASE("bf16 rounds to nearest, ties to even, bit-exactly") {
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties to even -> 1.0.
  CHECK(bf16_from_f32(1.0f + std::ldexp(1.0f, -8)).bits == 0x3F80);
  // 1 + 3·2^-8 is halfway between 1.0078125 (odd mantissa) and 1.015625: ties to even -> up.
  CHECK(bf16_from_f32(1.0f + 3 * std::ldexp(1.0f, -8)).bits == 0x3F82);
  // Just above halfway rounds up.
  CHECK(bf16_from_f32(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)).bits == 0x3F81);
  CHECK(bf16_from_f32(-2.0f).bits == 0xC000);
  CHECK(bf16_from_f32(std::numeric_limits<float>::infinity()).bits == 0x7F80);
  CHECK(std::isnan(to_f32(bf16_from_f32(std::numeric_limits<float>::quiet_NaN()))));
  // The largest finite f32 overflows to infinity, as in PyTorch.
  CHECK(bf16_from_f32(std::numeric_limits<float>::max()).bits == 0x7F80);
  // The embed scales of docs/model.md §3.
  CHECK(round_to_bf16(float(std::sqrt(640.0))) == 25.25f);
  CHECK(round_to_bf16(float(std::sqrt(1152.0))) == 34.0f);
  CHECK(round_to_bf16(float(std::sqrt(2560.0))) == 50.5f);
}

TEST_CASE("f16 decodes normals, subnormals, infinities") {
  CHECK(f32_from_f16_bits(0x3C00) == 1.0f);
  CHECK(f32_from_f16_bits(0xC000) == -2.0f);
  CHECK(f32_from_f16_bits(0x0001) == std::ldexp(1.0f, -24));
  CHECK(f32_from_f16_bits(0x7BFF) == 65504.0f);
  CHECK(std::isinf(f32_from_f16_bits(0x7C00)));
  CHECK(std::isnan(f32_from_f16_bits(0x7E00)));
}

TEST_CASE("dot follows the documented order: 16 lanes, then the pairwise tree") {
  std::vector<float> a(37), b(37);
  for (int i = 0; i < 37; ++i) {
    a[std::size_t(i)] = std::sin(float(i) * 1.7f) * std::pow(10.0f, float(i % 7) - 3);
    b[std::size_t(i)] = std::cos(float(i) * 0.3f);
  }
  float lane[16] = {};
  for (int i = 0; i < 37; ++i) lane[i % 16] = std::fma(a[std::size_t(i)], b[std::size_t(i)], lane[i % 16]);
  float l8[8], l4[4], l2[2];
  for (int j = 0; j < 8; ++j) l8[j] = lane[j] + lane[j + 8];
  for (int j = 0; j < 4; ++j) l4[j] = l8[j] + l8[j + 4];
  for (int j = 0; j < 2; ++j) l2[j] = l4[j] + l4[j + 2];
  const float expected = l2[0] + l2[1];
  const float got = dot(a.data(), b.data(), a.size());
  CHECK(std::memcmp(&got, &expected, sizeof got) == 0);
}

TEST_CASE("the canonical order is not the sequential order (the test above can fail)") {
  // 1e8 + 1 + 1 + ... - 1e8: sequential f32 loses the ones, lanes keep some.
  std::vector<float> x(32, 1.0f);
  x[0] = 1e8f;
  x[16] = -1e8f;  // same lane as x[0]
  float sequential = 0;
  for (float v : x) sequential += v;
  CHECK(sum(x.data(), x.size()) == 30.0f);
  CHECK(sequential != 30.0f);
}

TEST_CASE("dot with bf16 weights widens each weight exactly") {
  std::vector<float> a{1.5f, -2.0f, 0.25f};
  std::vector<bf16_t> b{bf16_from_f32(2.0f), bf16_from_f32(0.5f), bf16_from_f32(-4.0f)};
  CHECK(dot(a.data(), b.data(), 3) == 1.0f);
}
