// t5gemma2 — the forward pass's kernels on Highway vectors, one copy per SIMD target.
//
// Each kernel here has a scalar twin in ops/scalar.hpp and reproduces it bit for bit: per
// output it performs the same IEEE operations in the same order; only which outputs are
// computed together, and where the operands sit in registers, differ.
//
//   the canonical dot (ops/reduce.hpp): 16 lanes, lane i%16 += a[i]·b[i] (fused), then the
//   pairwise tree 8, 4, 2, 1. A 16-lane accumulator is kV = 16/N vectors of N lanes (AVX3: one
//   zmm, AVX2: two ymm). The tree's steps of width ≥ N add whole vectors; the steps inside a
//   vector are done for N outputs at once by TransposeReduceLanes (each add still pairs lane j with
//   lane j + w of ONE output).
//
// Only targets with a native fused multiply-add (HWY_NATIVE_FMA: AVX2, AVX3, AVX3_DL on x86)
// run vector code: on the others MulAdd is two roundings, so every kernel there delegates to
// Ops<ScalarTarget> and is exact too. Requires -ffp-contract=off (an INTERFACE option of the
// t5gemma2 target): otherwise g++ may fuse a Mul and an Add that the twin keeps apart.
//
// Users do not include this file: ops/highway.hpp (static target) and
// t5gemma2/dispatch_impl.hpp (dynamic dispatch, through foreach_target.h) do.
#if defined(T5GEMMA2_OPS_HWY_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef T5GEMMA2_OPS_HWY_KERNELS_INL_H_
#undef T5GEMMA2_OPS_HWY_KERNELS_INL_H_
#else
#define T5GEMMA2_OPS_HWY_KERNELS_INL_H_
#endif

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "t5gemma2/ops/hwy/math-inl.h"
#include "t5gemma2/ops/scalar.hpp"

