// Benchmark-only Highway code, dynamically dispatched like the library's kernels:
//   fma_peak      register-only FMA chains: the FLOP roofline of one core
//   read_stream   streaming read with several vector accumulators: the bandwidth roofline
//   gemm_free     the fastest NON-canonical f32 GEMM we wrote (broadcast micro-kernel over a
//                 K-major packed W, no horizontal sums): what bit-exactness is measured against
//   gemv_free     a NON-canonical GEMV (per-row SumOfLanes) with the same prefetch
// None of this is in the library: its results do not follow the canonical order.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "probes.cpp"
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#include <hwy/foreach_target.h>
#include <hwy/highway.h>
#include <hwy/cache_control.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "probes.hpp"
#include "t5gemma2/ops/parallel.hpp"

HWY_BEFORE_NAMESPACE();
namespace probes {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// 12 independent FMA chains per call, `iters` times: returns a value so nothing is elided. The
// chains start from 12 different values: from one value they were 12 copies of one chain, which
// the compiler merged into a single FMA per iteration (so this probe reported 12 FMAs per FMA
// latency, 1.5× the real peak of 2 per cycle, until 2026-12-07).
HWY_NOINLINE float FmaPeak(std::size_t iters) {
  const hn::ScalableTag<float> d;
  auto a0 = hn::Set(d, 1.0f), a1 = hn::Set(d, 1.1f), a2 = hn::Set(d, 1.2f), a3 = hn::Set(d, 1.3f), a4 = hn::Set(d, 1.4f),
       a5 = hn::Set(d, 1.5f), a6 = hn::Set(d, 1.6f), a7 = hn::Set(d, 1.7f), a8 = hn::Set(d, 1.8f), a9 = hn::Set(d, 1.9f),
       a10 = hn::Set(d, 2.0f), a11 = hn::Set(d, 2.1f);
  const auto m = hn::Set(d, 0.999999f), c = hn::Set(d, 1e-7f);
  for (std::size_t i = 0; i < iters; ++i) {
    a0 = hn::MulAdd(a0, m, c), a1 = hn::MulAdd(a1, m, c), a2 = hn::MulAdd(a2, m, c), a3 = hn::MulAdd(a3, m, c);
    a4 = hn::MulAdd(a4, m, c), a5 = hn::MulAdd(a5, m, c), a6 = hn::MulAdd(a6, m, c), a7 = hn::MulAdd(a7, m, c);
    a8 = hn::MulAdd(a8, m, c), a9 = hn::MulAdd(a9, m, c), a10 = hn::MulAdd(a10, m, c), a11 = hn::MulAdd(a11, m, c);
  }
  const auto s = hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)),
                         hn::Add(hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)), hn::Add(hn::Add(a8, a9), hn::Add(a10, a11))));
  return hn::GetLane(hn::SumOfLanes(d, s));
}

HWY_NOINLINE std::size_t FloatsPerFma() { return hn::Lanes(hn::ScalableTag<float>()); }

// Sum of n floats with 8 vector accumulators (bandwidth probe).
HWY_NOINLINE float ReadStream(const float* p, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (std::size_t i = 0; i + 8 * N <= n; i += 8 * N) {
    s0 = hn::Add(s0, hn::LoadU(d, p + i)), s1 = hn::Add(s1, hn::LoadU(d, p + i + N));
    s2 = hn::Add(s2, hn::LoadU(d, p + i + 2 * N)), s3 = hn::Add(s3, hn::LoadU(d, p + i + 3 * N));
    s4 = hn::Add(s4, hn::LoadU(d, p + i + 4 * N)), s5 = hn::Add(s5, hn::LoadU(d, p + i + 5 * N));
    s6 = hn::Add(s6, hn::LoadU(d, p + i + 6 * N)), s7 = hn::Add(s7, hn::LoadU(d, p + i + 7 * N));
  }
  const auto s = hn::Add(hn::Add(hn::Add(s0, s1), hn::Add(s2, s3)), hn::Add(hn::Add(s4, s5), hn::Add(s6, s7)));
  return hn::GetLane(hn::SumOfLanes(d, s));
}

