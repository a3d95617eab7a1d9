// t5gemma2 — model configuration, read from a Hugging Face config.json.
//
// Two spellings are accepted for each text stack (encoder `encoder.text_config`, decoder
// `decoder`):
//   * transformers v5: `layer_types` and `rope_parameters` keyed by layer type;
//   * older Gemma 3 style: `rope_theta` (global layers), `rope_local_base_freq` (local layers),
//     `rope_scaling` ({rope_type|type: linear, factor}) and `sliding_window_pattern`
//     (layer i is global iff (i + 1) % pattern == 0) instead of `layer_types`.
// Every missing or malformed key raises Error naming its full path, e.g. "decoder.hidden_size".
#pragma once

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "t5gemma2/error.hpp"
#include "t5gemma2/file_io.hpp"

T5GEMMA2_NAMESPACE_BEGIN

enum class LayerType { kSliding, kFull };

inline const char* layer_type_name(LayerType t) {
  return t == LayerType::kSliding ? "sliding_attention" : "full_attention";
}

struct RopeParams {
  double theta = 10000.0;
  double linear_factor = 1.0;  // inv_freq is divided by this ("linear" scaling); 1 = none
};

struct TextConfig {
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  double query_pre_attn_scalar = 0;
  int sliding_window = 0;
  int max_position_embeddings = 0;  // 0: not given (no limit enforced)
  double rms_norm_eps = 1e-6;
  std::optional<double> attn_logit_softcapping;
  std::optional<double> final_logit_softcapping;
  std::vector<LayerType> layer_types;
  RopeParams rope_local;   // sliding_attention layers
  RopeParams rope_global;  // full_attention layers
};

struct VisionConfig {
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_channels = 3;
  int image_size = 0;
  int patch_size = 0;
  double layer_norm_eps = 1e-6;

  int patches_per_side() const { return patch_size > 0 ? image_size / patch_size : 0; }  // 0: no vision tower
  int num_patches() const { return patches_per_side() * patches_per_side(); }
  int head_dim() const { return num_heads > 0 ? hidden_size / num_heads : 0; }
};

// The decoding defaults of generation_config.json that we support (HF GenerationConfig names;
// generation_options.hpp says what they do). A command-line option overrides them.
struct GenerationDefaults {
  int max_new_tokens = 0;  // 0 when not given
  int num_beams = 1;
  int num_return_sequences = 1;
  double length_penalty = 1.0;
  std::string early_stopping = "false";  // "false", "true" or "never"
  double repetition_penalty = 1.0;
  int no_repeat_ngram_size = 0;
  int min_new_tokens = 0;
};

struct ModelConfig {
  TextConfig encoder;
  TextConfig decoder;
  VisionConfig vision;
  int mm_tokens_per_image = 256;
  int boi_token_id = 255999;
  int eoi_token_id = 256000;
  int image_token_id = 256001;
  int pad_token_id = 0;
  int bos_token_id = 2;
  int decoder_start_token_id = 2;
  std::vector<int> eos_token_ids{1};
  GenerationDefaults generation;  // generation_config.json
  bool tie_word_embeddings = true;

  // Side of the square average-pooling window that turns the patch grid into
  // mm_tokens_per_image tokens (4 for the released 64x64 grid -> 16x16 tokens).
  int pool_kernel() const {
    const int tokens_per_side = int(std::lround(std::sqrt(double(mm_tokens_per_image))));
    return tokens_per_side > 0 ? vision.patches_per_side() / tokens_per_side : 0;
  }
};

// Throws when images are given to a model without a vision tower, naming where they came from
// (a command-line option, say).
inline void check_takes_images(const ModelConfig& c, std::size_t images, const std::string& given_by) {
  if (images > 0 && c.vision.hidden_size <= 0)
    throw Error(given_by + ": this model has no vision tower (its config.json has no encoder.vision_config), so it takes no images");
}

