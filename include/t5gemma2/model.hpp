// t5gemma2 — the whole model: T5Gemma2ForConditionalGeneration.
//
//   Model<Dims, W, SimdTarget, Precision>
//     Dims        size contract checked against config.json before loading: RuntimeDims (any
//                 config) or Preset270m / Preset1b / Preset4b (exactly that size; dims.hpp)
//     W           weight storage: float or bf16_t
//     SimdTarget  ScalarTarget (the reference), HwyDynamicTarget, HwyStaticTarget
//     Precision   F32 (activations f32, the default) or HfBf16 (transformers' bf16 path; W = bf16_t)
//   Model::Kernels — the KERNEL SET every layer runs on: the SIMD target's kernels under F32,
//   HfBf16Kernels<SimdTarget> under HfBf16 (precision.hpp). Layer functions take it as their
//   first template argument (`template <class Kernels>`).
//
// Forward pass, top to bottom (docs/model.md §3–§7):
//   x  = embed_tokens(encoder ids)           [S, H]   (+ image features at image-token rows)
//   E  = encoder_forward(x, padding)         [S, H]
//   y  = embed_tokens(decoder ids)           [T, H]
//   h  = decoder_forward(y, E, padding)      [T, H]
//   logits = lm_head(h)                      [T, V]
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "t5gemma2/checkpoint.hpp"
#include "t5gemma2/config.hpp"
#include "t5gemma2/decoder.hpp"
#include "t5gemma2/dims.hpp"
#include "t5gemma2/embedding.hpp"
#include "t5gemma2/encoder.hpp"
#include "t5gemma2/precision.hpp"
#include "t5gemma2/vision.hpp"
#include "t5gemma2/weight_memory.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// Which parts of a checkpoint a Model loads. An encoder-only model (decoder = false, and vision
// = false for text) never reads the other tensors: they are checked to exist, their bytes stay
// unmapped from resident memory (t5gemma2 embed, sentence_embeddings.hpp).
struct ModelParts {
  bool decoder = true;
  bool vision = true;
};

template <class Dims = RuntimeDims, class W = float, class SimdTarget = ScalarTarget, class Precision = F32>
class Model {
  static_assert(!std::is_same_v<Precision, HfBf16> || std::is_same_v<W, bf16_t>,
                "the hf-bf16 precision policy needs bf16 weights (W = bf16_t)");

 public:
  using WeightType = W;
  using PrecisionType = Precision;
  using Kernels = PrecisionKernels<SimdTarget, Precision>;  // the kernel set every layer runs on
  using Target [[deprecated("renamed Model::Kernels: it is the kernel set, not the SIMD target")]] = Kernels;
  using TargetType [[deprecated("renamed Model::Kernels")]] = Kernels;

  // Loads DIR/config.json (+ generation_config.json) and the safetensors checkpoint in DIR.
  explicit Model(const std::string& dir, ModelParts parts = {})
      : Model(OpenLater{}, load_model_config(dir), [&] { return std::make_shared<Checkpoint>(dir); }, parts) {}

  // A model of `config` with the weights of `checkpoint` (a directory, or generated tensors).
  Model(ModelConfig config, const std::shared_ptr<Checkpoint>& checkpoint, ModelParts parts = {})
      : Model(OpenLater{}, std::move(config), [&] { return checkpoint; }, parts) {}

