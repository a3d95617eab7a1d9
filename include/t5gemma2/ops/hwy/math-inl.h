// t5gemma2 — exp, expm1 and tanh on Highway vectors: the SIMD twin of ops/math.hpp.
//
// Each function performs, lane by lane, exactly the steps of its scalar twin (same constants,
// same order, MulAdd where the twin writes std::fma). On targets with a native fused
// multiply-add (HWY_NATIVE_FMA) every lane is bit-identical to exp_canonical / expm1_canonical /
// tanh_canonical / exp_sleef (ExpSleef: torch's exp, for the hf-bf16 softmax); tests/test_targets.cpp sweeps the floats of the ranges the model uses.
//
// Per-target include guard (this file is compiled once per SIMD target by foreach_target.h).
#if defined(T5GEMMA2_OPS_HWY_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef T5GEMMA2_OPS_HWY_MATH_INL_H_
#undef T5GEMMA2_OPS_HWY_MATH_INL_H_
#else
#define T5GEMMA2_OPS_HWY_MATH_INL_H_
#endif

#include <hwy/highway.h>

#include "t5gemma2/ops/math.hpp"

HWY_BEFORE_NAMESPACE();
namespace t5gemma2 {
inline namespace v0_1 {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Nearest integer to x·log2(e) (the ±0.5 carries x's sign bit), as int32 lanes.
template <class D, class V = hn::Vec<D>>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> ExpQuotient(D d, V x) {
  const hn::RebindToSigned<D> di;
  const V half = hn::Or(hn::Set(d, 0.5f), hn::And(x, hn::Set(d, -0.0f)));
  return hn::ConvertTo(di, hn::MulAdd(x, hn::Set(d, math_detail::kLog2e), half));
}

// r = x − q·ln2 in two fused steps.
template <class D, class V = hn::Vec<D>, class VI>
HWY_INLINE V ExpReduce(D d, V x, VI q) {
  const V qf = hn::ConvertTo(d, q);
  x = hn::MulAdd(qf, hn::Set(d, math_detail::kLn2Hi), x);
  return hn::MulAdd(qf, hn::Set(d, math_detail::kLn2Lo), x);
}

// r + r²·P(r), P in Estrin's order.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ExpPoly(D d, V r) {
  using namespace math_detail;
  const V r2 = hn::Mul(r, r);
  const V r4 = hn::Mul(r2, r2);
  const V p = hn::MulAdd(r4, hn::MulAdd(hn::Set(d, kP5), r, hn::Set(d, kP4)),
                         hn::MulAdd(r2, hn::MulAdd(hn::Set(d, kP3), r, hn::Set(d, kP2)),
                                    hn::MulAdd(hn::Set(d, kP1), r, hn::Set(d, kP0))));
  return hn::MulAdd(p, hn::Mul(r, r), r);
}

// 2^n in the exponent field (wrapping integer lanes).
template <class D, class VI>
HWY_INLINE hn::Vec<D> Pow2I(D d, VI n) {
  const hn::RebindToSigned<D> di;
  return hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(n, hn::Set(di, 127))));
}

// x · 2^⌊q/2⌋ · 2^(q − ⌊q/2⌋)
template <class D, class V = hn::Vec<D>, class VI>
HWY_INLINE V ScaleByPow2(D d, V x, VI q) {
  const VI half = hn::ShiftRight<1>(q);
  return hn::Mul(hn::Mul(x, Pow2I(d, half)), Pow2I(d, hn::Sub(q, half)));
}

template <class D, class V = hn::Vec<D>>
HWY_INLINE V ExpCanonical(D d, V x) {
  const auto q = ExpQuotient(d, x);
  const V y = ScaleByPow2(d, hn::Add(ExpPoly(d, ExpReduce(d, x, q)), hn::Set(d, 1.0f)), q);
  return hn::IfThenElseZero(hn::Ge(x, hn::Set(d, math_detail::kExpLowerBound)), y);
}

template <class D, class V = hn::Vec<D>>
HWY_INLINE V Expm1Canonical(D d, V x) {
  const auto q = ExpQuotient(d, x);
  const V p = ExpPoly(d, ExpReduce(d, x, q));
  const V one = hn::Set(d, 1.0f);
  const V z = hn::IfThenElse(hn::Lt(hn::Abs(x), hn::Set(d, math_detail::kHalfLn2)), p,
                             hn::Sub(ScaleByPow2(d, hn::Add(p, one), q), one));
  return hn::IfThenElse(hn::Lt(x, hn::Set(d, math_detail::kExpLowerBound)), hn::Set(d, -1.0f), z);
}

template <class D, class V = hn::Vec<D>>
HWY_INLINE V TanhCanonical(D d, V x) {
  const V sign = hn::And(x, hn::Set(d, -0.0f));
  const V a = hn::Xor(x, sign);
  const V e = Expm1Canonical(d, hn::Mul(a, hn::Set(d, 2.0f)));
  const V z = hn::IfThenElse(hn::Gt(a, hn::Set(d, math_detail::kTanhLimit)), hn::Set(d, 1.0f),
                             hn::Div(e, hn::Add(e, hn::Set(d, 2.0f))));
  return hn::Xor(z, sign);
}

// Sleef's expf (twin: exp_sleef): q = round-to-nearest-even(x·log2 e), Horner's order.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ExpSleef(D d, V x) {
  using namespace math_detail;
  const hn::RebindToSigned<D> di;
  const auto q = hn::ConvertTo(di, hn::Round(hn::Mul(x, hn::Set(d, kLog2e))));
  const V qf = hn::ConvertTo(d, q);
  V s = hn::MulAdd(qf, hn::Set(d, kLn2Hi), x);
  s = hn::MulAdd(qf, hn::Set(d, kLn2Lo), s);
  V u = hn::Set(d, kP5);
  for (float c : {kP4, kP3, kP2, kP1, kP0}) u = hn::MulAdd(u, s, hn::Set(d, c));
  u = hn::Add(hn::Set(d, 1.0f), hn::MulAdd(hn::Mul(s, s), u, s));
  const V y = hn::IfThenElse(hn::Gt(x, hn::Set(d, kExpSleefUpperBound)), hn::Set(d, INFINITY), ScaleByPow2(d, u, q));
  return hn::IfThenElse(hn::Lt(x, hn::Set(d, kExpLowerBound)), hn::Zero(d), y);
}

}  // namespace HWY_NAMESPACE
}  // namespace v0_1
}  // namespace t5gemma2
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
