// t5gemma2 — rotary position embeddings (docs/model.md §3).
//
// Two tables, chosen per layer by its type:
//   rope_local  (sliding_attention): theta 1e4, no scaling
//   rope_global (full_attention):    theta 1e6, linear scaling (inv_freq / 8)
// inv_freq[k] = 1 / theta^(2k/d) for k < d/2, each step in f32 as HF computes it;
// angle(p, k) = inv_freq[k] · p; cos/sin in f32. Application is "rotate-half": element j is
// paired with element j + d/2 (NOT interleaved pairs):
//   out[j]       = v[j]·cos_j − v[j+d/2]·sin_j
//   out[j + d/2] = v[j+d/2]·cos_j + v[j]·sin_j
// The two products are rounded separately before the sum (no fused multiply-add), as PyTorch
// computes `q*cos + rotate_half(q)*sin` (the kernel: Ops<Kernels>::rope, ops/scalar.hpp).
#pragma once

#include <cmath>
#include <vector>

#include "t5gemma2/config.hpp"
#include "t5gemma2/ops/scalar.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// inv_freq [d/2] for one table.
inline std::vector<float> rope_inv_freq(const RopeParams& p, int head_dim) {
  std::vector<float> inv(static_cast<std::size_t>(head_dim / 2));
  for (int k = 0; k < head_dim / 2; ++k) {
    const float exponent = float(2 * k) / float(head_dim);
    const float power = std::pow(float(p.theta), exponent);
    inv[std::size_t(k)] = 1.0f / power;
    if (p.linear_factor != 1.0) inv[std::size_t(k)] = inv[std::size_t(k)] / float(p.linear_factor);
  }
  return inv;
}

// cos/sin for a list of positions: cos [P, d/2], sin [P, d/2] (the d-wide table of HF is these
// d/2 values repeated twice).
struct RopeAngles {
  Tensor cos;
  Tensor sin;
};

inline RopeAngles rope_angles(const std::vector<float>& inv_freq, const std::vector<int>& positions) {
  const int half = int(inv_freq.size());
  RopeAngles a{Tensor(int(positions.size()), half), Tensor(int(positions.size()), half)};
  for (int i = 0; i < int(positions.size()); ++i)
    for (int k = 0; k < half; ++k) {
      const float angle = inv_freq[std::size_t(k)] * float(positions[std::size_t(i)]);
      a.cos.at(i, k) = std::cos(angle);
      a.sin.at(i, k) = std::sin(angle);
    }
  return a;
}

// Rotates every head of x [T, n·d]; row t uses angles row t (Ops<Kernels>::rope per head).
template <class Kernels>
inline void apply_rope_rows(Tensor& x, const RopeAngles& a, int head_dim) {
  for (int t = 0; t < x.rows; ++t)
    for (int h = 0; h < x.cols / head_dim; ++h) Ops<Kernels>::rope(x.row(t) + h * head_dim, a.cos.row(t), a.sin.row(t), head_dim);
}

// Both tables of a text stack.
struct Rope {
  std::vector<float> local_inv_freq;   // rope_local
  std::vector<float> global_inv_freq;  // rope_global

  Rope() = default;
  Rope(const TextConfig& c)
      : local_inv_freq(rope_inv_freq(c.rope_local, c.head_dim)), global_inv_freq(rope_inv_freq(c.rope_global, c.head_dim)) {}

  const std::vector<float>& inv_freq(LayerType t) const {
    return t == LayerType::kSliding ? local_inv_freq : global_inv_freq;
  }
};

T5GEMMA2_NAMESPACE_END