 private:
  // The size check (Dims::from_config) runs before the checkpoint is opened.
  struct OpenLater {};
  template <class OpenCheckpoint>
  Model(OpenLater, ModelConfig config, OpenCheckpoint&& open, ModelParts parts)
      : config_(std::move(config)), dims_(Dims::from_config(config_)), checkpoint_(open()), has_decoder_(parts.decoder) {
    if (!checkpoint_->template stores_only<W>()) {  // weights of our own: will they fit?
      const bool vision = parts.vision && config_.vision.hidden_size > 0 && checkpoint_->has_prefix("encoder.vision_tower.");
      const WeightCount n = weight_count(config_, parts.decoder, vision);
      check_weights_fit(n.bytes(sizeof(W)), available_memory_bytes(), std::is_same_v<W, float> ? "f32 weights" : "bf16 weights",
                        n.matrix + n.vector);
    }
    text_ = load_text_weights<W>(*checkpoint_, config_, parts.decoder);
    has_vision_ = parts.vision && config_.vision.hidden_size > 0 && checkpoint_->has_prefix("encoder.vision_tower.");
    if (has_vision_) vision_ = load_vision_weights<W>(*checkpoint_, config_.vision, config_.encoder.hidden_size);
    if (!parts.vision)
      for (const char* prefix : {"encoder.vision_tower.", "encoder.multi_modal_projector."}) checkpoint_->skip_prefix(prefix);
    checkpoint_->finish();
    encoder_rope_ = Rope(config_.encoder);
    decoder_rope_ = Rope(config_.decoder);
    if constexpr (std::is_same_v<Precision, HfBf16>) {
      // model.to(torch.bfloat16) rounds every floating-point parameter AND buffer: norm weights,
      // biases, the eoi embedding, and the RoPE inv_freq buffers (the angles are then
      // bf16(inv_freq) · position in f32).
      const auto round = [](std::vector<float>& v) { round_to_bf16(v.data(), v.size()); };
      for_each_vector(text_, round);
      for_each_vector(vision_, round);
      for (Rope* r : {&encoder_rope_, &decoder_rope_}) {
        round(r->local_inv_freq);
        round(r->global_inv_freq);
      }
    }
  }

 public:
  const ModelConfig& config() const { return config_; }
  const Dims& dims() const { return dims_; }
  const TextWeights<W>& text_weights() const { return text_; }
  bool has_vision() const { return has_vision_; }
  bool has_decoder() const { return has_decoder_; }
  const VisionWeights<W>& vision_weights() const { return vision_; }
  const Rope& encoder_rope() const { return encoder_rope_; }
  const Rope& decoder_rope() const { return decoder_rope_; }

  // ids [n] -> [n, H]
  Tensor embed(const std::vector<int>& ids) const {
    Tensor x = embed_tokens(ids, text_.embed_tokens, text_.eoi_embedding, config_.eoi_token_id);
    round_to_activation_dtype<Kernels>(x);  // hf-bf16: E[id] · bf16(√H) rounded
    return x;
  }

  // Vision path for one image: pixel_values [3, size·size] -> image features [T, H]
  // (T = mm_tokens_per_image). Observes vision.last_hidden_state and vision.projected.
  Tensor image_features(const Tensor& pixel_values, const Observer& observe = {}) const {
    check(has_vision_, "this checkpoint has no vision tower (encoder.vision_tower.* tensors)");
    const int size = config_.vision.image_size;
    check(pixel_values.rows == 3 && pixel_values.cols == size * size, [&] {
      return "pixel_values must be [3, " + std::to_string(size) + ", " + std::to_string(size) + "] for this model";
    });
    Tensor pixels = pixel_values;
    round_to_activation_dtype<Kernels>(pixels);  // hf-bf16: SigLIP casts pixel_values to the model dtype
    const Tensor states = vision_tower<Kernels>(pixels, vision_, config_.vision);
    observe("vision.last_hidden_state", states);
    Tensor features = project_image<Kernels>(states, vision_, config_);
    observe("vision.projected", features);
    return features;
  }

  // Encoder input: token embeddings with the image features written over the image-token
  // rows, images in order (docs/model.md §6). The image-token count must equal images × T.
  Tensor encoder_embeddings(const std::vector<int>& ids, const std::vector<Tensor>& images) const {
    Tensor x = embed(ids);
    std::vector<int> slots;
    for (int i = 0; i < int(ids.size()); ++i)
      if (ids[std::size_t(i)] == config_.image_token_id) slots.push_back(i);
    const std::size_t expected = images.size() * std::size_t(config_.mm_tokens_per_image);
    check(slots.size() == expected, [&] {
      return "the input has " + std::to_string(slots.size()) + " image tokens (id " + std::to_string(config_.image_token_id) +
             ") but " + std::to_string(images.size()) + " image(s) × " + std::to_string(config_.mm_tokens_per_image) +
             " tokens need " + std::to_string(expected);
    });
    for (std::size_t n = 0; n < slots.size(); ++n) {
      const Tensor& f = images[n / std::size_t(config_.mm_tokens_per_image)];
      const float* src = f.row(int(n % std::size_t(config_.mm_tokens_per_image)));
      std::copy(src, src + x.cols, x.row(slots[n]));
    }
    return x;
  }

