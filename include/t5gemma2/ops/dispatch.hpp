// t5gemma2 — the DYNAMIC Highway target: every kernel call goes to the best SIMD target the CPU
// supports, chosen at run time (Highway's HWY_DYNAMIC_DISPATCH; one indirect call per kernel
// call, never per dot product).
//
//   #include <t5gemma2/t5gemma2.hpp>           // declares HwyDynamicTarget (this header)
//   t5gemma2::Model<t5gemma2::RuntimeDims, float, t5gemma2::HwyDynamicTarget> model(dir);
//
// and in EXACTLY ONE .cpp file of the program, stb-style:
//
//   #include <t5gemma2/dispatch_impl.hpp>      // compiles the kernels once per SIMD target
//
// linking libhwy (CMake: the t5gemma2::t5gemma2 target already does). Compile that file with
// the default baseline flags (no -march): the baseline would leak into the lower targets.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "t5gemma2/ops/scalar.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct HwyDynamicTarget {
  using is_kernel_set = void;
  static bool reads_key_panels();  // attention_scores reads KeySpan::panels when given (a vector target)
  static const char* name();  // the target the kernels run on now, e.g. "AVX3_DL", or "scalar"

  static float dot(const float* a, const float* b, std::size_t n);
  static float dot(const float* a, const bf16_t* b, std::size_t n);
  template <class W>
  static void matmul(const Tensor& x, const WeightMatrix<W>& w, Tensor& y) {
    y = Tensor(x.rows, w.rows);
    matmul_raw(x.data.data(), x.rows, w.data, w.rows, w.cols, y.data.data());
  }
  static void matmul_raw(const float* x, int rows, const float* w, int out, int in, float* y);
  static void matmul_raw(const float* x, int rows, const bf16_t* w, int out, int in, float* y);
  static void matmul_onednn_order(const Tensor& x, const WeightMatrix<bf16_t>& w, Tensor& y, int kb = 0) {
    y = Tensor(x.rows, w.rows);
    matmul_onednn_order_raw(x.data.data(), x.rows, w.data, w.rows, w.cols, kb ? kb : onednn_k_block(w.cols), y.data.data());
  }
  static void matmul_onednn_order_raw(const float* x, int rows, const bf16_t* w, int out, int in, int kb, float* y);
  static void axpy(float a, const float* x, float* y, std::size_t n);
  static void rms_norm(const float* x, const float* w, std::size_t n, float eps, float* y);
  static void gelu(float* x, std::size_t n);
  static void add(const float* x, float* y, std::size_t n);
  static void rope(float* v, const float* cos, const float* sin, int head_dim);
  static void layer_norm(float* x, const float* w, const float* b, std::size_t n, float eps, float* centered);
  static void gelu_mul(float* gate, const float* up, std::size_t n);
  static void soft_cap(float* x, std::size_t n, float cap);
  static void attention_scores(const float* const* queries, int nq, const KeySpan* spans, int n_spans, int d, float* scores);
  static void attention_softmax(float* dots, int n, float scale, const float* softcap);
  static void attention_pv(const float* const* weights, float* const* outs, int nq, const KeySpan* spans, int n_spans, int d);
  // Elementwise canonical exp/tanh and the canonical sum (tests and benchmarks; tanh_row and the
  // two below also serve the hf-bf16 kernels).
  static void exp_row(const float* x, std::size_t n, float* y);
  static void tanh_row(const float* x, std::size_t n, float* y);
  static void exp_sleef_row(const float* x, std::size_t n, float* y);  // torch's exp (hf-bf16 softmax)
  static void gelu_bf16(float* x, std::size_t n);                     // torch's bf16 GELU (hf-bf16)
  static float sum(const float* x, std::size_t n);
};

// The targets this program was built with and this CPU runs, best first, as Highway names them
// ("AVX3_DL", "AVX3", "AVX2", ...), then "scalar" (the reference). every_compiled: the Highway
// names of all compiled targets, including those without FMA that run the reference (tests).
std::vector<std::string> available_targets(bool every_compiled = false);

// Makes every later kernel call run on `name` (one of available_targets(); "scalar" = the
// reference; "" or "best" = back to the best target). Throws Error for an unknown name.
void select_target(const std::string& name);

T5GEMMA2_NAMESPACE_END