HWY_BEFORE_NAMESPACE();
namespace t5gemma2 {
inline namespace v0_1 {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Vector code only where MulAdd is one fused operation and the vector length is fixed.
#undef T5GEMMA2_HWY_VECTOR_KERNELS
#if HWY_NATIVE_FMA && !HWY_HAVE_SCALABLE && HWY_TARGET != HWY_SCALAR
#define T5GEMMA2_HWY_VECTOR_KERNELS 1
#else
#define T5GEMMA2_HWY_VECTOR_KERNELS 0
#endif

using Reference = Ops<ScalarTarget>;

#if T5GEMMA2_HWY_VECTOR_KERNELS

using DF = hn::CappedTag<float, kReduceLanes>;  // at most 16 lanes: one canonical accumulator
using VF = hn::Vec<DF>;
inline constexpr std::size_t kN = hn::MaxLanes(DF());          // lanes per vector
inline constexpr std::size_t kV = kReduceLanes / kN;           // vectors per accumulator

// 16 consecutive weights as f32 vectors (bf16 widened exactly).
HWY_INLINE VF LoadWeights(DF d, const float* p) { return hn::LoadU(d, p); }
HWY_INLINE VF LoadWeights(DF d, const bf16_t* p) {
  const hn::Rebind<hwy::bfloat16_t, DF> dbf;
  return hn::PromoteTo(d, hn::LoadU(dbf, reinterpret_cast<const hwy::bfloat16_t*>(p)));
}

// ---- the in-vector part of the canonical tree, for kN outputs at once ----------------------

// Step of width kN/2: pairs (a, b) -> one vector [a.lo + a.hi | b.lo + b.hi].
HWY_INLINE VF FoldHalves(DF d, VF a, VF b) {
  return hn::Add(hn::ConcatLowerLower(d, b, a), hn::ConcatUpperUpper(d, b, a));
}
#if HWY_TARGET <= HWY_AVX3
// Step of width 4 on 16 lanes (after FoldHalves): 128-bit blocks [A0 A1 B0 B1], [C0 C1 D0 D1]
// -> [A0+A1, C0+C1, B0+B1, D0+D1].
HWY_INLINE VF FoldBlocks(VF p, VF q) {
  return hn::Add(hn::OddEvenBlocks(hn::SwapAdjacentBlocks(q), p), hn::OddEvenBlocks(q, hn::SwapAdjacentBlocks(p)));
}
#endif
// Step of width 2 inside 128-bit blocks: [a0 a1 a2 a3], [b0 b1 b2 b3] -> [a0+a2, a1+a3, b0+b2, b1+b3].
HWY_INLINE VF FoldPairs(DF d, VF p, VF q) {
  const hn::Repartition<uint64_t, DF> du64;
  const auto pu = hn::BitCast(du64, p), qu = hn::BitCast(du64, q);
  return hn::Add(hn::BitCast(d, hn::InterleaveLower(du64, pu, qu)), hn::BitCast(d, hn::InterleaveUpper(du64, pu, qu)));
}
// Step of width 1: adjacent lanes of (p, q) -> one lane each.
HWY_INLINE VF FoldAdjacent(DF d, VF p, VF q) { return hn::Add(hn::ConcatEven(d, q, p), hn::ConcatOdd(d, q, p)); }

// v[0..kN) -> one vector whose lanes hold the kN in-vector tree results, in the lane order
// lane_of (computed once per target by reducing one-hot inputs).
HWY_INLINE VF TransposeReduceLanes(DF d, VF* v) {
  std::size_t n = kN;
  if constexpr (kN >= 8) {  // width kN/2: 8 (AVX3) or 4 (AVX2)
    for (std::size_t i = 0; i < n / 2; ++i) v[i] = FoldHalves(d, v[2 * i], v[2 * i + 1]);
    n /= 2;
  }
#if HWY_TARGET <= HWY_AVX3
  if constexpr (kN == 16) {  // width 4
    for (std::size_t i = 0; i < n / 2; ++i) v[i] = FoldBlocks(v[2 * i], v[2 * i + 1]);
    n /= 2;
  }
#endif
  for (std::size_t i = 0; i < n / 2; ++i) v[i] = FoldPairs(d, v[2 * i], v[2 * i + 1]);  // width 2
  n /= 2;
  return FoldAdjacent(d, v[0], v[1]);  // width 1
}

// The canonical tree's leaves read left to right: partial sums j = BitReversed4(m), m = 0..15
// (0, 8, 4, 12, 2, 10, …). Computed in that order, the m-th one completes one tree step per
// trailing 1-bit of m, as a binary counter carries (PackedTile, PanelDotTile).
constexpr int BitReversed4(int m) { return ((m & 1) << 3) | ((m & 2) << 1) | ((m & 4) >> 1) | ((m & 8) >> 3); }

// lane_of[i]: the lane of TransposeReduceLanes' result that holds output i.
HWY_INLINE const std::array<int, kN>& ReducedLaneOf() {
  static const std::array<int, kN> lane_of = [] {
    const DF d;
    VF v[kN];
    for (std::size_t i = 0; i < kN; ++i) v[i] = hn::IfThenElseZero(hn::FirstN(d, 1), hn::Set(d, float(i + 1)));
    alignas(64) float lanes[kN];
    hn::Store(TransposeReduceLanes(d, v), d, lanes);
    std::array<int, kN> out{};
    for (std::size_t l = 0; l < kN; ++l) out[std::size_t(lanes[l]) - 1] = int(l);
    return out;
  }();
  return lane_of;
}

// Finishes `count` accumulators acc[i][0..kV) (count ≤ kN) with the canonical tree; out[i].
HWY_INLINE void ReduceAccumulators(DF d, VF (*acc)[kV], std::size_t count, float* out) {
  VF v[kN];
  for (std::size_t i = 0; i < kN; ++i) {
    if (i >= count) {
      v[i] = hn::Zero(d);
      continue;
    }
    for (std::size_t w = kV / 2; w >= 1; w /= 2)  // tree steps of whole vectors (width ≥ kN)
      for (std::size_t j = 0; j < w; ++j) acc[i][j] = hn::Add(acc[i][j], acc[i][j + w]);
    v[i] = acc[i][0];
  }
  alignas(64) float lanes[kN];
  hn::Store(TransposeReduceLanes(d, v), d, lanes);
  const auto& lane_of = ReducedLaneOf();
  for (std::size_t i = 0; i < count; ++i) out[i] = lanes[lane_of[i]];
}

// ---- dot tiles: kR activation rows × kC weight rows, K elements -----------------------------

// Keeps a loaded operand in a register: without it g++ folds the load into every MulAdd that
// uses it (one load per use), and 512-bit loads, not FMAs, become the bottleneck.
HWY_INLINE VF InRegister(VF v) {
#if HWY_ARCH_X86 && (HWY_COMPILER_GCC || HWY_COMPILER_CLANG)
  asm("" : "+v"(v.raw));
#endif
  return v;
}

// A slice [begin, end) of the K axis for DotTile (both multiples of kReduceLanes, or end = K).
// A tile summed slice by slice keeps its accumulators in `carry` between slices (kR·kC·kReduceLanes
// floats): storing a vector and loading it back is exact, so the sums are the canonical ones.
struct KSlice {
  std::size_t begin = 0;
  std::size_t end = SIZE_MAX;  // SIZE_MAX: to K
  float* carry = nullptr;      // needed unless the slice is all of K
};

// out[r·kC + c] = dot(x[r], w[c], K) in the canonical order. With kPrefetch, the rows pf[c]
// (the tile after next) are prefetched along the way: decode rows are too short for the
// hardware prefetcher to ramp up. With a slice, only its products are added (out is written by
// the slice that ends at K).
template <int kR, int kC, bool kPrefetch = false, class WT>
HWY_INLINE void DotTile(const float* const* x, const WT* const* w, std::size_t K, float* out,
                        const WT* const* pf = nullptr, KSlice slice = {}) {
  const DF d;
  VF acc[kR * kC][kV];
  if (slice.begin == 0) {
    for (auto& a : acc)
      for (auto& v : a) v = hn::Zero(d);
  } else {
    for (std::size_t i = 0; i < std::size_t(kR * kC); ++i)
      for (std::size_t v = 0; v < kV; ++v) acc[i][v] = hn::Load(d, slice.carry + (i * kV + v) * kN);
  }
  const std::size_t k_end = std::min(K, slice.end);
  std::size_t k = slice.begin;
  for (; k + kReduceLanes <= k_end; k += kReduceLanes) {
    if constexpr (kPrefetch) {
      for (int c = 0; c < kC; ++c) hwy::Prefetch(pf[c] + k);
    }
    for (std::size_t v = 0; v < kV; ++v) {
      VF wv[kC];
      for (int c = 0; c < kC; ++c) wv[c] = InRegister(LoadWeights(d, w[c] + k + v * kN));
      for (int r = 0; r < kR; ++r) {
        const VF xv = InRegister(hn::LoadU(d, x[r] + k + v * kN));
        for (int c = 0; c < kC; ++c) acc[r * kC + c][v] = hn::MulAdd(xv, wv[c], acc[r * kC + c][v]);
      }
    }
  }
  if (k_end < K) {  // more slices follow
    for (std::size_t i = 0; i < std::size_t(kR * kC); ++i)
      for (std::size_t v = 0; v < kV; ++v) hn::Store(acc[i][v], d, slice.carry + (i * kV + v) * kN);
    return;
  }
  if (k < K) {  // tail: lanes past K keep their partial sums (IfThenElse, not zero padding)
    const std::size_t rem = K - k;
    alignas(64) float wb[kC][kReduceLanes];  // bf16 tails widened here (f32 ones are loaded masked)
    if constexpr (!std::is_same_v<WT, float>) {
      for (int c = 0; c < kC; ++c)
        for (std::size_t i = 0; i < kReduceLanes; ++i) wb[c][i] = i < rem ? to_f32(w[c][k + i]) : 0.0f;
    }
    for (std::size_t v = 0; v < kV && v * kN < rem; ++v) {
      const auto m = hn::FirstN(d, std::min(kN, rem - v * kN));
      VF wv[kC];
      for (int c = 0; c < kC; ++c) {
        if constexpr (std::is_same_v<WT, float>)
          wv[c] = hn::MaskedLoad(m, d, w[c] + k + v * kN);
        else
          wv[c] = hn::Load(d, wb[c] + v * kN);
      }
      for (int r = 0; r < kR; ++r) {
        const VF xv = hn::MaskedLoad(m, d, x[r] + k + v * kN);
        for (int c = 0; c < kC; ++c) {
          VF& a = acc[r * kC + c][v];
          a = hn::IfThenElse(m, hn::MulAdd(xv, wv[c], a), a);
        }
      }
    }
  }
  for (std::size_t i = 0; i < std::size_t(kR * kC); i += kN)
    ReduceAccumulators(d, acc + i, std::min(kN, std::size_t(kR * kC) - i), out + i);
}

// Canonical plain sum (no products).
HWY_INLINE float SumCanonical(const float* x, std::size_t n) {
  const DF d;
  VF acc[1][kV];
  for (auto& v : acc[0]) v = hn::Zero(d);
  std::size_t k = 0;
  for (; k + kReduceLanes <= n; k += kReduceLanes)
    for (std::size_t v = 0; v < kV; ++v) acc[0][v] = hn::Add(acc[0][v], hn::LoadU(d, x + k + v * kN));
  for (std::size_t v = 0; v < kV && k + v * kN < n; ++v) {  // tail, as in DotTile
    const auto m = hn::FirstN(d, std::min(kN, n - k - v * kN));
    acc[0][v] = hn::IfThenElse(m, hn::Add(acc[0][v], hn::MaskedLoad(m, d, x + k + v * kN)), acc[0][v]);
  }
  float out;
  ReduceAccumulators(d, acc, 1, &out);
  return out;
}

// ---- matmul: y [M, N] = x [M, K] · w [N, K]ᵀ -------------------------------------------------

// Row tile (attention scores from key rows; matrix products of fewer than kPackedMinRows rows, and
// every GEMM on AVX2): kTileRows activation rows × kTileCols weight rows. 8 × 2 accumulators of 16 lanes
// fill the 32 zmm of AVX3 with room for the operands; AVX2 (two ymm per accumulator) takes 4
// rows. (Measured on Zen 5: 4×4, 6×2 and 4×3 are no faster; prefetching the next tile's
// weight rows from L2 is slower.)
inline constexpr int kTileRows = kN == 16 ? 8 : 4;
inline constexpr int kTileCols = 2;
inline constexpr int kGemvCols = 16;  // weight rows per decode (one-row) tile: fills one 16-output reduction
inline constexpr int kPanelCols = 64;  // weight rows kept hot in L2 while the row tiles pass

// Weight rows are w + j·ws (a matrix: ws = K; attention keys: the kv tensor's row stride).

// One activation row against weight rows [c0, c1) of n_rows: decode, and the rows a GEMM tile
// leaves. y[j − c0] = dot(x, row j).
template <class WT>
HWY_INLINE void GemvRange(const float* x, const WT* w, std::size_t ws, int n_rows, std::size_t K, int c0, int c1, float* y) {
  int c = c0;
  for (; c + kGemvCols <= c1; c += kGemvCols) {
    const WT* rows[kGemvCols];
    const WT* ahead[kGemvCols];
    for (int j = 0; j < kGemvCols; ++j) {
      rows[j] = w + std::size_t(c + j) * ws;
      ahead[j] = w + std::size_t(std::min(c + j + 2 * kGemvCols, n_rows - 1)) * ws;  // clamped: no pointer past the end
    }
    DotTile<1, kGemvCols, true>(&x, rows, K, y + (c - c0), ahead);
  }
  for (; c < c1; ++c) {
    const WT* row = w + std::size_t(c) * ws;
    DotTile<1, 1>(&x, &row, K, y + (c - c0));
  }
}

// kTileRows activation rows xr against weight rows [c0, c1) (at most kPanelCols of them):
// out_rows[i][j − c0] = dot(xr[i], row j). The tiles' outputs gather in a small block first:
// scattered stores into rows that sit far apart would alias the loads (4K aliasing) and stall.
// Rows longer than 2·kSliceK go slice by slice (KSlice), all the tiles of the range through one
// slice before the next: the activation rows' slice stays in L1 (8 rows of 2,048 floats or more
// do not fit; 512 × 2048 × 640 ran 158–163 GFLOP/s in one pass, 4096 × 4304 × 1152 125).
inline constexpr std::size_t kSliceK = 512;
static_assert(kSliceK % kReduceLanes == 0, "a slice that is not the last must end on a whole accumulator step");

template <int kRows = kTileRows, class WT>
HWY_INLINE void RowTileRange(const float* const* xr, const WT* w, std::size_t ws, std::size_t K, int c0, int c1,
                             float* const* out_rows) {
  constexpr std::size_t kCarry = std::size_t(kRows * kTileCols) * kReduceLanes;  // floats of one tile's accumulators
  alignas(64) float block[kRows][kPanelCols];
  alignas(64) float carry[kPanelCols / kTileCols + 1][kCarry];  // per tile of the range, between slices
  const std::size_t step = K > 2 * kSliceK ? kSliceK : K;
  std::size_t k0 = 0;
  do {  // at least once: K = 0 gives dots of 0, as the scalar twin does
    const std::size_t k1 = k0 + step;  // the slice that reaches K writes the outputs
    int c = c0, t = 0;
    for (; c + kTileCols <= c1; c += kTileCols, ++t) {
      const WT* wr[kTileCols];
      for (int j = 0; j < kTileCols; ++j) wr[j] = w + std::size_t(c + j) * ws;
      float out[kRows * kTileCols];
      DotTile<kRows, kTileCols, false, WT>(xr, wr, K, out, nullptr, {k0, k1, carry[t]});
      if (k1 >= K)
        for (int i = 0; i < kRows; ++i)
          for (int j = 0; j < kTileCols; ++j) block[i][c - c0 + j] = out[i * kTileCols + j];
    }
    for (; c < c1; ++c, ++t) {
      const WT* wr[1] = {w + std::size_t(c) * ws};
      float out[kRows];
      DotTile<kRows, 1, false, WT>(xr, wr, K, out, nullptr, {k0, k1, carry[t]});
      if (k1 >= K)
        for (int i = 0; i < kRows; ++i) block[i][c - c0] = out[i];
    }
    k0 = k1;
  } while (k0 < K);
  for (int i = 0; i < kRows; ++i) std::copy(block[i], block[i] + (c1 - c0), out_rows[i]);
}

// The rows xr[0..M) against weight rows [c0, c1) of n_rows: y_rows[r][j − c0] = dot(xr[r], row j).
// Row tiles of kTileRows run over panels of kPanelCols weight rows kept hot in L2; four rows a
// full tile leaves take a 4-row tile (a decode step's GQA group of queries reads its keys once),
// the rest the GEMV tiles.
template <class WT>
HWY_INLINE void DotRows(const float* const* xr, int M, const WT* w, std::size_t ws, int n_rows, std::size_t K, int c0, int c1,
                        float* const* y_rows) {
  for (int p0 = c0; p0 < c1; p0 += kPanelCols) {
    const int p1 = std::min(c1, p0 + kPanelCols);
    int r = 0;
    for (; r + kTileRows <= M; r += kTileRows) {
      float* out[kTileRows];
      for (int i = 0; i < kTileRows; ++i) out[i] = y_rows[r + i] + (p0 - c0);
      RowTileRange(xr + r, w, ws, K, p0, p1, out);
    }
    if constexpr (kTileRows > 4) {
      if (r + 4 <= M) {
        float* out[4];
        for (int i = 0; i < 4; ++i) out[i] = y_rows[r + i] + (p0 - c0);
        RowTileRange<4>(xr + r, w, ws, K, p0, p1, out);
        r += 4;
      }
    }
    for (; r < M; ++r) GemvRange(xr[r], w, ws, n_rows, K, p0, p1, y_rows[r] + (p0 - c0));
  }
}

// Rows copied to 64-byte aligned rows (a stride of K rounded up to whole vectors of 16): a
// 64-byte load that straddles two cache lines costs two, and most of a row tile's loads are of
// its activation rows (8 of 10). std::vector storage is only 16-byte aligned, and attention heads
// of 72 floats start anywhere. (Same process, 512 × 2048 × 640, 2 threads, activation rows 16
// bytes off: 127–141 GFLOP/s read in place, 162–176 copied.) Copying costs M·K against M·N·K
// multiply-adds; the copy is spread over the threads (SigLIP's MLP input is 70 MB), and only the
// padding past K is zeroed.
struct AlignedRows {
  PaddedRows copy;
  std::vector<const float*> rows;
  AlignedRows(const float* const* src, int M, std::size_t K) : copy(std::size_t(M), K), rows(std::size_t(M)) {
    for (int r = 0; r < M; ++r) rows[std::size_t(r)] = copy.row(std::size_t(r));
    parallel_for(M, long(M) * long(K) / 16, [&](int r0, int r1) {
      for (int r = r0; r < r1; ++r) {
        float* row = copy.row(std::size_t(r));
        std::copy(src[r], src[r] + K, row);
        std::fill(row + K, row + copy.stride, 0.0f);
      }
    });
  }
};

// ---- packed-panel GEMM: many activation rows ------------------------------------------------
//
// For a GEMM of many rows the canonical dot is computed the way BLAS computes a GEMM: one OUTPUT
// per lane. Partial sum j of a dot (ops/reduce.hpp) is the fused chain over elements j, j + 16, …;
// broadcasting x[r][k] and multiplying it by 16 weight rows' element k (one vector) advances that
// chain for 16 outputs at once. Chains run one after the other in the tree's leaf order
// (BitReversed4), and a finished chain joins the tree as a binary counter carries (as in
// PanelDotTile), so each lane performs exactly the fmas and adds of the scalar dot.
//
// Both operands are copied first into that order, the "chain order" of K: the elements of each
// partial sum contiguous, partial sums in leaf order ("chain m" below is the m-th of them, partial
// sum BitReversed4(m)). Activations: one block per kPackedBlockRows = 16 rows, [K][16] (a tile's
// broadcasts of one step are adjacent). Weights: per thread, blocks of kPackedCols = 48 weight
// rows, [K][48] (a step's weight vectors are one 192-byte run), 1 or 4 blocks per pass over the
// activations, rewritten for each pass (PackedMatMul). Packing costs (M + N)·K copies against
// M·N·K multiply-adds: worth it from kPackedMinRows rows on (2 threads, bf16 weights, packed vs
// row tiles in GFLOP/s: 64 rows × 640 × 2,048 246–250 vs 236–245, × 262,144 (the LM head of a
// batch) 211 vs 182; 32 rows × 640 × 2,048 188 vs 239).
//
// AVX3 only (32 registers of 16 lanes: a tile of 8 rows × 3 groups of 16 outputs is 24
// accumulators). With AVX2's 16 registers of 8 lanes the widest tile, 4 rows × 16 outputs, ran
// 63 GFLOP/s against the row tiles' 72 (512 × 2048 × 640, 2 threads): AVX2 keeps those.
inline constexpr bool kPackedGemm = kN == 16;
inline constexpr int kPackedRows = 8;
inline constexpr int kPackedGroups = 3;
inline constexpr int kPackedCols = kPackedGroups * int(kReduceLanes);
inline constexpr int kPackedMinRows = 64;
inline constexpr int kPackedBlockRows = int(kReduceLanes);       // activation rows per packed block
inline constexpr std::size_t kPackedPartFloats = 64 * 1024;      // per weight block and part: 256 KB
inline constexpr std::size_t kPackedStreamFloats = 2048 * 1024;  // activations of 8 MB or more: 4 blocks per pass

// Where chain m (of partial sum BitReversed4(m)) starts in chain order, and its length.
struct ChainOrder {
  std::size_t start[16];
  std::size_t length[16];
  std::size_t position[16];  // by partial sum j: start of chain j
  explicit ChainOrder(std::size_t K) {
    std::size_t at = 0;
    for (int m = 0; m < 16; ++m) {
      const int j = BitReversed4(m);
      start[m] = position[j] = at;
      length[m] = K / 16 + (std::size_t(j) < K % 16 ? 1 : 0);
      at += length[m];
    }
  }
  // Element k of a row lands at position(k) = start of chain k mod 16, + k / 16.
  std::size_t of(std::size_t k) const { return position[k % 16] + k / 16; }
};

// v[i] = row i of a 16 × 16 block -> v[j] = column j (16-lane vectors: AVX3). Four rounds of
// two-input shuffles: 32-bit and 64-bit interleaves inside 128-bit blocks (4 × 4 transposes),
// then the 4 × 4 transpose of the blocks themselves.
template <std::size_t kLanes = kN>  // a template only so that the static_assert fires where it is used
HWY_INLINE void Transpose16(DF d, VF* v) {
  static_assert(kLanes == 16, "16-lane vectors (AVX3)");
  const hn::Repartition<double, DF> d64;
  VF a[16], b[16];
  for (int i = 0; i < 16; i += 2) a[i] = hn::InterleaveLower(d, v[i], v[i + 1]), a[i + 1] = hn::InterleaveUpper(d, v[i], v[i + 1]);
  const auto lo64 = [&](VF x, VF y) { return hn::BitCast(d, hn::InterleaveLower(d64, hn::BitCast(d64, x), hn::BitCast(d64, y))); };
  const auto hi64 = [&](VF x, VF y) { return hn::BitCast(d, hn::InterleaveUpper(d64, hn::BitCast(d64, x), hn::BitCast(d64, y))); };
  for (int i = 0; i < 16; i += 4) {  // b[i + e], block q: element 4q + e of rows i..i+3
    b[i] = lo64(a[i], a[i + 2]), b[i + 1] = hi64(a[i], a[i + 2]);
    b[i + 2] = lo64(a[i + 1], a[i + 3]), b[i + 3] = hi64(a[i + 1], a[i + 3]);
  }
  for (int e = 0; e < 4; ++e) {
    const VF x0 = b[e], x1 = b[4 + e], x2 = b[8 + e], x3 = b[12 + e];
    const VF p0 = hn::OddEvenBlocks(hn::SwapAdjacentBlocks(x1), x0), p1 = hn::OddEvenBlocks(x1, hn::SwapAdjacentBlocks(x0));
    const VF q0 = hn::OddEvenBlocks(hn::SwapAdjacentBlocks(x3), x2), q1 = hn::OddEvenBlocks(x3, hn::SwapAdjacentBlocks(x2));
    v[e] = hn::ConcatLowerLower(d, q0, p0), v[8 + e] = hn::ConcatUpperUpper(d, q0, p0);
    v[4 + e] = hn::ConcatLowerLower(d, q1, p1), v[12 + e] = hn::ConcatUpperUpper(d, q1, p1);
  }
}

// dst[of(k)·width + i] = rows[i][k] for i < count, 0 for count ≤ i < width (rows past the
// matrix: their outputs are never stored). Whole groups of 16 rows go through 16 × 16 transposes
// (k in steps of 16: one vector per chain); the rest a k at a time across the rows.
template <class WT>
HWY_INLINE void PackChainOrder(const WT* const* rows, int count, int width, std::size_t K, const ChainOrder& order, float* dst) {
  const DF d;
  const std::size_t k_end = K / 16 * 16;  // [0, k_end) × rows [0, i0) done by transposes
  int i0 = 0;
  for (; i0 + 16 <= count; i0 += 16)
    for (std::size_t k = 0; k < k_end; k += 16) {
      VF v[16];
      for (int i = 0; i < 16; ++i) v[i] = LoadWeights(d, rows[i0 + i] + k);
      Transpose16(d, v);
      for (int j = 0; j < 16; ++j) hn::StoreU(v[j], d, dst + (order.position[j] + k / 16) * std::size_t(width) + std::size_t(i0));
    }
  for (std::size_t k = 0; k < K; ++k) {
    float* out = dst + order.of(k) * std::size_t(width);
    int i = k < k_end ? i0 : 0;
    for (; i < count; ++i) out[i] = to_f32(rows[i][k]);
    for (; i < width; ++i) out[i] = 0.0f;
  }
}

// A tile's finished subtrees, within a call and between calls (chain parts): carry[l] holds, per
// accumulator, the sum of 2^l consecutive chains (a left subtree waiting for its right one).
struct PackedCarry {
  alignas(64) float carry[4][kPackedRows * kPackedGroups][kReduceLanes];
};

// out[r·stride + c] = dot(x_r, w_c) for the kPackedRows × kPackedCols tile whose activations
// `a` (rows of a [K][kPackedBlockRows] block) and weights `b` [K][kPackedCols] are in chain order:
// chains [m0, m1) of it; the tree's state waits in `state` for the next call, and the call with
// m1 = 16 writes `out`. Chains [m0, m1) are one contiguous run of both operands.
HWY_INLINE void PackedTile(const float* a, const float* b, const ChainOrder& order, int m0, int m1, PackedCarry& state,
                           float* out, std::size_t stride) {
  const DF d;
  auto& carry = state.carry;
  VF acc[kPackedRows][kPackedGroups][kV];
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) {
    if (m < m0 || m >= m1) continue;
    for (auto& row : acc)
      for (auto& group : row)
        for (VF& v : group) v = hn::Zero(d);
    const float* ak = a + order.start[m] * kPackedBlockRows;  // [length][kPackedBlockRows]
    const float* bk = b + order.start[m] * kPackedCols;       // [length][kPackedCols]
    for (std::size_t t = order.length[m]; t > 0; --t, ak += kPackedBlockRows, bk += kPackedCols) {
      VF w[kPackedGroups][kV];
      for (int g = 0; g < kPackedGroups; ++g)
        for (std::size_t v = 0; v < kV; ++v) w[g][v] = InRegister(hn::Load(d, bk + g * kReduceLanes + v * kN));
      for (int r = 0; r < kPackedRows; ++r) {
        const VF xr = hn::Set(d, ak[r]);
        for (int g = 0; g < kPackedGroups; ++g)
          for (std::size_t v = 0; v < kV; ++v) acc[r][g][v] = hn::MulAdd(xr, w[g][v], acc[r][g][v]);
      }
    }
    int l = 0;
    for (; (m >> l) & 1; ++l)  // the tree steps chain m completes
      for (int r = 0; r < kPackedRows; ++r)
        for (int g = 0; g < kPackedGroups; ++g)
          for (std::size_t v = 0; v < kV; ++v)
            acc[r][g][v] = hn::Add(hn::Load(d, carry[l][r * kPackedGroups + g] + v * kN), acc[r][g][v]);
    for (int r = 0; r < kPackedRows; ++r)
      for (int g = 0; g < kPackedGroups; ++g)
        for (std::size_t v = 0; v < kV; ++v) {
          if (m == 15) hn::StoreU(acc[r][g][v], d, out + std::size_t(r) * stride + g * kReduceLanes + v * kN);
          else hn::Store(acc[r][g][v], d, carry[l][r * kPackedGroups + g] + v * kN);
        }
  }
}

// y [M, N] = x [M, K] · w [N, K]ᵀ through PackedTile. Threads take whole passes (1 or 4 blocks of
// kPackedCols outputs); a tile that crosses the last row or column is computed into a buffer and
// its valid part copied. Two cache blockings, both measured on SigLIP's fc2 (4096 × 1152 × 4304: 70 MB of
// packed activations, weight blocks of 826 KB), 2 threads: one block per pass 163–180 GFLOP/s,
// four blocks per pass in parts 235–265:
//  * activations of kPackedStreamFloats or more stream from memory once per pass, so a pass
//    serves 4 weight blocks (192 outputs) instead of one: each tile's activations are read once
//    and reused from L1 for the other blocks;
//  * a weight block longer than kPackedPartFloats is read in parts of 16 / parts chains (a
//    contiguous run of both operands), every tile through one part before the next, its tree
//    state kept in a PackedCarry per tile and block (stored and reloaded: exact, as KSlice's
//    carries): the pass's parts (up to 4 × 256 KB) stay in L2 while the activations stream past.
template <class WT>
HWY_INLINE void PackedMatMul(const float* x, int M, const WT* w, int N, int K, float* y) {
  const ChainOrder order{std::size_t(K)};
  static_assert(kPackedBlockRows % kPackedRows == 0, "a row tile lies inside one activation block");
  const int tiles = (M + kPackedRows - 1) / kPackedRows, blocks = (N + kPackedCols - 1) / kPackedCols;
  const int row_blocks = (M + kPackedBlockRows - 1) / kPackedBlockRows;
  PaddedRows activations(std::size_t(row_blocks), std::size_t(K) * kPackedBlockRows);  // [K][16] each, chain order
  parallel_for(row_blocks, long(M) * K, [&](int a0, int a1) {
    for (int a = a0; a < a1; ++a) {
      const float* rows[kPackedBlockRows];
      const int count = std::min(kPackedBlockRows, M - a * kPackedBlockRows);
      for (int i = 0; i < count; ++i) rows[i] = x + std::size_t(a * kPackedBlockRows + i) * std::size_t(K);
      PackChainOrder(rows, count, kPackedBlockRows, std::size_t(K), order, activations.row(std::size_t(a)));
    }
  });
  const auto tile_rows = [&](int t) {  // tile t's first row inside its activation block
    const int r0 = t * kPackedRows;
    return activations.row(std::size_t(r0 / kPackedBlockRows)) + r0 % kPackedBlockRows;
  };
  const int per_pass = std::size_t(M) * std::size_t(K) >= kPackedStreamFloats ? 4 : 1;  // weight blocks per pass
  const int groups = (blocks + per_pass - 1) / per_pass;
  int parts = 1;  // chain parts: 16 / parts chains of every weight block in the group per pass
  while (parts < 16 && std::size_t(K) * kPackedCols > kPackedPartFloats * std::size_t(parts)) parts *= 2;
  parallel_for(groups, long(M) * N * K, [&](int g0, int g1) {
    PaddedRows weights(std::size_t(per_pass), std::size_t(K) * kPackedCols);  // blocks [K][kPackedCols], chain order
    // Not zeroed (PackedTile stores each carry before it loads it): SigLIP's fc2 needs 12 MB a thread.
    const std::unique_ptr<PackedCarry[]> carries(new PackedCarry[parts > 1 ? std::size_t(tiles) * std::size_t(per_pass) : 1]);
    alignas(64) float edge[kPackedRows][kPackedCols];
    for (int g = g0; g < g1; ++g) {
      const int first = g * per_pass, count_blocks = std::min(per_pass, blocks - first);
      for (int i = 0; i < count_blocks; ++i) {
        const int c0 = (first + i) * kPackedCols, cols = std::min(kPackedCols, N - c0);
        const WT* rows[kPackedCols];
        for (int j = 0; j < cols; ++j) rows[j] = w + std::size_t(c0 + j) * std::size_t(K);
        PackChainOrder(rows, cols, kPackedCols, std::size_t(K), order, weights.row(std::size_t(i)));
      }
      for (int m0 = 0; m0 < 16; m0 += 16 / parts) {
        const int m1 = m0 + 16 / parts;
        for (int t = 0; t < tiles; ++t) {
          const int r0 = t * kPackedRows, count = std::min(kPackedRows, M - r0);
          for (int i = 0; i < count_blocks; ++i) {  // the tile's activations, read once, stay in L1 for the next block
            const int c0 = (first + i) * kPackedCols, cols = std::min(kPackedCols, N - c0);
            PackedCarry& carry = carries[parts > 1 ? std::size_t(t) * std::size_t(per_pass) + std::size_t(i) : 0];
            float* out = y + std::size_t(r0) * std::size_t(N) + std::size_t(c0);
            if (count == kPackedRows && cols == kPackedCols) {
              PackedTile(tile_rows(t), weights.row(std::size_t(i)), order, m0, m1, carry, out, std::size_t(N));
              continue;
            }
            PackedTile(tile_rows(t), weights.row(std::size_t(i)), order, m0, m1, carry, &edge[0][0], kPackedCols);
            if (m1 == 16)
              for (int r = 0; r < count; ++r) std::copy(edge[r], edge[r] + cols, out + std::size_t(r) * std::size_t(N));
          }
        }
      }
    }
  });
}

// y [M, N] = x [M, K] · w [N, K]ᵀ: a GEMM of kPackedMinRows rows or more on AVX3 through the
// packed panels (one output per lane); otherwise (decode, small batches, AVX2) row tiles against
// weight rows read where they are (one dot per accumulator, DotRows).
template <class WT>
HWY_INLINE void MatMulImpl(const float* x, int M, const WT* w, int N, int K, float* y) {
  if constexpr (kPackedGemm) {
    if (M >= kPackedMinRows) return PackedMatMul(x, M, w, N, K, y);
  }
  // Threads take contiguous ranges of output features (whole panels when there are enough).
  const int unit = N >= 4 * kPanelCols ? kPanelCols : 1;
  const int units = (N + unit - 1) / unit;
  std::vector<const float*> xr(static_cast<std::size_t>(M));
  for (int r = 0; r < M; ++r) xr[std::size_t(r)] = x + std::size_t(r) * std::size_t(K);
  std::optional<AlignedRows> aligned;  // a GEMM's rows (a decode row is read once per 16 weight rows)
  if (M >= kTileRows && (K % kReduceLanes != 0 || reinterpret_cast<std::uintptr_t>(x) % 64 != 0)) {
    aligned.emplace(xr.data(), M, std::size_t(K));
    xr = aligned->rows;
  }
  parallel_for(units, long(M) * N * K, [&](int u0, int u1) {
    const int c0 = u0 * unit, c1 = std::min(N, u1 * unit);
    std::vector<float*> y_rows(static_cast<std::size_t>(M));
    for (int r = 0; r < M; ++r) y_rows[std::size_t(r)] = y + std::size_t(r) * std::size_t(N) + std::size_t(c0);
    DotRows(xr.data(), M, w, std::size_t(K), N, std::size_t(K), c0, c1, y_rows.data());
  });
}

#endif  // T5GEMMA2_HWY_VECTOR_KERNELS

// ---- the exported kernels (non-template: one per weight type, as HWY_EXPORT wants) ----------

// Whether AttentionScores reads KeySpan::panels (the vector targets; the others run the scalar
// twin, which reads the key rows).
HWY_NOINLINE inline bool ReadsKeyPanels() { return T5GEMMA2_HWY_VECTOR_KERNELS != 0; }

HWY_NOINLINE inline const char* KernelTargetName() {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  return hwy::TargetName(HWY_TARGET);
#else
  return "scalar";  // no native FMA: the scalar reference runs
#endif
}

// y [M, N] = x [M, K] · w [N, K]ᵀ and dot(a, b) for either weight type; the exported
// functions below are one non-template entry per type (HWY_EXPORT takes plain functions).
template <class WT>
HWY_INLINE void MatMulKernel(const float* x, int M, const WT* w, int N, int K, float* y) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  MatMulImpl(x, M, w, N, K, y);
#else
  parallel_for(N, long(M) * N * K, [&](int begin, int end) {
    for (int r = 0; r < M; ++r)
      for (int o = begin; o < end; ++o)
        y[std::size_t(r) * std::size_t(N) + std::size_t(o)] = dot(x + std::size_t(r) * K, w + std::size_t(o) * K, std::size_t(K));
  });
#endif
}

