// t5gemma2 — exp, expm1 and tanh of the canonical order: one definition for every target.
//
// glibc's expf/tanhf cannot be reproduced by a SIMD kernel, so the reference does not use them.
// It uses the functions below, whose every step is an IEEE operation or a fused multiply-add
// (std::fma). ops/hwy/math-inl.h performs the same steps on Highway vectors (MulAdd is one fused
// operation on the targets that carry the bit-identity guarantee), so softmax, GELU and
// soft-capping give the same bits on every target. The algorithm is the classic one (and the one
// of Highway's contrib math, whose polynomial we use, so the accuracy is known):
//
//   exp(x):  q = trunc(x·log2(e) ± 0.5)                      nearest integer, as int32
//            r = x + q·(−ln2_hi) + q·(−ln2_lo)               two fused steps (Cody–Waite)
//            p = r + r²·P(r)                                 P: degree-5 minimax, Estrin order
//            exp = (1 + p) · 2^⌊q/2⌋ · 2^(q − ⌊q/2⌋)          two products: no overflow in 2^q
//            exp = 0 where x < −104 (and for NaN: the comparison is false)
//   expm1(x): p for |x| < ln2/2, else the exp formula minus 1; −1 below −104
//   tanh(x):  sign(x) · (e / (e + 2)) with e = expm1(2|x|); 1 above 18.714973875
//
// Measured against double precision (tests/test_targets.cpp, "canonical exp and tanh"; every 7th
// float of the sweep): exp ≤ 1.03 ulp over [−104, 88.7], tanh ≤ 2.79 ulp over [−20, 20] (glibc:
// 1 and 2); the test bounds them by 1.5 and 3 ulp. docs/numerics.md quotes the same figures.
#pragma once

#include <cmath>
#include <cstdint>
#include "t5gemma2/numeric_types.hpp"

T5GEMMA2_NAMESPACE_BEGIN

namespace math_detail {

inline uint32_t bits(float x) { return bits_from_f32(x); }
inline float from_bits(uint32_t u) { return f32_from_bits(u); }

// float -> int32 rounding toward zero; out of range and NaN saturate by the sign bit
// (+huge/+NaN -> INT32_MAX, −huge/−NaN -> INT32_MIN), which is what the SIMD conversion does.
inline int32_t to_int32_saturating(float x) {
  if (x >= -2147483648.0f && x < 2147483648.0f) return int32_t(x);
  return (bits(x) >> 31) ? INT32_MIN : INT32_MAX;
}

// 2^n for an integer n, built in the exponent field; wraps like the SIMD integer lanes.
inline float pow2i(int32_t n) { return from_bits((uint32_t(n) + 127u) << 23); }

// (1 + p) · 2^q in two steps, so q up to 254 does not overflow the exponent field.
inline float scale_by_pow2(float x, int32_t q) {
  const int32_t half = q >> 1;  // arithmetic shift: ⌊q/2⌋
  return (x * pow2i(half)) * pow2i(int32_t(uint32_t(q) - uint32_t(half)));
}

// Coefficients and constants (f32).
inline constexpr float kLog2e = 1.442695040888963407359924681f;
inline constexpr float kLn2Hi = -0.693145751953125f;         // with kLn2Lo: −ln 2
inline constexpr float kLn2Lo = -1.428606765330187045e-6f;
inline constexpr float kP0 = 0.5f;
inline constexpr float kP1 = 0.166666671633720397949219f;
inline constexpr float kP2 = 0.0416664853692054748535156f;
inline constexpr float kP3 = 0.00833336077630519866943359f;
inline constexpr float kP4 = 0.00139304355252534151077271f;
inline constexpr float kP5 = 0.000198527617612853646278381f;
inline constexpr float kExpLowerBound = -104.0f;
inline constexpr float kExpSleefUpperBound = 100.0f;
inline constexpr float kHalfLn2 = 0.346573590279972654708616f;
inline constexpr float kTanhLimit = 18.714973875f;

// Nearest integer to x·log2(e): the ±0.5 carries x's sign bit (−0 gives −0.5).
inline int32_t exp_quotient(float x) {
  const float half = from_bits(bits(0.5f) | (bits(x) & 0x80000000u));
  return to_int32_saturating(std::fma(x, kLog2e, half));
}

// r = x − q·ln2 in two fused steps.
inline float exp_reduce(float x, int32_t q) {
  const float qf = float(q);
  x = std::fma(qf, kLn2Hi, x);
  return std::fma(qf, kLn2Lo, x);
}

// p(r) ≈ e^r − 1 = r + r²·P(r), P evaluated in Estrin's order.
inline float exp_poly(float r) {
  const float r2 = r * r;
  const float r4 = r2 * r2;
  const float p = std::fma(r4, std::fma(kP5, r, kP4), std::fma(r2, std::fma(kP3, r, kP2), std::fma(kP1, r, kP0)));
  return std::fma(p, r * r, r);
}

}  // namespace math_detail

// e^x (see the header comment).
inline float exp_canonical(float x) {
  using namespace math_detail;
  const int32_t q = exp_quotient(x);
  const float y = scale_by_pow2(exp_poly(exp_reduce(x, q)) + 1.0f, q);
  return x >= kExpLowerBound ? y : 0.0f;
}

// e^x − 1.
inline float expm1_canonical(float x) {
  using namespace math_detail;
  const int32_t q = exp_quotient(x);
  const float p = exp_poly(exp_reduce(x, q));
  const float z = std::fabs(x) < kHalfLn2 ? p : scale_by_pow2(p + 1.0f, q) - 1.0f;
  return x < kExpLowerBound ? -1.0f : z;
}

// tanh(x) = sign(x) · expm1(2|x|) / (expm1(2|x|) + 2).
inline float tanh_canonical(float x) {
  using namespace math_detail;
  const uint32_t sign = bits(x) & 0x80000000u;
  const float a = from_bits(bits(x) ^ sign);  // |x|
  const float e = expm1_canonical(a * 2.0f);
  const float z = a > kTanhLimit ? 1.0f : e / (e + 2.0f);
  return from_bits(bits(z) ^ sign);
}

// e^x as Sleef's expf (u10 variant, with FMA) computes it — torch 1.13's float exp, used by the
// hf-bf16 policy's softmax (hf_bf16/torch113.hpp: softmax_row): the same reduction and polynomial
// as exp_canonical, but q = rint(x·log2 e) and the polynomial in Horner's order; 0 below −104,
// +inf above 100. Equal to torch.exp on 100,000 of 100,000 values (tools/probe_torch_bf16.py).
// Its SIMD twin: ops/hwy/math-inl.h, ExpSleef.
inline float exp_sleef(float x) {
  using namespace math_detail;
  if (x < kExpLowerBound) return 0.0f;
  if (x > kExpSleefUpperBound) return INFINITY;
  const int32_t q = to_int32_saturating(std::nearbyint(x * kLog2e));  // NaN: any q, the result is NaN
  const float qf = float(q);
  float s = std::fma(qf, kLn2Hi, x);
  s = std::fma(qf, kLn2Lo, s);
  float u = kP5;
  for (float c : {kP4, kP3, kP2, kP1, kP0}) u = std::fma(u, s, c);
  u = 1.0f + std::fma(s * s, u, s);
  return scale_by_pow2(u, q);
}

T5GEMMA2_NAMESPACE_END
