// t5gemma2 — the SigLIP vision tower and the multimodal projector (spec §5.3, §5.4).
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
#include "t5gemma2/mlp.hpp"
#include "t5gemma2/norm.hpp"

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

T5GEMMA2_NAMESPACE_END