template <class WT>
HWY_INLINE float DotKernel(const float* a, const WT* b, std::size_t n) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  float out;
  DotTile<1, 1>(&a, &b, n, &out);
  return out;
#else
  return dot(a, b, n);
#endif
}

HWY_NOINLINE inline void MatMulF32(const float* x, int M, const float* w, int N, int K, float* y) { MatMulKernel(x, M, w, N, K, y); }
HWY_NOINLINE inline void MatMulBF16(const float* x, int M, const bf16_t* w, int N, int K, float* y) {
  MatMulKernel(x, M, w, N, K, y);
}
// ---- matmul in oneDNN's bf16 order (the hf-bf16 policy) -------------------------------------
//
// y[r, o] = dot_onednn_order(x[r], w[o]) (ops/scalar.hpp): per output a sequential chain of fmas
// over k, so the lanes hold OUTPUTS, not k: a panel of kOneDnnCols weight rows is widened and
// transposed once (wt[k][o]), each x[r, k] is broadcast, and kOneDnnRows rows × kOneDnnCols
// outputs run side by side as independent chains — a register tile of an ordinary GEMM whose
// accumulators each follow one output's chain exactly.
#if T5GEMMA2_HWY_VECTOR_KERNELS
inline constexpr int kOneDnnCols = 2 * int(kN);           // outputs per panel and tile: two vectors
inline constexpr int kOneDnnRows = kN == 16 ? 12 : 6;      // rows per tile: 24 (AVX3) or 12 (AVX2) chains

