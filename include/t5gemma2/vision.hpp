// t5gemma2 — the SigLIP vision tower and the multimodal projector (docs/model.md §6).
//
//   patches   = unfold(pixels) · W_patchᵀ + b     14×14 stride-14 conv as a matmul  [N, Hv]
//   h         = patches + position_embedding       learned, one row per patch        [N, Hv]
//   27 × pre-LN block:
//     h += out_proj(MHA(layer_norm1(h)))           biases everywhere, scale head_dim^-0.5
//     h += fc2(gelu_tanh(fc1(layer_norm2(h))))
//   V         = post_layernorm(h)                                                     [N, Hv]
// projector (per image):
//   pooled    = avg_pool(V as a √N×√N grid, k×k)   row-major tokens                   [T, Hv]
//   features  = rms_norm(pooled, 1 + w, vision eps) · mm_input_projection_weight     [T, H]
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "t5gemma2/checkpoint.hpp"
#include "t5gemma2/config.hpp"
#include "t5gemma2/masks.hpp"
#include "t5gemma2/attention.hpp"
#include "t5gemma2/precision.hpp"
#include "t5gemma2/mlp.hpp"
#include "t5gemma2/layers.hpp"
#include "t5gemma2/norm.hpp"
#include "t5gemma2/ops/parallel.hpp"

T5GEMMA2_NAMESPACE_BEGIN

template <class W>
struct Linear {
  WeightMatrix<W> weight;  // [out, in]
  WeightVector bias;       // [out]
};

struct LayerNormWeights {
  WeightVector weight;  // [Hv]
  WeightVector bias;    // [Hv]
};

template <class W>
struct VisionLayerWeights {
  LayerNormWeights layer_norm1;
  Linear<W> q_proj, k_proj, v_proj, out_proj;  // [Hv, Hv]
  LayerNormWeights layer_norm2;
  Linear<W> fc1;  // [Iv, Hv]
  Linear<W> fc2;  // [Hv, Iv]
};

template <class W>
struct VisionWeights {
  Linear<W> patch_embedding;            // [Hv, 3·p·p] (conv kernel OIHW flattened)
  WeightMatrix<W> position_embedding;   // [N, Hv]
  std::vector<VisionLayerWeights<W>> layers;
  LayerNormWeights post_layernorm;
  WeightVector mm_soft_emb_norm;        // [Hv]
  WeightMatrix<W> mm_input_projection;  // [H, Hv] (the file stores [Hv, H]; transposed on load)
};

// fn(v) for every WeightVector (biases, LayerNorm and projector-norm weights).
template <class W, class Fn>
inline void for_each_vector(VisionWeights<W>& w, Fn&& fn) {
  fn(w.patch_embedding.bias);
  for (VisionLayerWeights<W>& l : w.layers) {
    for (LayerNormWeights* n : {&l.layer_norm1, &l.layer_norm2}) {
      fn(n->weight);
      fn(n->bias);
    }
    for (Linear<W>* lin : {&l.q_proj, &l.k_proj, &l.v_proj, &l.out_proj, &l.fc1, &l.fc2}) fn(lin->bias);
  }
  fn(w.post_layernorm.weight);
  fn(w.post_layernorm.bias);
  fn(w.mm_soft_emb_norm);
}

template <class W>
inline Linear<W> load_linear(Checkpoint& ckpt, const std::string& name, int out, int in) {
  return Linear<W>{ckpt.matrix<W>(name + ".weight", out, in), ckpt.vector(name + ".bias", {out})};
}

inline LayerNormWeights load_layer_norm(Checkpoint& ckpt, const std::string& name, int n) {
  return LayerNormWeights{ckpt.vector(name + ".weight", {n}), ckpt.vector(name + ".bias", {n})};
}