namespace config_detail {

using json = nlohmann::json;

// Bounds on config.json sizes, far above every published model (T5Gemma 2 4b: hidden 2560,
// 34 layers, vocab 262144) and low enough that no product of them overflows an int64 count or
// a 32-bit row/column index: a corrupt or hostile config fails here, before any allocation.
inline constexpr int64_t kMaxConfigInt = int64_t(1) << 30;  // token ids and anything unlisted
inline constexpr int64_t kMaxVocab = int64_t(1) << 22;
inline constexpr int64_t kMaxWidth = int64_t(1) << 16;          // hidden_size
inline constexpr int64_t kMaxIntermediate = int64_t(1) << 18;
inline constexpr int64_t kMaxLayers = 512;
inline constexpr int64_t kMaxHeads = 1024;
inline constexpr int64_t kMaxHeadDim = 4096;
// sliding_window and max_position_embeddings: any value HF takes (a window wider than the input
// is no window); nothing is allocated from them, and 2^30 keeps every window bound q ± W/2 + 1
// inside an int.
inline constexpr int64_t kMaxPositions = kMaxConfigInt;
inline constexpr int64_t kMaxImageSize = 16384;
inline constexpr int64_t kMaxImageTokens = int64_t(1) << 20;   // patches, mm_tokens_per_image

struct Reader {
  const json& j;
  std::string path;  // e.g. "decoder." (with trailing dot) or "" at the top level

  std::string key(const std::string& k) const { return path + k; }
  bool has(const std::string& k) const { return j.contains(k) && !j[k].is_null(); }