// A tile of kOneDnnRows rows packed as xp [K][kOneDnnRows] against a transposed panel
// wt [K][kOneDnnCols], elements [k0, k1) of one oneDNN block: chains from zero, pairs (j+1, j),
// then out[r] = the block sum (first block) or out[r] + it (later blocks), as dot_onednn_order
// adds block sums.
HWY_INLINE void OneDnnOrderTile(const float* xp, const float* wt, int k0, int k1, bool first, float* out, std::size_t out_stride) {
  constexpr int R = kOneDnnRows;
  const DF d;
  VF acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = hn::Zero(d);
  const auto step = [&](int k) {
    const VF w0 = hn::LoadU(d, wt + std::size_t(k) * kOneDnnCols), w1 = hn::LoadU(d, wt + std::size_t(k) * kOneDnnCols + kN);
    for (int r = 0; r < R; ++r) {
      const VF xr = hn::Set(d, xp[std::size_t(k) * R + std::size_t(r)]);
      acc[r][0] = hn::MulAdd(xr, w0, acc[r][0]);
      acc[r][1] = hn::MulAdd(xr, w1, acc[r][1]);
    }
  };
  int j = k0;
  for (; j + 1 < k1; j += 2) {  // element j+1, then j
    step(j + 1);
    step(j);
  }
  if (j < k1) step(j);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < 2; ++v) {
      float* o = out + std::size_t(r) * out_stride + std::size_t(v) * kN;
      hn::StoreU(first ? acc[r][v] : hn::Add(hn::LoadU(d, o), acc[r][v]), d, o);
    }
}
#endif