template <class W>
inline VisionWeights<W> load_vision_weights(Checkpoint& ckpt, const VisionConfig& v, int text_hidden) {
  const std::string p = "encoder.vision_tower.vision_model.";
  const int hv = v.hidden_size, ps = v.patch_size;
  VisionWeights<W> w;
  w.patch_embedding.weight = ckpt.matrix_from<W>(p + "embeddings.patch_embedding.weight", {hv, v.num_channels, ps, ps}, hv,
                                                 v.num_channels * ps * ps);
  w.patch_embedding.bias = ckpt.vector(p + "embeddings.patch_embedding.bias", {hv});
  w.position_embedding = ckpt.matrix<W>(p + "embeddings.position_embedding.weight", v.num_patches(), hv);
  for (int j = 0; j < v.num_layers; ++j) {
    const std::string l = p + "encoder.layers." + std::to_string(j) + ".";
    VisionLayerWeights<W> layer;
    layer.layer_norm1 = load_layer_norm(ckpt, l + "layer_norm1", hv);
    layer.q_proj = load_linear<W>(ckpt, l + "self_attn.q_proj", hv, hv);
    layer.k_proj = load_linear<W>(ckpt, l + "self_attn.k_proj", hv, hv);
    layer.v_proj = load_linear<W>(ckpt, l + "self_attn.v_proj", hv, hv);
    layer.out_proj = load_linear<W>(ckpt, l + "self_attn.out_proj", hv, hv);
    layer.layer_norm2 = load_layer_norm(ckpt, l + "layer_norm2", hv);
    layer.fc1 = load_linear<W>(ckpt, l + "mlp.fc1", v.intermediate_size, hv);
    layer.fc2 = load_linear<W>(ckpt, l + "mlp.fc2", hv, v.intermediate_size);
    w.layers.push_back(std::move(layer));
  }
  w.post_layernorm = load_layer_norm(ckpt, p + "post_layernorm", hv);
  w.mm_soft_emb_norm = ckpt.vector("encoder.multi_modal_projector.mm_soft_emb_norm.weight", {hv});
  w.mm_input_projection = ckpt.matrix_transposed<W>("encoder.multi_modal_projector.mm_input_projection_weight", hv, text_hidden);
  return w;
}

// ---- forward --------------------------------------------------------------------------------

// LayerNorm with weight and bias over each row: y = (x − mean) · 1/√(var + eps) · w + b, mean
// and (biased) variance in the canonical order, two passes (Ops<Kernels>::layer_norm).
template <class Kernels>
inline void layer_norm_rows(Tensor& x, const LayerNormWeights& w, float eps) {
  parallel_for(x.rows, long(x.rows) * x.cols * 8, [&](int r0, int r1) {
    std::vector<float> centered(std::size_t(x.cols));
    for (int r = r0; r < r1; ++r)
      Ops<Kernels>::layer_norm(x.row(r), w.weight.data(), w.bias.data(), std::size_t(x.cols), eps, centered.data());
  });
}

// y = x · Wᵀ + b.  x [R, in] -> [R, out]
template <class Kernels, class W>
inline Tensor linear(const Tensor& x, const Linear<W>& l) {
  Tensor y;
  matmul_bias<Kernels>(x, l.weight, l.bias, y);
  return y;
}

// pixel_values [3, S·S] (channel-major) -> patches [N, 3·p·p], patch n = row-major over the
// (S/p)×(S/p) grid, features in the conv kernel's (channel, ky, kx) order.
inline Tensor unfold_patches(const Tensor& pixels, int image_size, int patch) {
  const int side = image_size / patch;
  Tensor out(side * side, 3 * patch * patch);
  for (int py = 0; py < side; ++py)
    for (int px = 0; px < side; ++px) {
      float* dst = out.row(py * side + px);
      for (int c = 0; c < 3; ++c)
        for (int ky = 0; ky < patch; ++ky)
          for (int kx = 0; kx < patch; ++kx)
            *dst++ = pixels.at(c, (py * patch + ky) * image_size + px * patch + kx);
    }
  return out;
}

