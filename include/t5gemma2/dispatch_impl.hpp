// t5gemma2 — dynamic SIMD dispatch: the kernels compiled once per target, chosen at run time.
//
// Include this header in EXACTLY ONE .cpp file of a program that uses HwyDynamicTarget
// (stb-style), before any other Highway header of that file, and link libhwy (the CMake target
// t5gemma2::t5gemma2 does). Compile that file with the default baseline flags (no -march).
//
// Targets compiled (Highway 1.0.3): AVX3_DL, AVX3, AVX2 run the vector kernels; the fallback
// target (HWY_SCALAR with g++ 12.2, EMU128 with clang) runs the scalar reference. SSSE3 and
// SSE4 have no fused multiply-add, so they would run the scalar reference too: they are left
// out of the product (define T5GEMMA2_DISPATCH_ALL_TARGETS to keep them, as the tests do).
#ifdef T5GEMMA2_DISPATCH_IMPL_INCLUDED_
#error "t5gemma2/dispatch_impl.hpp belongs in exactly one translation unit, once"
#endif
#define T5GEMMA2_DISPATCH_IMPL_INCLUDED_

#if defined(HWY_TARGETS) && !defined(HWY_WANT_AVX3_DL)
#error "include t5gemma2/dispatch_impl.hpp before any Highway header in its .cpp file"
#endif
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL  // Highway 1.0.3 compiles AVX3_DL only when asked
#endif
#if !defined(T5GEMMA2_DISPATCH_ALL_TARGETS) && !defined(HWY_DISABLED_TARGETS)
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "t5gemma2/ops/hwy/kernels-inl.h"
#include <hwy/foreach_target.h>  // re-includes the kernels once per target
#include <hwy/highway.h>

#include "t5gemma2/error.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/ops/hwy/kernels-inl.h"

#if HWY_ONCE
T5GEMMA2_NAMESPACE_BEGIN

HWY_EXPORT(KernelTargetName);
HWY_EXPORT(ReadsKeyPanels);
HWY_EXPORT(MatMulF32);
HWY_EXPORT(MatMulBF16);
HWY_EXPORT(MatMulOneDnnOrder);
HWY_EXPORT(DotF32);
HWY_EXPORT(DotBF16);
HWY_EXPORT(SumF32);
HWY_EXPORT(Axpy);
HWY_EXPORT(RmsNorm);
HWY_EXPORT(Gelu);
HWY_EXPORT(Add);
HWY_EXPORT(Rope);
HWY_EXPORT(LayerNorm);
HWY_EXPORT(GeluMul);
HWY_EXPORT(SoftCap);
HWY_EXPORT(ExpRow);
HWY_EXPORT(TanhRow);
HWY_EXPORT(ExpSleefRow);
HWY_EXPORT(GeluBf16);
HWY_EXPORT(AttentionScores);
HWY_EXPORT(AttentionSoftmax);
HWY_EXPORT(AttentionPV);

