// t5gemma2 — model size, the first template axis: a CHECKED CONTRACT, not a code generator.
//
// A Dims type states which sizes a Model accepts. The presets hold them as `static constexpr`
// members (vocab, hidden, ...: config.json's vocab_size, hidden_size, ...) and Model's constructor checks, before any weight is read,
// that config.json has exactly those sizes, naming the first key that differs; RuntimeDims
// accepts any config.json (the tiny test configs and the demo model use it) and only checks
// that encoder and decoder agree. No layer or kernel reads a Dims: every size comes from
// config.json at run time, so Model<Preset270m, ...> computes the same bits at the same speed
// as Model<RuntimeDims, ...> on a 270m checkpoint. Why the sizes are not compile-time constants
// in the kernels: docs/architecture.md, "The size axis".
//
//   Preset270m / Preset1b / Preset4b : docs/model.md §1 (the 1b and 4b sizes were inferred from
//                                      Gemma 3, not read from released checkpoints)
//   RuntimeDims                      : any config.json
#pragma once

#include <string>

#include "t5gemma2/config.hpp"

T5GEMMA2_NAMESPACE_BEGIN

template <int kVocab, int kHidden, int kIntermediate, int kLayers, int kHeads, int kKvHeads, int kWindow>
struct FixedDims {
  static constexpr bool kRuntime = false;
  static constexpr int vocab = kVocab;
  static constexpr int hidden = kHidden;
  static constexpr int intermediate = kIntermediate;
  static constexpr int encoder_layers = kLayers;
  static constexpr int decoder_layers = kLayers;
  static constexpr int heads = kHeads;
  static constexpr int kv_heads = kKvHeads;
  static constexpr int head_dim = 256;
  static constexpr int sliding_window = kWindow;

  // Checks that a config.json describes exactly this preset; names the first mismatch.
  static FixedDims from_config(const ModelConfig& c) {
    auto expect = [](const char* key, int got, int want) {
      if (got != want)
        throw Error("config.json: '" + std::string(key) + "' = " + std::to_string(got) + " but the compiled preset has " +
                    std::to_string(want) + " (use RuntimeDims for other sizes)");
    };
    for (const TextConfig* t : {&c.encoder, &c.decoder}) {
      const bool enc = t == &c.encoder;
      auto key = [&](const char* k) { return (enc ? std::string("encoder.text_config.") : std::string("decoder.")) + k; };
      expect(key("vocab_size").c_str(), t->vocab_size, vocab);
      expect(key("hidden_size").c_str(), t->hidden_size, hidden);
      expect(key("intermediate_size").c_str(), t->intermediate_size, intermediate);
      expect(key("num_hidden_layers").c_str(), t->num_layers, kLayers);
      expect(key("num_attention_heads").c_str(), t->num_heads, heads);
      expect(key("num_key_value_heads").c_str(), t->num_kv_heads, kv_heads);
      expect(key("head_dim").c_str(), t->head_dim, head_dim);
      expect(key("sliding_window").c_str(), t->sliding_window, sliding_window);
    }
    return {};
  }
};

using Preset270m = FixedDims<262144, 640, 2048, 18, 4, 1, 512>;
using Preset1b = FixedDims<262144, 1152, 6912, 26, 4, 1, 512>;
using Preset4b = FixedDims<262144, 2560, 10240, 34, 8, 4, 1024>;

struct RuntimeDims {
  static constexpr bool kRuntime = true;
  int vocab = 0;
  int hidden = 0;
  int intermediate = 0;
  int encoder_layers = 0;
  int decoder_layers = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int sliding_window = 0;

  static RuntimeDims from_config(const ModelConfig& c) {
    auto same = [](const char* key, int e, int d) {
      if (e != d)
        throw Error(std::string("config.json: encoder.text_config.") + key + " (" + std::to_string(e) + ") and decoder." +
                    key + " (" + std::to_string(d) + ") differ; T5Gemma 2 stacks share their sizes");
    };
    same("intermediate_size", c.encoder.intermediate_size, c.decoder.intermediate_size);
    same("num_attention_heads", c.encoder.num_heads, c.decoder.num_heads);
    same("num_key_value_heads", c.encoder.num_kv_heads, c.decoder.num_kv_heads);
    same("head_dim", c.encoder.head_dim, c.decoder.head_dim);
    same("sliding_window", c.encoder.sliding_window, c.decoder.sliding_window);
    RuntimeDims d;
    d.vocab = c.decoder.vocab_size;
    d.hidden = c.decoder.hidden_size;
    d.intermediate = c.decoder.intermediate_size;
    d.encoder_layers = c.encoder.num_layers;
    d.decoder_layers = c.decoder.num_layers;
    d.heads = c.decoder.num_heads;
    d.kv_heads = c.decoder.num_kv_heads;
    d.head_dim = c.decoder.head_dim;
    d.sliding_window = c.decoder.sliding_window;
    return d;
  }
};

T5GEMMA2_NAMESPACE_END