// Multi-head self-attention of SigLIP: biases on q/k/v/out, scale head_dim^-0.5, no mask.
// x̂ [N, Hv] -> [N, Hv]
template <class Kernels, class W>
inline Tensor vision_self_attention(const Tensor& x_hat, const VisionLayerWeights<W>& w, const VisionConfig& c) {
  const Tensor q = linear<Kernels>(x_hat, w.q_proj), k = linear<Kernels>(x_hat, w.k_proj), v = linear<Kernels>(x_hat, w.v_proj);
  const AttentionShape a = attention_shape(c);
  const int n = x_hat.rows;
  const auto every_key = [n](int, std::vector<KeyInterval>& out) { out.push_back({0, n}); };
  return linear<Kernels>(attention<Kernels>(q, {{&k, &v}}, every_key, a), w.out_proj);
}

// The SigLIP tower: pixel_values [3, S·S] -> last_hidden_state [N, Hv]
template <class Kernels, class W>
inline Tensor vision_tower(const Tensor& pixels, const VisionWeights<W>& w, const VisionConfig& c) {
  const float eps = float(c.layer_norm_eps);
  Tensor h;  // [N, Hv]
  patch_embedding<Kernels>(unfold_patches(pixels, c.image_size, c.patch_size), w.patch_embedding.weight, w.patch_embedding.bias,
                           c.num_channels, h);
  std::vector<float> position(std::size_t(h.cols));  // [Hv]
  for (int n = 0; n < h.rows; ++n) {
    for (int i = 0; i < h.cols; ++i) position[std::size_t(i)] = to_f32(w.position_embedding.row(n)[i]);
    Ops<Kernels>::add(position.data(), h.row(n), std::size_t(h.cols));
  }
  for (const VisionLayerWeights<W>& layer : w.layers) {
    Tensor x_hat = h;
    layer_norm_rows<Kernels>(x_hat, layer.layer_norm1, eps);
    add_in_place<Kernels>(h, vision_self_attention<Kernels>(x_hat, layer, c));
    x_hat = h;
    layer_norm_rows<Kernels>(x_hat, layer.layer_norm2, eps);
    Tensor m = linear<Kernels>(x_hat, layer.fc1);
    parallel_elementwise(m.data.size(), 16, [&](std::size_t b, std::size_t e) { Ops<Kernels>::gelu(m.data.data() + b, e - b); });
    add_in_place<Kernels>(h, linear<Kernels>(m, layer.fc2));
  }
  layer_norm_rows<Kernels>(h, w.post_layernorm, eps);
  return h;
}

// Average pooling of the patch grid, k×k windows, tokens row-major; the window is summed in f32
// in row-major order and divided by k² (as PyTorch's avg_pool2d, whose bf16 kernel also sums in
// f32 and rounds the mean once). [N, Hv] -> [N / k², Hv]
template <class Kernels>
inline Tensor average_pool_patches(const Tensor& v, int patches_per_side, int kernel) {
  const int side = patches_per_side / kernel;
  Tensor out(side * side, v.cols);
  for (int r = 0; r < side; ++r)
    for (int c = 0; c < side; ++c) {
      float* o = out.row(r * side + c);
      for (int dy = 0; dy < kernel; ++dy)
        for (int dx = 0; dx < kernel; ++dx) {
          const float* x = v.row((r * kernel + dy) * patches_per_side + c * kernel + dx);
          for (int i = 0; i < v.cols; ++i) o[i] += x[i];
        }
      for (int i = 0; i < v.cols; ++i) o[i] /= float(kernel * kernel);
    }
  round_to_activation_dtype<Kernels>(out);
  return out;
}

// The multimodal projector: [N, Hv] -> image features [mm_tokens_per_image, H]
template <class Kernels, class W>
inline Tensor project_image(const Tensor& vision_states, const VisionWeights<W>& w, const ModelConfig& c) {
  Tensor pooled = average_pool_patches<Kernels>(vision_states, c.vision.patches_per_side(), c.pool_kernel());
  rms_norm_pooled_tokens<Kernels>(pooled, w.mm_soft_emb_norm, float(c.vision.layer_norm_eps));
  Tensor features;
  Ops<Kernels>::matmul(pooled, w.mm_input_projection, features);
  return features;
}

T5GEMMA2_NAMESPACE_END