const char* HwyDynamicTarget::name() { return HWY_DYNAMIC_DISPATCH(KernelTargetName)(); }
bool HwyDynamicTarget::reads_key_panels() { return HWY_DYNAMIC_DISPATCH(ReadsKeyPanels)(); }
float HwyDynamicTarget::dot(const float* a, const float* b, std::size_t n) { return HWY_DYNAMIC_DISPATCH(DotF32)(a, b, n); }
float HwyDynamicTarget::dot(const float* a, const bf16_t* b, std::size_t n) { return HWY_DYNAMIC_DISPATCH(DotBF16)(a, b, n); }
void HwyDynamicTarget::matmul_raw(const float* x, int rows, const float* w, int out, int in, float* y) {
  HWY_DYNAMIC_DISPATCH(MatMulF32)(x, rows, w, out, in, y);
}
void HwyDynamicTarget::matmul_raw(const float* x, int rows, const bf16_t* w, int out, int in, float* y) {
  HWY_DYNAMIC_DISPATCH(MatMulBF16)(x, rows, w, out, in, y);
}
void HwyDynamicTarget::matmul_onednn_order_raw(const float* x, int rows, const bf16_t* w, int out, int in, int kb, float* y) {
  HWY_DYNAMIC_DISPATCH(MatMulOneDnnOrder)(x, rows, w, out, in, kb, y);
}
void HwyDynamicTarget::axpy(float a, const float* x, float* y, std::size_t n) { HWY_DYNAMIC_DISPATCH(Axpy)(a, x, y, n); }
void HwyDynamicTarget::rms_norm(const float* x, const float* w, std::size_t n, float eps, float* y) {
  HWY_DYNAMIC_DISPATCH(RmsNorm)(x, w, n, eps, y);
}
void HwyDynamicTarget::gelu(float* x, std::size_t n) { HWY_DYNAMIC_DISPATCH(Gelu)(x, n); }
void HwyDynamicTarget::add(const float* x, float* y, std::size_t n) { HWY_DYNAMIC_DISPATCH(Add)(x, y, n); }
void HwyDynamicTarget::rope(float* v, const float* cos, const float* sin, int head_dim) {
  HWY_DYNAMIC_DISPATCH(Rope)(v, cos, sin, head_dim);
}
void HwyDynamicTarget::layer_norm(float* x, const float* w, const float* b, std::size_t n, float eps, float* centered) {
  HWY_DYNAMIC_DISPATCH(LayerNorm)(x, w, b, n, eps, centered);
}
void HwyDynamicTarget::gelu_mul(float* gate, const float* up, std::size_t n) { HWY_DYNAMIC_DISPATCH(GeluMul)(gate, up, n); }
void HwyDynamicTarget::soft_cap(float* x, std::size_t n, float cap) { HWY_DYNAMIC_DISPATCH(SoftCap)(x, n, cap); }
void HwyDynamicTarget::attention_scores(const float* const* queries, int nq, const KeySpan* spans, int n_spans, int d,
                                        float* scores) {
  HWY_DYNAMIC_DISPATCH(AttentionScores)(queries, nq, spans, n_spans, d, scores);
}
void HwyDynamicTarget::attention_softmax(float* dots, int n, float scale, const float* softcap) {
  HWY_DYNAMIC_DISPATCH(AttentionSoftmax)(dots, n, scale, softcap);
}
void HwyDynamicTarget::attention_pv(const float* const* weights, float* const* outs, int nq, const KeySpan* spans, int n_spans,
                                    int d) {
  HWY_DYNAMIC_DISPATCH(AttentionPV)(weights, outs, nq, spans, n_spans, d);
}
void HwyDynamicTarget::exp_row(const float* x, std::size_t n, float* y) { HWY_DYNAMIC_DISPATCH(ExpRow)(x, n, y); }
void HwyDynamicTarget::tanh_row(const float* x, std::size_t n, float* y) { HWY_DYNAMIC_DISPATCH(TanhRow)(x, n, y); }
void HwyDynamicTarget::exp_sleef_row(const float* x, std::size_t n, float* y) { HWY_DYNAMIC_DISPATCH(ExpSleefRow)(x, n, y); }
void HwyDynamicTarget::gelu_bf16(float* x, std::size_t n) { HWY_DYNAMIC_DISPATCH(GeluBf16)(x, n); }
float HwyDynamicTarget::sum(const float* x, std::size_t n) { return HWY_DYNAMIC_DISPATCH(SumF32)(x, n); }

namespace dispatch_detail {
inline int64_t& selected() {  // the target bit forced by select_target, 0 = best
  static int64_t bit = 0;
  return bit;
}
inline void restrict_to(int64_t bit) {
  hwy::SetSupportedTargetsForTest(bit);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}
// Compiled targets this CPU supports, best first, with the name of the kernels each runs.
inline std::vector<std::pair<int64_t, std::string>> compiled_targets() {
  restrict_to(0);
  std::vector<std::pair<int64_t, std::string>> out;
  for (int64_t t : hwy::SupportedAndGeneratedTargets()) {
    restrict_to(t);
    out.emplace_back(t, HwyDynamicTarget::name());
  }
  restrict_to(selected());
  return out;
}
}  // namespace dispatch_detail

std::vector<std::string> available_targets(bool every_compiled) {
  std::vector<std::string> names;
  for (const auto& [bit, kernels] : dispatch_detail::compiled_targets()) {
    if (every_compiled) names.push_back(hwy::TargetName(bit));
    else if (kernels != "scalar") names.push_back(kernels);
  }
  if (!every_compiled) names.push_back("scalar");
  return names;
}

void select_target(const std::string& name) {
  if (name.empty() || name == "best") {
    dispatch_detail::selected() = 0;
    dispatch_detail::restrict_to(0);
    return;
  }
  for (const auto& [bit, kernels] : dispatch_detail::compiled_targets()) {
    // "scalar": the first target whose kernels are the scalar reference; else a Highway name.
    if (name == "scalar" ? kernels == "scalar" : (kernels == name || hwy::TargetName(bit) == name)) {
      dispatch_detail::selected() = bit;
      dispatch_detail::restrict_to(bit);
      return;
    }
  }
  std::string known;
  for (const std::string& n : available_targets()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown or unsupported SIMD target '" + name + "' (this build and CPU run: " + known + ")");
}

T5GEMMA2_NAMESPACE_END
#endif  // HWY_ONCE
