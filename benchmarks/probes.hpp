// Roofline probes and non-canonical comparison kernels of the benchmarks (probes.cpp).
#pragma once

#include <cstddef>
#include <vector>

namespace probes {
float fma_peak(std::size_t iters);        // iters × 12 vector FMAs on the best target
double flops_per_fma_iteration();         // FLOPs of one iteration of fma_peak
float read_stream(const float* p, std::size_t n);
std::vector<float> pack_for_gemm_free(const float* w, int N, int K);  // N multiple of the panel
void gemm_free(const float* x, int M, const float* packed, int N, int K, float* y);  // M multiple of 8
void gemv_free(const float* x, const float* w, int N, int K, float* y);              // N multiple of 4
}  // namespace probes