#if T5GEMMA2_HWY_VECTOR_KERNELS
// Element pair p of kN bf16 rows, widened: each 32-bit word holds (w[2p], w[2p+1]) of one row, and
// row_word holds each row's first word index. Returns (w[2p] lanes, w[2p + 1] lanes).
template <class VI>
HWY_INLINE std::pair<VF, VF> GatherPair(const int32_t* words, VI row_word, int p) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const hn::RebindToUnsigned<DF> du;
  const auto pair = hn::BitCast(du, hn::GatherIndex(di, words, hn::Add(row_word, hn::Set(di, p))));
  return {hn::BitCast(d, hn::ShiftLeft<16>(pair)), hn::BitCast(d, hn::And(pair, hn::Set(du, 0xFFFF0000u)))};
}

// wt [K][kOneDnnCols] = the weight rows c0 .. c0 + cols − 1 of w [N, K], widened and transposed
// (outputs past `cols`: zero weights, their sums are dropped). A full panel of an even K takes one
// gather per kN rows and element pair: each 32-bit word holds (w[2p], w[2p+1]) of one row.
HWY_INLINE void WidenTransposedPanel(const bf16_t* w, int K, int c0, int cols, float* wt) {
  if (K % 2 != 0 || cols < kOneDnnCols) {
    for (int o = 0; o < kOneDnnCols; ++o)
      for (int k = 0; k < K; ++k)
        wt[std::size_t(k) * kOneDnnCols + std::size_t(o)] = o < cols ? to_f32(w[std::size_t(c0 + o) * std::size_t(K) + std::size_t(k)]) : 0.0f;
    return;
  }
  const DF d;
  const hn::RebindToSigned<DF> di;
  const auto* words = reinterpret_cast<const int32_t*>(w);
  HWY_ALIGN int32_t row_word[kN];
  for (int h = 0; h < kOneDnnCols / int(kN); ++h) {
    for (int l = 0; l < int(kN); ++l) row_word[l] = (c0 + h * int(kN) + l) * (K / 2);
    const auto rows = hn::Load(di, row_word);
    for (int p = 0; p < K / 2; ++p) {
      const auto [even, odd] = GatherPair(words, rows, p);
      float* at = wt + std::size_t(2 * p) * kOneDnnCols + std::size_t(h) * kN;
      hn::StoreU(even, d, at);
      hn::StoreU(odd, d, at + kOneDnnCols);
    }
  }
}

// Few rows (decode): widening a panel would cost more than its use, so the bf16 weights are read
// in place. Each 32-bit word of a weight row is a pair (w[2p], w[2p+1]); one gather fetches pair
// p of kN rows, split into the odd and even halves, and the row's x[2p+1], x[2p] are broadcast:
// the same fma chain per output. K must be even.
inline constexpr int kGatherGroups = 4;  // output groups of kN in flight (independent chains)

HWY_INLINE void OneDnnOrderRowGather(const float* x, const bf16_t* w, int N, int K, int kb, float* y) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const auto* words = reinterpret_cast<const int32_t*>(w);
  const int pairs_per_row = K / 2, groups = (N + int(kN) - 1) / int(kN);
  HWY_ALIGN int32_t lane_index[kN];
  for (int g0 = 0; g0 < groups; g0 += kGatherGroups) {
    const int n_g = std::min(kGatherGroups, groups - g0);
    hn::Vec<decltype(di)> row_start[kGatherGroups];
    for (int g = 0; g < n_g; ++g) {
      for (int l = 0; l < int(kN); ++l) lane_index[l] = std::min((g0 + g) * int(kN) + l, N - 1) * pairs_per_row;
      row_start[g] = hn::Load(di, lane_index);
    }
    VF total[kGatherGroups], acc[kGatherGroups];
    for (int k0 = 0; k0 < K; k0 += kb) {
      const int k1 = std::min(K, k0 + kb);
      for (int g = 0; g < n_g; ++g) acc[g] = hn::Zero(d);
      for (int j = k0; j < k1; j += 2) {
        const VF x_odd = hn::Set(d, x[j + 1]), x_even = hn::Set(d, x[j]);
        for (int g = 0; g < n_g; ++g) {
          const auto [w_even, w_odd] = GatherPair(words, row_start[g], j / 2);
          acc[g] = hn::MulAdd(x_odd, w_odd, acc[g]);
          acc[g] = hn::MulAdd(x_even, w_even, acc[g]);
        }
      }
      for (int g = 0; g < n_g; ++g) total[g] = k0 == 0 ? acc[g] : hn::Add(total[g], acc[g]);
    }
    for (int g = 0; g < n_g; ++g) {
      const int o0 = (g0 + g) * int(kN);
      if (o0 + int(kN) <= N) {
        hn::StoreU(total[g], d, y + o0);
      } else {
        HWY_ALIGN float tail[kN];
        hn::Store(total[g], d, tail);
        std::copy(tail, tail + (N - o0), y + o0);
      }
    }
  }
}
#endif

// kb: the oneDNN block size (onednn_k_block of the product's length; P·V over a key range passes
// the whole key list's).
HWY_NOINLINE inline void MatMulOneDnnOrder(const float* x, int M, const bf16_t* w, int N, int K, int kb, float* y) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  if (M < 4 && K % 2 == 0 && (kb % 2 == 0 || kb >= K)) {  // decode: lanes hold outputs (pairs never cross a block)
    const int units = (N + int(kN) * kGatherGroups - 1) / (int(kN) * kGatherGroups);
    parallel_for(units, long(M) * N * K, [&](int u0, int u1) {
      const int o0 = u0 * int(kN) * kGatherGroups, o1 = std::min(N, u1 * int(kN) * kGatherGroups);
      for (int r = 0; r < M; ++r) {
        std::vector<float> part(std::size_t(o1 - o0));
        OneDnnOrderRowGather(x + std::size_t(r) * std::size_t(K), w + std::size_t(o0) * std::size_t(K), o1 - o0, K, kb, part.data());
        std::copy(part.begin(), part.end(), y + std::size_t(r) * std::size_t(N) + std::size_t(o0));
      }
    });
    return;
  }
  // x packed once into tiles of kOneDnnRows rows, xp [tile][K][kOneDnnRows] (rows past M: zeros),
  // tiles spread over the threads (one thread took 6 % of a 512-token hf-bf16 encode).
  const int tiles = (M + kOneDnnRows - 1) / kOneDnnRows;
  std::vector<float> xp(std::size_t(tiles) * std::size_t(K) * kOneDnnRows, 0.0f);
  parallel_for(tiles, long(M) * K, [&](int t0, int t1) {
    for (int r = t0 * kOneDnnRows; r < std::min(M, t1 * kOneDnnRows); ++r)
      for (int k = 0; k < K; ++k)
        xp[(std::size_t(r / kOneDnnRows) * std::size_t(K) + std::size_t(k)) * kOneDnnRows + std::size_t(r % kOneDnnRows)] =
            x[std::size_t(r) * std::size_t(K) + std::size_t(k)];
  });
  // Panels of kOneDnnCols outputs: widened and transposed once, then every tile of rows passes
  // over the panel, one oneDNN block after another. A narrow last panel or a short last tile
  // writes to `part` first.
  const int panels = (N + kOneDnnCols - 1) / kOneDnnCols;
  parallel_for(panels, long(M) * N * K, [&](int p0, int p1) {
    std::vector<float> wt(std::size_t(K) * kOneDnnCols);
    std::vector<float> part(std::size_t(tiles) * kOneDnnRows * kOneDnnCols);
    for (int p = p0; p < p1; ++p) {
      const int c0 = p * kOneDnnCols, cols = std::min(N - c0, kOneDnnCols);
      WidenTransposedPanel(w, K, c0, cols, wt.data());
      const auto direct = [&](int t) { return cols == kOneDnnCols && (t + 1) * kOneDnnRows <= M; };
      for (int k0 = 0; k0 < K; k0 += kb)
        for (int t = 0; t < tiles; ++t) {
          const float* tile = xp.data() + std::size_t(t) * std::size_t(K) * kOneDnnRows;
          if (direct(t))
            OneDnnOrderTile(tile, wt.data(), k0, std::min(K, k0 + kb), k0 == 0, y + std::size_t(t) * kOneDnnRows * std::size_t(N) + std::size_t(c0),
                            std::size_t(N));
          else
            OneDnnOrderTile(tile, wt.data(), k0, std::min(K, k0 + kb), k0 == 0, part.data() + std::size_t(t) * kOneDnnRows * kOneDnnCols,
                            kOneDnnCols);
        }
      for (int t = 0; t < tiles; ++t)
        if (!direct(t))
          for (int r = t * kOneDnnRows; r < std::min(M, (t + 1) * kOneDnnRows); ++r)
            std::copy(part.begin() + std::ptrdiff_t(r) * kOneDnnCols, part.begin() + std::ptrdiff_t(r) * kOneDnnCols + cols,
                      y + std::size_t(r) * std::size_t(N) + std::size_t(c0));
    }
  });
#else
  Tensor xs(M, K), ys;
  std::copy(x, x + std::size_t(M) * std::size_t(K), xs.data.begin());
  Reference::matmul_onednn_order(xs, WeightMatrix<bf16_t>{w, N, K}, ys, kb);
  std::copy(ys.data.begin(), ys.data.end(), y);
#endif
}

HWY_NOINLINE inline float DotF32(const float* a, const float* b, std::size_t n) { return DotKernel(a, b, n); }
HWY_NOINLINE inline float DotBF16(const float* a, const bf16_t* b, std::size_t n) { return DotKernel(a, b, n); }

HWY_NOINLINE inline float SumF32(const float* x, std::size_t n) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  return SumCanonical(x, n);
#else
  return sum(x, n);
#endif
}

// y[i] = fma(a, x[i], y[i])
HWY_NOINLINE inline void Axpy(float a, const float* x, float* y, std::size_t n) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  const DF d;
  const VF va = hn::Set(d, a);
  std::size_t i = 0;
  for (; i + kN <= n; i += kN) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
#else
  Reference::axpy(a, x, y, n);
#endif
}

