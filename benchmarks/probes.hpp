// Roofline probes and non-canonical comparison kernels of the benchmarks (probes.cpp).
#pragma once

#include <cstddef>
#include <vector>

namespace probes {
float fma_peak(std::size_t iters);        // iters × 12 vector FMAs on the best target
double flops_per_fma_iteration();         // FLOPs of one iteration of fma_peak
// iters × 12 VDPBF16PS (16 lanes × 2 bf16 products each) where the CPU has AVX512-BF16;
// nothing and false elsewhere. FLOPs of one iteration: 12 × 16 × 2 × 2.
bool bf16_dot_peak(std::size_t iters, float* sink);
float read_stream(const float* p, std::size_t n);
std::vector<float> pack_for_gemm_free(const float* w, int N, int K);  // N multiple of the panel
void gemm_free(const float* x, int M, const float* packed, int N, int K, float* y);  // M multiple of 8
void gemv_free(const float* x, const float* w, int N, int K, float* y);              // N multiple of 4
}  // namespace probes