  // Encoder on text ids: ids, key_valid [S] -> E [S, H]
  Tensor encode(const std::vector<int>& ids, const std::vector<uint8_t>& key_valid, const Observer& observe = {}) const {
    return encode_embeddings(embed(ids), key_valid, observe);
  }

  // Encoder on ready embeddings [S, H] (e.g. with image features merged). chunk_rows: rows per
  // chunk of the row-local work (encoder.hpp; any value gives the same bits).
  Tensor encode_embeddings(Tensor embeddings, const std::vector<uint8_t>& key_valid, const Observer& observe = {},
                           int chunk_rows = kEncoderChunkRows) const {
    check(int(key_valid.size()) == embeddings.rows, "encode: attention mask length differs from the number of tokens");
    return encoder_forward<Kernels>(std::move(embeddings), key_valid, text_.encoder, config_.encoder, encoder_rope_, observe,
                                   chunk_rows);
  }

  // Several sequences' encoder embeddings [S_b, H] with their padding masks -> their encoder
  // outputs. The F32 policy runs them as one stack of rows (encoder_forward_stacked: one pass
  // over the weights for all of them, each sequence's bits as if alone); the hf-bf16 policy runs
  // them one by one (PyTorch's kernels depend on the key list each sequence has on its own).
  // 64 texts of 16 tokens, 270m preset, bf16 weights, 2 threads: 64 texts/s in stacks of 512
  // rows vs 41 one by one (BM_EncodeShortTexts); `t5gemma2 embed` stacks its prompts.
  std::vector<Tensor> encode_many(const std::vector<Tensor>& embeddings, const std::vector<std::vector<uint8_t>>& key_valid) const {
    check(embeddings.size() == key_valid.size(), "encode_many: one padding mask per sequence");
    std::vector<Tensor> out;
    if (std::is_same_v<Precision, HfBf16> || embeddings.size() == 1) {
      for (std::size_t b = 0; b < embeddings.size(); ++b) out.push_back(encode_embeddings(embeddings[b], key_valid[b]));
      return out;
    }
    int rows = 0;
    for (std::size_t b = 0; b < embeddings.size(); ++b) {
      check(int(key_valid[b].size()) == embeddings[b].rows, "encode_many: a padding mask's length differs from its sequence");
      rows += embeddings[b].rows;
    }
    Tensor stacked(rows, config_.encoder.hidden_size);  // [Σ S_b, H]
    for (int b = 0, at = 0; b < int(embeddings.size()); at += embeddings[std::size_t(b)].rows, ++b) put_rows(stacked, at, embeddings[std::size_t(b)]);
    const Tensor all = encoder_forward_stacked<Kernels>(std::move(stacked), key_valid, text_.encoder, config_.encoder, encoder_rope_);
    for (int b = 0, at = 0; b < int(embeddings.size()); at += embeddings[std::size_t(b)].rows, ++b)
      out.push_back(row_range(all, at, at + embeddings[std::size_t(b)].rows));
    return out;
  }

  // Teacher-forced decoder: decoder ids [T] -> final hidden state [T, H]
  Tensor decode(const std::vector<int>& decoder_ids, const Tensor& encoder_output, const std::vector<uint8_t>& encoder_valid,
                const Observer& observe = {}) const {
    require_decoder();
    return decoder_forward<Kernels>(embed(decoder_ids), encoder_output, encoder_valid, text_.decoder, config_.decoder,
                                   decoder_rope_, observe);
  }

  void require_decoder() const {
    check(has_decoder_, "this model was loaded without its decoder (ModelParts::decoder = false): it can encode, not decode");
  }

  // [T, H] -> [T, V]
  Tensor logits(const Tensor& decoder_hidden) const {
    return lm_head<Kernels>(decoder_hidden, text_.embed_tokens, config_.decoder);
  }

 private:
  ModelConfig config_;
  Dims dims_;
  std::shared_ptr<Checkpoint> checkpoint_;  // owns the memory maps the weights point into
  TextWeights<W> text_;
  bool has_decoder_ = true;
  bool has_vision_ = false;
  VisionWeights<W> vision_;
  Rope encoder_rope_;
  Rope decoder_rope_;
};

// The reference configuration: sizes from config.json, f32 weights, scalar kernels.
using ReferenceModel = Model<RuntimeDims, float, ScalarTarget>;

T5GEMMA2_NAMESPACE_END