// y = (x · 1/√(mean(x²) + eps)) · (1 + w)
HWY_NOINLINE inline void RmsNorm(const float* x, const float* weight, std::size_t n, float eps, float* y) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  float sum_sq;
  DotTile<1, 1>(&x, &x, n, &sum_sq);
  const float inv_rms = 1.0f / std::sqrt(sum_sq / float(n) + eps);
  const DF d;
  const VF vinv = hn::Set(d, inv_rms), one = hn::Set(d, 1.0f);
  std::size_t i = 0;
  for (; i + kN <= n; i += kN)
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, x + i), vinv), hn::Add(one, hn::LoadU(d, weight + i))), d, y + i);
  for (; i < n; ++i) y[i] = (x[i] * inv_rms) * (1.0f + weight[i]);
#else
  Reference::rms_norm(x, weight, n, eps, y);
#endif
}

// gelu_tanh on a vector, in the twin's order: κ·((u·u)·u), u + ·, √(2/π)·, tanh, 1 + ·, (0.5·u)·(·)
template <class D, class V = hn::Vec<D>>
HWY_INLINE V GeluV(D d, V u) {
  const V cube = hn::Mul(hn::Set(d, 0.044715f), hn::Mul(hn::Mul(u, u), u));
  const V inner = hn::Mul(hn::Set(d, 0.7978845608028654f), hn::Add(u, cube));
  return hn::Mul(hn::Mul(hn::Set(d, 0.5f), u), hn::Add(hn::Set(d, 1.0f), TanhCanonical(d, inner)));
}

// f32 -> the nearest bf16 (ties to even) as f32, NaN kept quiet (twin: round_to_bf16).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V RoundToBf16V(D d, V x) {
  const hn::RebindToUnsigned<D> du;
  const auto u = hn::BitCast(du, x), high = hn::Set(du, 0xFFFF0000u);
  const auto bias = hn::Add(hn::Set(du, 0x7FFFu), hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u)));
  const auto nan = hn::Or(hn::And(u, high), hn::Set(du, 0x00400000u));
  return hn::BitCast(d, hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(x)), nan, hn::And(hn::Add(u, bias), high)));
}

// gelu_tanh_bf16 on a vector, step by step as the twin.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V GeluBf16V(D d, V u) {
  const auto r = [d](V v) { return RoundToBf16V(d, v); };
  const V kappa = hn::Set(d, round_to_bf16(0.044715f)), beta = hn::Set(d, round_to_bf16(0.7978845608028654f));
  V t = r(hn::Mul(u, u));
  t = r(hn::Mul(t, u));
  t = r(hn::Mul(kappa, t));
  t = r(hn::Add(u, t));
  const V th = r(TanhCanonical(d, r(hn::Mul(beta, t))));
  return r(hn::Mul(r(hn::Mul(hn::Set(d, 0.5f), u)), r(hn::Add(hn::Set(d, 1.0f), th))));
}

// y[i] = f(x[i]): vector_op on whole vectors, the scalar twin on the tail (and on targets
// without vector kernels). y may alias x.
template <class VectorOp, class ScalarOp>
HWY_INLINE void Elementwise(const float* x, std::size_t n, float* y, VectorOp vector_op, ScalarOp scalar_op) {
  std::size_t i = 0;
#if T5GEMMA2_HWY_VECTOR_KERNELS
  const DF d;
  for (; i + kN <= n; i += kN) hn::StoreU(vector_op(d, hn::LoadU(d, x + i)), d, y + i);
#else
  (void)vector_op;
#endif
  for (; i < n; ++i) y[i] = scalar_op(x[i]);
}

HWY_NOINLINE inline void Gelu(float* x, std::size_t n) {
  Elementwise(x, n, x, [](auto d, auto u) { return GeluV(d, u); }, gelu_tanh);
}

HWY_NOINLINE inline void GeluBf16(float* x, std::size_t n) {
  Elementwise(x, n, x, [](auto d, auto u) { return GeluBf16V(d, u); }, gelu_tanh_bf16);
}

// x[i] = tanh(x[i] / cap) · cap
HWY_NOINLINE inline void SoftCap(float* x, std::size_t n, float cap) {
  Elementwise(
      x, n, x, [cap](auto d, auto v) { return hn::Mul(TanhCanonical(d, hn::Div(v, hn::Set(d, cap))), hn::Set(d, cap)); },
      [cap](float v) { return soft_cap(v, cap); });
}

// Elementwise canonical exp and tanh (tests sweep them against the scalar twins).
HWY_NOINLINE inline void ExpRow(const float* x, std::size_t n, float* y) {
  Elementwise(x, n, y, [](auto d, auto v) { return ExpCanonical(d, v); }, exp_canonical);
}
HWY_NOINLINE inline void TanhRow(const float* x, std::size_t n, float* y) {
  Elementwise(x, n, y, [](auto d, auto v) { return TanhCanonical(d, v); }, tanh_canonical);
}
// Elementwise Sleef exp (the hf-bf16 softmax's).
HWY_NOINLINE inline void ExpSleefRow(const float* x, std::size_t n, float* y) {
  Elementwise(x, n, y, [](auto d, auto v) { return ExpSleef(d, v); }, exp_sleef);
}

// y[i] += x[i]
HWY_NOINLINE inline void Add(const float* x, float* y, std::size_t n) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  const DF d;
  std::size_t i = 0;
  for (; i + kN <= n; i += kN) hn::StoreU(hn::Add(hn::LoadU(d, y + i), hn::LoadU(d, x + i)), d, y + i);
  for (; i < n; ++i) y[i] += x[i];
#else
  Reference::add(x, y, n);
#endif
}

// RoPE rotate-half of one head vector (twin: Ops<ScalarTarget>::rope): Mul, Mul, Sub / Add.
HWY_NOINLINE inline void Rope(float* v, const float* cos, const float* sin, int head_dim) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  const DF d;
  const std::size_t half = std::size_t(head_dim / 2);
  std::size_t j = 0;
  for (; j + kN <= half; j += kN) {
    const VF x1 = hn::LoadU(d, v + j), x2 = hn::LoadU(d, v + j + half);
    const VF c = hn::LoadU(d, cos + j), s = hn::LoadU(d, sin + j);
    hn::StoreU(hn::Sub(hn::Mul(x1, c), hn::Mul(x2, s)), d, v + j);
    hn::StoreU(hn::Add(hn::Mul(x2, c), hn::Mul(x1, s)), d, v + j + half);
  }
  for (; j < half; ++j) {
    const float x1 = v[j], x2 = v[j + half];
    const float a = x1 * cos[j], b = x2 * sin[j];
    const float c = x2 * cos[j], e = x1 * sin[j];
    v[j] = a - b;
    v[j + half] = c + e;
  }
#else
  Reference::rope(v, cos, sin, head_dim);
#endif
}

// LayerNorm with weight and bias (twin: Ops<ScalarTarget>::layer_norm).
HWY_NOINLINE inline void LayerNorm(float* x, const float* weight, const float* bias, std::size_t n, float eps, float* centered) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  const DF d;
  const float mean = SumCanonical(x, n) / float(n);
  const VF vmean = hn::Set(d, mean);
  std::size_t i = 0;
  for (; i + kN <= n; i += kN) hn::StoreU(hn::Sub(hn::LoadU(d, x + i), vmean), d, centered + i);
  for (; i < n; ++i) centered[i] = x[i] - mean;
  float sum_sq;
  const float* c = centered;
  DotTile<1, 1>(&c, &c, n, &sum_sq);
  const float inv_std = 1.0f / std::sqrt(sum_sq / float(n) + eps);
  const VF vinv = hn::Set(d, inv_std);
  for (i = 0; i + kN <= n; i += kN)
    hn::StoreU(hn::Add(hn::Mul(hn::Mul(hn::LoadU(d, centered + i), vinv), hn::LoadU(d, weight + i)), hn::LoadU(d, bias + i)), d,
               x + i);
  for (; i < n; ++i) x[i] = (centered[i] * inv_std) * weight[i] + bias[i];
#else
  Reference::layer_norm(x, weight, bias, n, eps, centered);
#endif
}

HWY_NOINLINE inline void GeluMul(float* gate, const float* up, std::size_t n) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  const DF d;
  std::size_t i = 0;
  for (; i + kN <= n; i += kN) hn::StoreU(hn::Mul(GeluV(d, hn::LoadU(d, gate + i)), hn::LoadU(d, up + i)), d, gate + i);
  for (; i < n; ++i) gate[i] = gelu_tanh(gate[i]) * up[i];
#else
  Reference::gelu_mul(gate, up, n);
#endif
}

#if T5GEMMA2_HWY_VECTOR_KERNELS
// ---- attention scores from key panels (attention.hpp: HeadMajorKeysValues::key_panels) -------
//
// A key panel (not to be confused with the GEMM's panels of kPanelCols weight rows) holds 16
// keys transposed, [d, 16]: row i is element i of the 16 keys. Broadcasting q[i] and multiplying
// by row i adds q[i]·k_c[i] to lane c, so lane c runs key c's dot by itself. The canonical order
// (ops/reduce.hpp) sends element i to partial sum i mod 16: here partial sum j of all 16 keys is
// one 16-lane accumulator (kV vectors) P_j = Σ_{i ≡ j (mod 16)} q[i]·row i (fused, increasing i,
// from +0), and the tree P_j += P_{j+8} (j < 8), then + 4, + 2, + 1 adds whole accumulators.
// Read left to right, that tree's leaves are j = BitReversed4(m), m = 0..15 (0, 8, 4, 12, 2, 10,
// …): computing the P_j in that order, leaf m completes one tree step per trailing 1-bit of m,
// like the carries of a binary counter, and Add(carry[l], p) keeps the lower j on the left as
// lane[j] + lane[j + w] does. At most 5 accumulators live per (query, key panel). Each lane sees
// exactly the fmas and adds of the scalar dot, so every score keeps its bits, and no transposing
// reduction remains (15 accumulator adds per 16 scores instead).
inline constexpr int kPanelKeys = int(kReduceLanes);