// Non-canonical GEMM: W packed K-major in panels of 2 vectors of columns; an 8-row × 2-vector
// tile accumulates x[r,k]·W[k, cols] with broadcasts (the BLAS way; sums in K order per lane).
// y [M, N] = x [M, K] · w [N, K]ᵀ; wp = packed panels (made once, outside the timing).
HWY_NOINLINE void GemmFree(const float* x, int M, const float* wp, int N, int K, float* y) {
  const hn::ScalableTag<float> d;
  const int V = int(hn::Lanes(d)), P = 2 * V;
  t5gemma2::parallel_for(N / P, long(M) * N * K, [&](int p0, int p1) {
    for (int p = p0; p < p1; ++p) {
      const float* panel = wp + std::size_t(p) * std::size_t(K) * std::size_t(P);
      int r = 0;
      for (; r + 8 <= M; r += 8) {
        auto c00 = hn::Zero(d), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        auto c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        const float* xr = x + std::size_t(r) * std::size_t(K);
        for (int k = 0; k < K; ++k) {
          const auto w0 = hn::LoadU(d, panel + std::size_t(k) * P), w1 = hn::LoadU(d, panel + std::size_t(k) * P + V);
          auto b = hn::Set(d, xr[k]);
          c00 = hn::MulAdd(b, w0, c00), c01 = hn::MulAdd(b, w1, c01);
          b = hn::Set(d, xr[K + k]), c10 = hn::MulAdd(b, w0, c10), c11 = hn::MulAdd(b, w1, c11);
          b = hn::Set(d, xr[2 * K + k]), c20 = hn::MulAdd(b, w0, c20), c21 = hn::MulAdd(b, w1, c21);
          b = hn::Set(d, xr[3 * K + k]), c30 = hn::MulAdd(b, w0, c30), c31 = hn::MulAdd(b, w1, c31);
          b = hn::Set(d, xr[4 * K + k]), c40 = hn::MulAdd(b, w0, c40), c41 = hn::MulAdd(b, w1, c41);
          b = hn::Set(d, xr[5 * K + k]), c50 = hn::MulAdd(b, w0, c50), c51 = hn::MulAdd(b, w1, c51);
          b = hn::Set(d, xr[6 * K + k]), c60 = hn::MulAdd(b, w0, c60), c61 = hn::MulAdd(b, w1, c61);
          b = hn::Set(d, xr[7 * K + k]), c70 = hn::MulAdd(b, w0, c70), c71 = hn::MulAdd(b, w1, c71);
        }
        float* out = y + std::size_t(r) * std::size_t(N) + std::size_t(p) * P;
        hn::StoreU(c00, d, out), hn::StoreU(c01, d, out + V), out += N;
        hn::StoreU(c10, d, out), hn::StoreU(c11, d, out + V), out += N;
        hn::StoreU(c20, d, out), hn::StoreU(c21, d, out + V), out += N;
        hn::StoreU(c30, d, out), hn::StoreU(c31, d, out + V), out += N;
        hn::StoreU(c40, d, out), hn::StoreU(c41, d, out + V), out += N;
        hn::StoreU(c50, d, out), hn::StoreU(c51, d, out + V), out += N;
        hn::StoreU(c60, d, out), hn::StoreU(c61, d, out + V), out += N;
        hn::StoreU(c70, d, out), hn::StoreU(c71, d, out + V);
      }
    }
  });
}

HWY_NOINLINE int GemmFreePanel() { return 2 * int(hn::Lanes(hn::ScalableTag<float>())); }