  const json& at(const std::string& k) const {
    if (!has(k)) throw Error("config.json: missing key '" + key(k) + "'");
    return j[k];
  }
  // An integer in [0, max] (kMaxConfigInt unless a sane bound for the key is known: sizes are
  // checked before anything is allocated from them).
  int integer(const std::string& k, int64_t max = kMaxConfigInt) const {
    const json& v = at(k);
    if (!v.is_number_integer()) throw Error("config.json: '" + key(k) + "' must be an integer, got " + v.dump());
    // nlohmann keeps integers past 2^63 as unsigned: compare before narrowing.
    const bool too_big = v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(max) : v.get<int64_t>() > max;
    if (too_big || (!v.is_number_unsigned() && v.get<int64_t>() < 0))
      throw Error("config.json: '" + key(k) + "' = " + v.dump() + " is out of range [0, " + std::to_string(max) + "]");
    return int(v.get<int64_t>());
  }
  int integer_or(const std::string& k, int fallback, int64_t max = kMaxConfigInt) const {
    return has(k) ? integer(k, max) : fallback;
  }
  std::string string(const std::string& k) const {
    const json& v = at(k);
    if (!v.is_string()) throw Error("config.json: '" + key(k) + "' must be a string, got " + v.dump());
    return v.get<std::string>();
  }
  double number(const std::string& k) const {
    const json& v = at(k);
    if (!v.is_number()) throw Error("config.json: '" + key(k) + "' must be a number");
    return v.get<double>();
  }
  double number_or(const std::string& k, double fallback) const { return has(k) ? number(k) : fallback; }
  std::optional<double> optional_number(const std::string& k) const {
    if (!has(k)) return std::nullopt;
    return number(k);
  }
  Reader child(const std::string& k) const {
    const json& v = at(k);
    if (!v.is_object()) throw Error("config.json: '" + key(k) + "' must be an object");
    return Reader{v, key(k) + "."};
  }
};

inline void positive(const Reader& r, const std::string& k, double v) {
  if (!(v > 0)) throw Error("config.json: '" + r.key(k) + "' must be positive");
}

// The scaling type of a RoPE entry: "rope_type" (v5) or "type" (older), "default" when absent.
inline std::string rope_type(const Reader& r) {
  return r.has("rope_type") ? r.string("rope_type") : r.has("type") ? r.string("type") : "default";
}

// One rope_parameters entry: {"rope_type": "default"|"linear", "rope_theta": x, "factor": f}.
inline RopeParams parse_rope_entry(const Reader& r) {
  RopeParams p;
  p.theta = r.number("rope_theta");
  const std::string type = rope_type(r);
  if (type == "linear") {
    p.linear_factor = r.number("factor");
  } else if (type != "default") {
    throw Error("config.json: '" + r.key("rope_type") + "' = '" + type + "' is not supported (default or linear)");
  }
  positive(r, "rope_theta", p.theta);
  positive(r, "factor", p.linear_factor);
  return p;
}

// A setting implemented for one value only: absent or that value, else an error naming the key —
// a checkpoint whose config asks for something else must not run as a different model.
inline void require_value(const Reader& r, const std::string& k, const nlohmann::json& supported, const char* why) {
  if (!r.has(k) || r.at(k) == supported) return;
  throw Error("config.json: '" + r.key(k) + "' = " + r.at(k).dump() + " is not supported (only " + supported.dump() + ": " + why + ")");
}

inline TextConfig parse_text(const Reader& r) {
  require_value(r, "hidden_activation", "gelu_pytorch_tanh", "the MLP's GELU is the tanh approximation");
  require_value(r, "attention_bias", false, "the attention projections have no biases");
  TextConfig c;
  c.vocab_size = r.integer("vocab_size", kMaxVocab);
  c.hidden_size = r.integer("hidden_size", kMaxWidth);
  c.intermediate_size = r.integer("intermediate_size", kMaxIntermediate);
  c.num_layers = r.integer("num_hidden_layers", kMaxLayers);
  c.num_heads = r.integer("num_attention_heads", kMaxHeads);
  c.num_kv_heads = r.integer_or("num_key_value_heads", c.num_heads, kMaxHeads);
  c.head_dim = r.integer_or("head_dim", c.num_heads ? c.hidden_size / c.num_heads : 0, kMaxHeadDim);
  if (c.head_dim <= 0)
    throw Error("config.json: '" + r.key("head_dim") + "' must be positive (when absent it is hidden_size / num_attention_heads = " +
                std::to_string(c.hidden_size) + " / " + std::to_string(c.num_heads) + ")");
  if (c.head_dim > kMaxHeadDim)
    throw Error("config.json: '" + r.key("head_dim") + "' = " + std::to_string(c.head_dim) + " is out of range [1, " +
                std::to_string(kMaxHeadDim) + "]");
  c.query_pre_attn_scalar = r.number_or("query_pre_attn_scalar", c.head_dim);
  c.sliding_window = r.integer("sliding_window", kMaxPositions);
  c.max_position_embeddings = r.integer_or("max_position_embeddings", 0, kMaxPositions);
  c.rms_norm_eps = r.number_or("rms_norm_eps", 1e-6);
  c.attn_logit_softcapping = r.optional_number("attn_logit_softcapping");
  c.final_logit_softcapping = r.optional_number("final_logit_softcapping");
  for (auto [k, v] : {std::pair{"vocab_size", c.vocab_size}, std::pair{"hidden_size", c.hidden_size},
                      std::pair{"intermediate_size", c.intermediate_size}, std::pair{"num_hidden_layers", c.num_layers},
                      std::pair{"num_attention_heads", c.num_heads}, std::pair{"num_key_value_heads", c.num_kv_heads},
                      std::pair{"sliding_window", c.sliding_window}})
    positive(r, k, v);
  positive(r, "query_pre_attn_scalar", c.query_pre_attn_scalar);
  positive(r, "rms_norm_eps", c.rms_norm_eps);
  if (c.attn_logit_softcapping) positive(r, "attn_logit_softcapping", *c.attn_logit_softcapping);
  if (c.final_logit_softcapping) positive(r, "final_logit_softcapping", *c.final_logit_softcapping);
  if (c.num_heads % c.num_kv_heads != 0)
    throw Error("config.json: '" + r.key("num_attention_heads") + "' (" + std::to_string(c.num_heads) +
                ") is not a multiple of '" + r.key("num_key_value_heads") + "' (" + std::to_string(c.num_kv_heads) + ")");
  if (c.head_dim % 2 != 0) throw Error("config.json: '" + r.key("head_dim") + "' must be even (RoPE pairs)");

  // Layer types.
  if (r.has("layer_types")) {
    const auto& lt = r.at("layer_types");
    if (!lt.is_array()) throw Error("config.json: '" + r.key("layer_types") + "' must be an array");
    for (const auto& t : lt) {
      const std::string s = t.is_string() ? t.get<std::string>() : "";
      if (s == "sliding_attention") c.layer_types.push_back(LayerType::kSliding);
      else if (s == "full_attention") c.layer_types.push_back(LayerType::kFull);
      else throw Error("config.json: '" + r.key("layer_types") + "' has unknown entry '" + t.dump() + "'");
    }
    if (int(c.layer_types.size()) != c.num_layers)
      throw Error("config.json: '" + r.key("layer_types") + "' has " + std::to_string(c.layer_types.size()) +
                  " entries but num_hidden_layers is " + std::to_string(c.num_layers));
  } else {
    const int pattern = r.has("sliding_window_pattern") ? r.integer("sliding_window_pattern", kMaxLayers)
                                                        : r.integer_or("_sliding_window_pattern", 6, kMaxLayers);
    positive(r, "sliding_window_pattern", pattern);
    for (int i = 0; i < c.num_layers; ++i)
      c.layer_types.push_back((i + 1) % pattern == 0 ? LayerType::kFull : LayerType::kSliding);
  }

  // RoPE.
  if (r.has("rope_parameters")) {
    const Reader rp = r.child("rope_parameters");
    c.rope_local = parse_rope_entry(rp.child("sliding_attention"));
    c.rope_global = parse_rope_entry(rp.child("full_attention"));
  } else {
    c.rope_global.theta = r.number_or("rope_theta", 1000000.0);
    c.rope_local.theta = r.number_or("rope_local_base_freq", 10000.0);
    if (r.has("rope_scaling")) {
      const Reader rs = r.child("rope_scaling");
      const std::string type = rope_type(rs);
      if (type != "linear")
        throw Error("config.json: '" + rs.key("rope_type") + "' = '" + type + "' is not supported (linear)");
      c.rope_global.linear_factor = rs.number("factor");
      positive(rs, "factor", c.rope_global.linear_factor);
    }
    positive(r, "rope_theta", c.rope_global.theta);
    positive(r, "rope_local_base_freq", c.rope_local.theta);
  }
  return c;
}

inline VisionConfig parse_vision(const Reader& r) {
  require_value(r, "hidden_act", "gelu_pytorch_tanh", "SigLIP's MLP GELU is the tanh approximation");
  require_value(r, "vision_use_head", false, "T5Gemma 2 reads SigLIP's last hidden state, without its pooling head");
  VisionConfig v;
  v.hidden_size = r.integer("hidden_size", kMaxWidth);
  v.intermediate_size = r.integer("intermediate_size", kMaxIntermediate);
  v.num_layers = r.integer("num_hidden_layers", kMaxLayers);
  v.num_heads = r.integer("num_attention_heads", kMaxHeads);
  v.num_channels = r.integer_or("num_channels", 3, 16);
  v.image_size = r.integer("image_size", kMaxImageSize);
  v.patch_size = r.integer("patch_size", kMaxImageSize);
  v.layer_norm_eps = r.number_or("layer_norm_eps", 1e-6);
  for (auto [k, x] : {std::pair{"hidden_size", v.hidden_size}, std::pair{"intermediate_size", v.intermediate_size},
                      std::pair{"num_hidden_layers", v.num_layers}, std::pair{"num_attention_heads", v.num_heads},
                      std::pair{"image_size", v.image_size}, std::pair{"patch_size", v.patch_size}})
    positive(r, k, x);
  positive(r, "layer_norm_eps", v.layer_norm_eps);
  if (v.num_channels != 3) throw Error("config.json: '" + r.key("num_channels") + "' must be 3 (RGB)");
  if (v.hidden_size % v.num_heads != 0)
    throw Error("config.json: '" + r.key("hidden_size") + "' is not a multiple of '" + r.key("num_attention_heads") + "'");
  if (v.image_size % v.patch_size != 0)
    throw Error("config.json: '" + r.key("image_size") + "' is not a multiple of '" + r.key("patch_size") + "'");
  if (int64_t(v.patches_per_side()) * v.patches_per_side() > kMaxImageTokens)
    throw Error("config.json: '" + r.key("image_size") + "' / '" + r.key("patch_size") + "' gives " +
                std::to_string(int64_t(v.patches_per_side()) * v.patches_per_side()) + " patches, more than " +
                std::to_string(kMaxImageTokens));
  return v;
}

// A token id or a list of them (eos_token_id), each in [0, 2^30]. `file` names the file.
inline std::vector<int> parse_id_list(const json& v, const std::string& key, const std::string& file = "config.json") {
  std::vector<int> ids;
  const auto one = [&](const json& x) {
    const bool ok = x.is_number_integer() && (x.is_number_unsigned() ? x.get<uint64_t>() <= uint64_t(kMaxConfigInt)
                                                                     : x.get<int64_t>() >= 0 && x.get<int64_t>() <= kMaxConfigInt);
    if (!ok)
      throw Error(file + ": '" + key + "' holds " + x.dump() + ", not a token id in [0, " + std::to_string(kMaxConfigInt) + "]");
    ids.push_back(int(x.get<int64_t>()));
  };
  if (v.is_array()) {
    if (v.empty() || v.size() > 1024) throw Error(file + ": '" + key + "' must list 1 to 1024 token ids");
    for (const auto& x : v) one(x);
  } else {
    one(v);
  }
  return ids;
}

// An integer key of generation_config.json in [lo, hi]; null or absent: `fallback`.
inline int generation_int(const json& g, const char* key, int lo, int hi, int fallback, const std::string& file) {
  if (!g.contains(key) || g[key].is_null()) return fallback;
  const json& v = g[key];
  const bool integral = v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  const double x = v.is_number() ? v.get<double>() : 0.0;
  if (!integral || x < lo || x > hi)
    throw Error(file + ": '" + key + "' must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
  return int(x);
}

inline double generation_number(const json& g, const char* key, double lo, double hi, double fallback, const std::string& file) {
  if (!g.contains(key) || g[key].is_null()) return fallback;
  const json& v = g[key];
  if (!v.is_number() || !(v.get<double>() >= lo && v.get<double>() <= hi))
    throw Error(file + ": '" + key + "' must be a number in [" + json(lo).dump() + ", " + json(hi).dump() + "], got " + v.dump());
  return v.get<double>();
}

inline GenerationDefaults parse_generation_defaults(const json& g, const std::string& file) {
  GenerationDefaults d;
  d.max_new_tokens = generation_int(g, "max_new_tokens", 1, 1 << 20, 0, file);
  d.num_beams = generation_int(g, "num_beams", 1, 1024, 1, file);
  d.num_return_sequences = generation_int(g, "num_return_sequences", 1, d.num_beams, 1, file);
  d.length_penalty = generation_number(g, "length_penalty", -1e6, 1e6, 1.0, file);
  d.repetition_penalty = generation_number(g, "repetition_penalty", 1e-6, 1e6, 1.0, file);
  d.no_repeat_ngram_size = generation_int(g, "no_repeat_ngram_size", 0, 1 << 20, 0, file);
  d.min_new_tokens = generation_int(g, "min_new_tokens", 0, 1 << 20, 0, file);
  if (g.contains("early_stopping") && !g["early_stopping"].is_null()) {
    const json& v = g["early_stopping"];
    if (v.is_boolean()) d.early_stopping = v.get<bool>() ? "true" : "false";
    else if (v.is_string() && v.get<std::string>() == "never") d.early_stopping = "never";
    else throw Error(file + ": 'early_stopping' must be true, false or \"never\", got " + v.dump());
  }
  return d;
}

}  // namespace config_detail

inline ModelConfig parse_model_config_json(const std::string& text);

// Parses the JSON text of a T5Gemma 2 config.json. Throws Error naming the bad key.
inline ModelConfig parse_model_config(const std::string& text) {
  try {
    return parse_model_config_json(text);
  } catch (const nlohmann::json::exception& e) {  // a value of an unexpected JSON type
    throw Error(std::string("config.json: a value has an unexpected JSON type (") + e.what() + ")");
  }
}

inline ModelConfig parse_model_config_json(const std::string& text) {
  using config_detail::Reader;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw Error("config.json: not a valid JSON object");
  const Reader top{j, ""};
  ModelConfig m;
  const Reader enc = top.child("encoder");
  m.encoder = config_detail::parse_text(enc.child("text_config"));
  m.decoder = config_detail::parse_text(top.child("decoder"));
  if (enc.has("vision_config")) m.vision = config_detail::parse_vision(enc.child("vision_config"));

  auto id = [&](const char* k, int fallback) {
    return enc.has(k) ? enc.integer(k) : top.integer_or(k, fallback);
  };
  m.mm_tokens_per_image = enc.has("mm_tokens_per_image") ? enc.integer("mm_tokens_per_image", config_detail::kMaxImageTokens)
                                                         : top.integer_or("mm_tokens_per_image", 256, config_detail::kMaxImageTokens);
  m.boi_token_id = id("boi_token_index", 255999);
  m.eoi_token_id = id("eoi_token_index", 256000);
  m.image_token_id = id("image_token_index", 256001);
  m.pad_token_id = top.integer_or("pad_token_id", 0);
  m.bos_token_id = top.integer_or("bos_token_id", 2);
  m.decoder_start_token_id = top.integer_or("decoder_start_token_id", m.bos_token_id);
  if (top.has("eos_token_id")) m.eos_token_ids = config_detail::parse_id_list(j["eos_token_id"], "eos_token_id");
  if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"].is_boolean())
    m.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();

  // Architecture rules of T5Gemma 2 (HF rejects these configurations too).
  if (m.encoder.hidden_size != m.decoder.hidden_size)
    throw Error("config.json: encoder.text_config.hidden_size (" + std::to_string(m.encoder.hidden_size) +
                ") differs from decoder.hidden_size (" + std::to_string(m.decoder.hidden_size) + ")");
  if (m.encoder.vocab_size != m.decoder.vocab_size)
    throw Error("config.json: encoder.text_config.vocab_size differs from decoder.vocab_size");
  if (!m.tie_word_embeddings) throw Error("config.json: tie_word_embeddings = false is not supported by T5Gemma 2");
  for (auto [name, value] : {std::pair{"boi_token_index", m.boi_token_id}, std::pair{"eoi_token_index", m.eoi_token_id},
                             std::pair{"image_token_index", m.image_token_id}, std::pair{"pad_token_id", m.pad_token_id},
                             std::pair{"bos_token_id", m.bos_token_id},
                             std::pair{"decoder_start_token_id", m.decoder_start_token_id}}) {
    if (value < 0 || value >= m.encoder.vocab_size)
      throw Error(std::string("config.json: '") + name + "' = " + std::to_string(value) + " is outside the vocabulary (vocab_size " +
                  std::to_string(m.encoder.vocab_size) + ")");
  }
  for (int e : m.eos_token_ids)
    if (e >= m.encoder.vocab_size)
      throw Error("config.json: 'eos_token_id' " + std::to_string(e) + " is outside the vocabulary (vocab_size " +
                  std::to_string(m.encoder.vocab_size) + ")");
  if (m.vision.hidden_size > 0) {
    const int side = int(std::lround(std::sqrt(double(m.mm_tokens_per_image))));
    if (m.mm_tokens_per_image <= 0 || side * side != m.mm_tokens_per_image || m.vision.patches_per_side() % side != 0)
      throw Error("config.json: 'mm_tokens_per_image' = " + std::to_string(m.mm_tokens_per_image) +
                  " must be a square whose side divides the patch grid side (" +
                  std::to_string(m.vision.patches_per_side()) + ")");
  }
  return m;
}

// Largest config.json / generation_config.json accepted (published ones are a few KiB).
inline constexpr std::size_t kMaxConfigBytes = std::size_t(16) << 20;

// A whole (regular, at most kMaxConfigBytes) text file.
inline std::string read_text_file(const std::string& path) { return read_regular_file(path, kMaxConfigBytes, "file"); }

// Reads DIR/config.json, and DIR/generation_config.json when present (its eos_token_id list and
// decoder_start_token_id take precedence, as in HF generation).
inline ModelConfig load_model_config(const std::string& dir) {
  ModelConfig m;
  const std::string text = read_regular_file(dir + "/config.json", kMaxConfigBytes, "config");
  try {
    m = parse_model_config(text);
  } catch (const Error& e) {
    throw Error(dir + "/" + e.what());
  }
  const std::string gen_path = dir + "/generation_config.json";
  if (path_exists(gen_path)) {
    const nlohmann::json g = nlohmann::json::parse(read_regular_file(gen_path, kMaxConfigBytes, "generation config"), nullptr, false);
    if (g.is_discarded() || !g.is_object()) throw Error(gen_path + ": not a valid JSON object");
    const auto id_in_vocab = [&](int id, const char* key) {
      if (id >= m.decoder.vocab_size)
        throw Error(gen_path + ": '" + key + "' " + std::to_string(id) + " is outside the vocabulary (vocab_size " +
                    std::to_string(m.decoder.vocab_size) + ")");
      return id;
    };
    if (g.contains("eos_token_id") && !g["eos_token_id"].is_null()) {
      m.eos_token_ids = config_detail::parse_id_list(g["eos_token_id"], "eos_token_id", gen_path);
      for (int e : m.eos_token_ids) id_in_vocab(e, "eos_token_id");
    }
    if (g.contains("decoder_start_token_id") && !g["decoder_start_token_id"].is_null())
      m.decoder_start_token_id =
          id_in_vocab(config_detail::parse_id_list(g["decoder_start_token_id"], "decoder_start_token_id", gen_path).front(),
                      "decoder_start_token_id");
    m.generation = config_detail::parse_generation_defaults(g, gen_path);
  }
  return m;
}

T5GEMMA2_NAMESPACE_END