// out[a][g·16 + c] = q_a · key c of panel g, for kQ queries × kG key panels (panel_floats
// apart). kD: the head dimension when known at compile time (72, 256), else 0 and dim is read.
template <int kQ, int kG, int kD>
HWY_INLINE void PanelDotTile(const float* const* q, const float* panel, std::size_t panel_floats, int dim, float* const* out) {
  static_assert(kReduceLanes == 16, "the bit-reversed order below is the tree of 16 partial sums");
  const DF df;
  const int d = kD ? kD : dim;
  VF carry[5][kQ][kG][kV];  // carry[l]: a finished subtree of 2^l partial sums
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) {
    const int j = BitReversed4(m);
    VF p[kQ][kG][kV];
    for (auto& pa : p)
      for (auto& pg : pa)
        for (auto& pv : pg) pv = hn::Zero(df);
    for (int i = j; i < d; i += 16) {  // partial sum j: elements j, j + 16, … in order
      VF row[kG][kV];
      for (int g = 0; g < kG; ++g)
        for (std::size_t v = 0; v < kV; ++v) row[g][v] = hn::LoadU(df, panel + std::size_t(g) * panel_floats + std::size_t(i) * 16 + v * kN);
      for (int a = 0; a < kQ; ++a) {
        const VF qi = hn::Set(df, q[a][i]);
        for (int g = 0; g < kG; ++g)
          for (std::size_t v = 0; v < kV; ++v) p[a][g][v] = hn::MulAdd(qi, row[g][v], p[a][g][v]);
      }
    }
    int l = 0;
    for (; (m >> l) & 1; ++l)  // the tree steps this partial sum completes
      for (int a = 0; a < kQ; ++a)
        for (int g = 0; g < kG; ++g)
          for (std::size_t v = 0; v < kV; ++v) p[a][g][v] = hn::Add(carry[l][a][g][v], p[a][g][v]);
    for (int a = 0; a < kQ; ++a)
      for (int g = 0; g < kG; ++g)
        for (std::size_t v = 0; v < kV; ++v) carry[l][a][g][v] = p[a][g][v];
  }
  for (int a = 0; a < kQ; ++a)
    for (int g = 0; g < kG; ++g)
      for (std::size_t v = 0; v < kV; ++v) hn::StoreU(carry[4][a][g][v], df, out[a] + g * kPanelKeys + v * kN);
}

// Register tile: 4 queries × 2 key panels on AVX3 — up to 8 × 5 live vectors, more than its 32
// registers, so some carries spill to L1, and still the fastest measured (1 thread, d = 72,
// runtime d: 4 × 2 93.5, 2 × 4 94.7, 4 × 1 42.8, 8 × 1 41.5 GFLOP/s); AVX2 (two ymm per panel,
// 16 registers) takes 2 × 1.
inline constexpr int kPanelTileQueries = kN == 16 ? 4 : 2;
inline constexpr int kPanelsPerTile = kN == 16 ? 2 : 1;

// scores[a·n + col + c] = q_a · key (key0 + c) of `panels`, c in [0, count): a tile whose panels
// lie wholly inside the range stores into the scores directly, any other through a small buffer
// (only its keys inside the range are copied out).
template <int kD>
HWY_INLINE void PanelScoresRange(const float* const* queries, int nq, const float* panels, int dim, int key0, int count,
                                 float* scores, std::size_t n, int col) {
  const std::size_t panel_floats = std::size_t(dim) * kPanelKeys;
  const int key1 = key0 + count;
  alignas(64) float buffer[kPanelTileQueries][kPanelsPerTile * kPanelKeys];
  for (int p = key0 / kPanelKeys; p * kPanelKeys < key1;) {
    const int first = p * kPanelKeys;  // first key of the tile's panels
    const int panels_in_tile = first + kPanelsPerTile * kPanelKeys <= key1 ? kPanelsPerTile : 1;
    const int last = std::min(key1, first + panels_in_tile * kPanelKeys);  // one past the tile's last key in range
    const bool whole = first >= key0 && last == first + panels_in_tile * kPanelKeys;
    const float* panel = panels + std::size_t(p) * panel_floats;
    const auto tile = [&]<int kQ>(int a) {
      float* out[kQ];
      for (int r = 0; r < kQ; ++r)
        out[r] = whole ? scores + std::size_t(a + r) * n + std::size_t(col + first - key0) : buffer[r];
      if (panels_in_tile == kPanelsPerTile) PanelDotTile<kQ, kPanelsPerTile, kD>(queries + a, panel, panel_floats, dim, out);
      else PanelDotTile<kQ, 1, kD>(queries + a, panel, panel_floats, dim, out);
      if (!whole) {
        const int lo = std::max(first, key0);
        for (int r = 0; r < kQ; ++r)
          std::copy(buffer[r] + (lo - first), buffer[r] + (last - first), scores + std::size_t(a + r) * n + std::size_t(col + lo - key0));
      }
    };
    int a = 0;
    for (; a + kPanelTileQueries <= nq; a += kPanelTileQueries) tile.template operator()<kPanelTileQueries>(a);
    for (; a < nq; ++a) tile.template operator()<1>(a);
    p += panels_in_tile;
  }
}
#endif

// scores[i·n + c] = q_i · k_c over the keys of `spans` (twin: Ops<ScalarTarget>::attention_scores).
// When every span carries key panels, tiles of queries × key panels go through PanelDotTile (one
// key per lane; head_dim 72 and 256 compiled as constants: 1 thread, 128 × 72 × 4,096, 94–104
// GFLOP/s); otherwise query blocks × key pairs go through the GEMM tile (keys as rows, a
// transposing reduction per 16 scores: 57). Every score is still one canonical dot.
HWY_NOINLINE inline void AttentionScores(const float* const* queries, int nq, const KeySpan* spans, int n_spans, int dim,
                                         float* scores) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  int n = 0;
  for (int s = 0; s < n_spans; ++s) n += spans[s].count;
  // Threads take contiguous ranges of keys, in units of kPanelCols = 64 union columns (the GEMM's
  // constant; with key panels a range may start inside a panel, whose other lanes that thread
  // then computes too but does not store) (a long decode step has one
  // query block; inside the encoder's parallel query blocks this runs inline).
  const int units = (n + kPanelCols - 1) / kPanelCols;
  bool from_panels = n_spans > 0;  // every span has key panels: one key per lane (PanelDotTile)
  for (int s = 0; s < n_spans; ++s) from_panels = from_panels && spans[s].panels;
  // Otherwise row tiles of queries read aligned copies (AlignedRows). Keys are read where they
  // are: when many queries share them, attention() hands over aligned head-major copies
  // (attention.hpp: head_major_copy), made once per call rather than once per block of queries here.
  std::optional<AlignedRows> aligned_queries;
  if (!from_panels && nq >= kTileRows) {
    aligned_queries.emplace(queries, nq, std::size_t(dim));
    queries = aligned_queries->rows.data();
  }
  parallel_for(units, long(nq) * n * dim, [&](int u0, int u1) {
    const int k0 = u0 * kPanelCols, k1 = std::min(n, u1 * kPanelCols);
    std::vector<float*> rows(from_panels ? 0 : std::size_t(nq));
    int first = 0;  // index of the span's first key
    for (int s = 0; s < n_spans; first += spans[s].count, ++s) {
      const int lo = std::max(k0, first) - first, hi = std::min(k1, first + spans[s].count) - first;  // span rows
      if (lo >= hi) continue;
      if (from_panels) {
        const auto range = [&]<int kD>() {
          PanelScoresRange<kD>(queries, nq, spans[s].panels, dim, spans[s].panel_key + lo, hi - lo, scores, std::size_t(n), first + lo);
        };
        if (dim == 72) range.template operator()<72>();
        else if (dim == 256) range.template operator()<256>();
        else range.template operator()<0>();
        continue;
      }
      for (int i = 0; i < nq; ++i) rows[std::size_t(i)] = scores + std::size_t(i) * std::size_t(n) + std::size_t(first + lo);
      if (spans[s].k_bf16)
        DotRows(queries, nq, spans[s].k_bf16, spans[s].stride, spans[s].count, std::size_t(dim), lo, hi, rows.data());
      else
        DotRows(queries, nq, spans[s].k, spans[s].stride, spans[s].count, std::size_t(dim), lo, hi, rows.data());
    }
  });
#else
  Reference::attention_scores(queries, nq, spans, n_spans, dim, scores);
#endif
}

// One query's dots -> attention weights (twin: Ops<ScalarTarget>::attention_softmax).
HWY_NOINLINE inline void AttentionSoftmax(float* dots, int n, float scale, const float* softcap) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  if (n == 0) return;
  const DF df;
  float max_score = -INFINITY;
  int i0 = 0;
  if (!softcap) {  // x = dot · scale, elementwise; the maximum is exact in any order
    VF vmax = hn::Set(df, -INFINITY);
    const VF vscale = hn::Set(df, scale);
    for (; i0 + int(kN) <= n; i0 += int(kN)) {
      const VF x = hn::Mul(hn::LoadU(df, dots + i0), vscale);
      hn::StoreU(x, df, dots + i0);
      vmax = hn::IfThenElse(hn::Lt(vmax, x), x, vmax);  // std::max's rule: a NaN x leaves the maximum
    }
    max_score = hn::GetLane(hn::MaxOfLanes(df, vmax));
  }
  for (int i = i0; i < n; ++i) {
    float x = dots[i] * scale;
    if (softcap) x = soft_cap(x, *softcap);
    dots[i] = x;
    max_score = std::max(max_score, x);
  }
  const VF vmax = hn::Set(df, max_score);
  int i = 0;
  for (; i + int(kN) <= n; i += int(kN)) hn::StoreU(ExpCanonical(df, hn::Sub(hn::LoadU(df, dots + i), vmax)), df, dots + i);
  for (; i < n; ++i) dots[i] = exp_canonical(dots[i] - max_score);
  const float denom = SumCanonical(dots, std::size_t(n));
  const VF vden = hn::Set(df, denom);
  for (i = 0; i + int(kN) <= n; i += int(kN)) hn::StoreU(hn::Div(hn::LoadU(df, dots + i), vden), df, dots + i);
  for (; i < n; ++i) dots[i] = dots[i] / denom;
#else
  Reference::attention_softmax(dots, n, scale, softcap);
#endif
}

#if T5GEMMA2_HWY_VECTOR_KERNELS
// kN values from p as f32; with kMasked only the lanes of `last` are read (the rest are 0).
template <bool kMasked>
HWY_INLINE VF LoadValues(DF df, const float* p, hn::Mask<DF> last) {
  return kMasked ? hn::MaskedLoad(last, df, p) : hn::LoadU(df, p);
}
template <bool kMasked>
HWY_INLINE VF LoadValues(DF df, const bf16_t* p, hn::Mask<DF> last) {
  if constexpr (!kMasked) return LoadWeights(df, p);
  alignas(64) float lanes[kN] = {};
  const std::size_t n = hn::CountTrue(df, last);  // the mask is FirstN(n)
  for (std::size_t i = 0; i < n; ++i) lanes[i] = to_f32(p[i]);
  return hn::Load(df, lanes);
}