// Non-canonical GEMV: 4 rows at a time, full-width accumulators, SumOfLanes, same prefetch.
HWY_NOINLINE void GemvFree(const float* x, const float* w, int N, int K, float* y) {
  const hn::ScalableTag<float> d;
  const int V = int(hn::Lanes(d));
  t5gemma2::parallel_for(N / 4, long(N) * K, [&](int b0, int b1) {
    for (int b = b0; b < b1; ++b) {
      const float* r0 = w + std::size_t(4 * b) * K;
      const float* ahead = w + std::size_t(std::min(4 * b + 8, N - 4)) * K;
      auto s0 = hn::Zero(d), s1 = s0, s2 = s0, s3 = s0;
      for (int k = 0; k + V <= K; k += V) {
        for (int j = 0; j < 4; ++j) hwy::Prefetch(ahead + std::size_t(j) * K + k);
        const auto xv = hn::LoadU(d, x + k);
        s0 = hn::MulAdd(xv, hn::LoadU(d, r0 + k), s0);
        s1 = hn::MulAdd(xv, hn::LoadU(d, r0 + K + k), s1);
        s2 = hn::MulAdd(xv, hn::LoadU(d, r0 + 2 * K + k), s2);
        s3 = hn::MulAdd(xv, hn::LoadU(d, r0 + 3 * K + k), s3);
      }
      y[4 * b] = hn::GetLane(hn::SumOfLanes(d, s0)), y[4 * b + 1] = hn::GetLane(hn::SumOfLanes(d, s1));
      y[4 * b + 2] = hn::GetLane(hn::SumOfLanes(d, s2)), y[4 * b + 3] = hn::GetLane(hn::SumOfLanes(d, s3));
    }
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace probes
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace probes {
HWY_EXPORT(FmaPeak);
HWY_EXPORT(FloatsPerFma);
HWY_EXPORT(ReadStream);
HWY_EXPORT(GemmFree);
HWY_EXPORT(GemmFreePanel);
HWY_EXPORT(GemvFree);

float fma_peak(std::size_t iters) { return HWY_DYNAMIC_DISPATCH(FmaPeak)(iters); }
double flops_per_fma_iteration() { return 12.0 * 2.0 * double(HWY_DYNAMIC_DISPATCH(FloatsPerFma)()); }
float read_stream(const float* p, std::size_t n) { return HWY_DYNAMIC_DISPATCH(ReadStream)(p, n); }

#if defined(__x86_64__) && defined(__GNUC__)
// 12 independent chains of the instruction oneDNN's bf16 GEMM is made of (Highway 1.0.3 has no op);
// different starting values keep the compiler from merging them.
__attribute__((target("avx512f,avx512bf16"), noinline)) static float bf16_dot_chains(std::size_t iters) {
  __m512 a[12];
  for (int c = 0; c < 12; ++c) a[c] = _mm512_set1_ps(float(c));
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), w = (__m512bh)_mm512_set1_epi32(0x33803380);
  for (std::size_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < 12; ++c) a[c] = _mm512_dpbf16_ps(a[c], x, w);
  }
  __m512 s = a[0];
  for (int c = 1; c < 12; ++c) s = _mm512_add_ps(s, a[c]);
  return _mm512_reduce_add_ps(s);
}
bool bf16_dot_peak(std::size_t iters, float* sink) {
  if (!__builtin_cpu_supports("avx512bf16")) return false;
  *sink = bf16_dot_chains(iters);
  return true;
}
#else
bool bf16_dot_peak(std::size_t, float*) { return false; }
#endif

std::vector<float> pack_for_gemm_free(const float* w, int N, int K) {
  const int P = HWY_DYNAMIC_DISPATCH(GemmFreePanel)();
  std::vector<float> packed(std::size_t(N / P) * std::size_t(K) * std::size_t(P));
  for (int p = 0; p < N / P; ++p)
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < P; ++j)
        packed[(std::size_t(p) * K + std::size_t(k)) * P + std::size_t(j)] = w[std::size_t(p * P + j) * K + std::size_t(k)];
  return packed;
}
void gemm_free(const float* x, int M, const float* packed, int N, int K, float* y) {
  HWY_DYNAMIC_DISPATCH(GemmFree)(x, M, packed, N, K, y);
}
void gemv_free(const float* x, const float* w, int N, int K, float* y) { HWY_DYNAMIC_DISPATCH(GemvFree)(x, w, N, K, y); }
}  // namespace probes
#endif