// The keys of one span (values VT: f32 or bf16) into the P·V accumulators.
template <int kQ, int kCols, bool kMasked, class VT>
HWY_INLINE void PvSpan(const float* const* weights, const VT* values, std::size_t stride, int count, int key, std::size_t c0,
                       hn::Mask<DF> last, VF (&acc)[kQ][kCols]) {
  const DF df;
  for (int j = 0; j < count; ++j, ++key) {
    const VT* v = values + std::size_t(j) * stride + c0;
    VF vv[kCols];
#pragma GCC unroll 16
    for (int b = 0; b < kCols; ++b)
      vv[b] = InRegister(kMasked && b == kCols - 1 ? LoadValues<true>(df, v + b * kN, last) : LoadValues<false>(df, v + b * kN, last));
#pragma GCC unroll 16
    for (int q = 0; q < kQ; ++q) {
      const VF p = hn::Set(df, weights[q][key]);
#pragma GCC unroll 16
      for (int b = 0; b < kCols; ++b) acc[q][b] = hn::MulAdd(p, vv[b], acc[q][b]);
    }
  }
}

// P·V for kQ queries over the kCols vectors of columns from c0 (with kMasked, the last of them
// a vector whose lanes past `last` are neither loaded nor stored), for the keys of `spans`, whose weights start
// at weights[q][key0]: the kQ × kCols accumulators stay in registers across these keys; per
// (query, column) one MulAdd per key, keys in order. `first`: start from 0, else continue the
// sums stored in outs by the previous block of keys (a store and a load change no bit).
template <int kQ, int kCols, bool kMasked>
HWY_INLINE void PvTile(const float* const* weights, float* const* outs, const KeySpan* spans, int n_spans, int key0,
                       std::size_t c0, hn::Mask<DF> last, bool first) {
  const DF df;
  VF acc[kQ][kCols];
#pragma GCC unroll 16
  for (int q = 0; q < kQ; ++q)
#pragma GCC unroll 16
    for (int b = 0; b < kCols; ++b)
      acc[q][b] = first                        ? hn::Zero(df)
                  : kMasked && b == kCols - 1 ? LoadValues<true>(df, outs[q] + c0 + b * kN, last)
                                              : LoadValues<false>(df, outs[q] + c0 + b * kN, last);
  int key = key0;
  for (int s = 0; s < n_spans; ++s) {
    if (spans[s].v_bf16)
      PvSpan<kQ, kCols, kMasked>(weights, spans[s].v_bf16, spans[s].stride, spans[s].count, key, c0, last, acc);
    else
      PvSpan<kQ, kCols, kMasked>(weights, spans[s].v, spans[s].stride, spans[s].count, key, c0, last, acc);
    key += spans[s].count;
  }
  for (int q = 0; q < kQ; ++q)
    for (int b = 0; b < kCols; ++b) {
      if (kMasked && b == kCols - 1) hn::BlendedStore(acc[q][b], last, df, outs[q] + c0 + b * kN);
      else hn::StoreU(acc[q][b], df, outs[q] + c0 + b * kN);
    }
}

// All queries over one column chunk of kCols vectors.
template <int kCols, bool kMasked>
HWY_INLINE void PvChunk(const float* const* weights, float* const* outs, int nq, const KeySpan* spans, int n_spans, int key0,
                        std::size_t c0, hn::Mask<DF> last, bool first) {
  int i = 0;
  for (; i + 4 <= nq; i += 4) PvTile<4, kCols, kMasked>(weights + i, outs + i, spans, n_spans, key0, c0, last, first);
  for (; i < nq; ++i) PvTile<1, kCols, kMasked>(weights + i, outs + i, spans, n_spans, key0, c0, last, first);
}

// Keys per block of P·V: their values (columns of one chunk) stay in L2 while every query passes.
inline constexpr int kPvBlockKeys = 512;
#endif

// P·V for queries that see the same keys (twin: Ops<ScalarTarget>::attention_pv).
// Column chunks (4 vectors, then single vectors, then a masked last vector; 4 vectors and a
// masked one when that is all that is left) are split across
// threads; each runs the keys in blocks of kPvBlockKeys, all queries per block, so a long list
// of values is read once per chunk instead of once per 4 queries.
HWY_NOINLINE inline void AttentionPV(const float* const* weights, float* const* outs, int nq, const KeySpan* spans, int n_spans,
                                     int dim) {
#if T5GEMMA2_HWY_VECTOR_KERNELS
  const std::size_t d = std::size_t(dim);
  const DF df;
  struct Chunk {
    std::size_t c0;
    int full_vectors;  // 4, 1 or 0
    bool masked_tail;  // and then a vector of the last d − c0 − full_vectors·kN < kN columns
  };
  std::vector<Chunk> chunks;
  std::size_t c0 = 0;
  for (; c0 + 4 * kN <= d; c0 += 4 * kN) {
    // A part-vector right after 4 vectors (SigLIP's 72 = 64 + 8) joins them: alone, its tile of
    // 4 queries × 1 vector is 4 chains of fmas, bound by their latency (AVX3; 1 thread: 102–104
    // GFLOP/s at d = 72 against 136–151 at 64; joined 125–130).
    const bool tail_joins = kN == 16 && d > c0 + 4 * kN && d < c0 + 5 * kN;
    chunks.push_back({c0, 4, tail_joins});
    if (tail_joins) {
      c0 = d;
      break;
    }
  }
  for (; c0 + kN <= d; c0 += kN) chunks.push_back({c0, 1, false});
  if (c0 < d) chunks.push_back({c0, 0, true});
  int n = 0;
  for (int s = 0; s < n_spans; ++s) n += spans[s].count;
  parallel_for(int(chunks.size()), long(nq) * n * dim, [&](int ch0, int ch1) {
    std::vector<KeySpan> block;
    for (int k0 = 0;; k0 += kPvBlockKeys) {  // at least one pass: no key at all stores zeros
      const int k1 = std::min(n, k0 + kPvBlockKeys);
      block.clear();  // the spans' parts inside keys [k0, k1)
      int first = 0;
      for (int s = 0; s < n_spans; first += spans[s].count, ++s) {
        const int lo = std::max(k0, first) - first, hi = std::min(k1, first + spans[s].count) - first;
        if (lo >= hi) continue;
        KeySpan part = spans[s];
        part.count = hi - lo;
        if (part.v_bf16) part.v_bf16 += std::size_t(lo) * part.stride;
        else part.v += std::size_t(lo) * part.stride;
        block.push_back(part);
      }
      for (int c = ch0; c < ch1; ++c) {
        const Chunk& chunk = chunks[std::size_t(c)];
        const int nb = int(block.size());
        const auto tail = hn::FirstN(df, chunk.masked_tail ? d - chunk.c0 - std::size_t(chunk.full_vectors) * kN : kN);
        if (chunk.full_vectors == 4 && chunk.masked_tail)
          PvChunk<5, true>(weights, outs, nq, block.data(), nb, k0, chunk.c0, tail, k0 == 0);
        else if (chunk.full_vectors == 4)
          PvChunk<4, false>(weights, outs, nq, block.data(), nb, k0, chunk.c0, tail, k0 == 0);
        else if (chunk.full_vectors == 1)
          PvChunk<1, false>(weights, outs, nq, block.data(), nb, k0, chunk.c0, tail, k0 == 0);
        else
          PvChunk<1, true>(weights, outs, nq, block.data(), nb, k0, chunk.c0, tail, k0 == 0);
      }
      if (k1 >= n) break;
    }
  });
#else
  Reference::attention_pv(weights, outs, nq, spans, n_spans, dim);
#endif
}

// The kernel set of this target as an Ops target type (a distinct type per target namespace,
// so translation units built for different targets never clash).
struct HighwayTarget {
  using is_kernel_set = void;
  static bool reads_key_panels() { return ReadsKeyPanels(); }  // attention_scores reads KeySpan::panels when given
  static const char* name() { return KernelTargetName(); }

  static float dot(const float* a, const float* b, std::size_t n) { return DotF32(a, b, n); }
  static float dot(const float* a, const bf16_t* b, std::size_t n) { return DotBF16(a, b, n); }
  template <class W>
  static void matmul(const Tensor& x, const WeightMatrix<W>& w, Tensor& y) {
    y = Tensor(x.rows, w.rows);
    if constexpr (std::is_same_v<W, float>)
      MatMulF32(x.data.data(), x.rows, w.data, w.rows, w.cols, y.data.data());
    else
      MatMulBF16(x.data.data(), x.rows, w.data, w.rows, w.cols, y.data.data());
  }
  static void axpy(float a, const float* x, float* y, std::size_t n) { Axpy(a, x, y, n); }
  static void rms_norm(const float* x, const float* w, std::size_t n, float eps, float* y) { RmsNorm(x, w, n, eps, y); }
  static void gelu(float* x, std::size_t n) { Gelu(x, n); }
  static void add(const float* x, float* y, std::size_t n) { Add(x, y, n); }
  static void rope(float* v, const float* cos, const float* sin, int head_dim) { Rope(v, cos, sin, head_dim); }
  static void layer_norm(float* x, const float* w, const float* b, std::size_t n, float eps, float* centered) {
    LayerNorm(x, w, b, n, eps, centered);
  }
  static void gelu_mul(float* gate, const float* up, std::size_t n) { GeluMul(gate, up, n); }
  static void soft_cap(float* x, std::size_t n, float cap) { SoftCap(x, n, cap); }
  static void tanh_row(const float* x, std::size_t n, float* y) { TanhRow(x, n, y); }
  static void exp_sleef_row(const float* x, std::size_t n, float* y) { ExpSleefRow(x, n, y); }
  static void gelu_bf16(float* x, std::size_t n) { GeluBf16(x, n); }
  static void matmul_onednn_order(const Tensor& x, const WeightMatrix<bf16_t>& w, Tensor& y, int kb = 0) {
    y = Tensor(x.rows, w.rows);
    MatMulOneDnnOrder(x.data.data(), x.rows, w.data, w.rows, w.cols, kb ? kb : onednn_k_block(w.cols), y.data.data());
  }
  static void attention_scores(const float* const* queries, int nq, const KeySpan* spans, int n_spans, int d, float* scores) {
    AttentionScores(queries, nq, spans, n_spans, d, scores);
  }
  static void attention_softmax(float* dots, int n, float scale, const float* softcap) { AttentionSoftmax(dots, n, scale, softcap); }
  static void attention_pv(const float* const* weights, float* const* outs, int nq, const KeySpan* spans, int n_spans, int d) {
    AttentionPV(weights, outs, nq, spans, n_spans, d);
  }
};

}  // namespace HWY_NAMESPACE
}  // namespace v0_1
}  // namespace t5gemma2
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
