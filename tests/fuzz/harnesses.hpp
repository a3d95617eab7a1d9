// The fuzz harnesses: one function per input reader, fed arbitrary bytes. Each must return or
// throw t5gemma2::Error — any other outcome (crash, sanitizer report, hang, runaway memory) is
// a bug. Used by the libFuzzer targets (fuzz_<name>.cpp, tools/fuzz.sh) and by
// tests/test_fuzz_regressions.cpp, which replays the seed corpora and every input that once
// failed (tests/data/fuzz_regressions/<name>/) in the normal and the sanitizer builds.
//   T5GEMMA2_FUZZ_MODEL_DIR   a model directory with config.json and tokenizer.model (demo)
//   T5GEMMA2_FUZZ_CONFIG_DIR  a directory with config.json (tiny_a)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "t5gemma2/config.hpp"
#include "t5gemma2/dump.hpp"
#include "t5gemma2/image.hpp"
#include "t5gemma2/safetensors.hpp"
#include "t5gemma2/tokenizer.hpp"

#if !defined(T5GEMMA2_FUZZ_MODEL_DIR) || !defined(T5GEMMA2_FUZZ_CONFIG_DIR)
#error "define T5GEMMA2_FUZZ_MODEL_DIR (config.json + tokenizer.model) and T5GEMMA2_FUZZ_CONFIG_DIR (config.json)"
#endif

namespace t5gemma2_fuzz {

// the safetensors reader (header, offsets, tiling) and every dtype conversion.
inline void safetensors(const uint8_t* data, size_t size) {
  try {
    auto file = std::make_shared<t5gemma2::MappedFile>("fuzz.safetensors", std::vector<uint8_t>(data, data + size));
    const t5gemma2::SafetensorsFile f(file);
    for (const t5gemma2::TensorEntry& t : f.tensors()) {
      if (t.numel() > (1 << 16)) continue;  // the bytes are in the file: conversion is linear in them
      try {
        (void)t5gemma2::to_f32_vector(t);
      } catch (const t5gemma2::Error&) {
        (void)t5gemma2::to_i64_vector(t);
      }
    }
  } catch (const t5gemma2::Error&) {
  }
}

// config.json parsing (every key, bound and cross-check) and the generation_config.json defaults.
inline void config(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const t5gemma2::ModelConfig c = t5gemma2::parse_model_config(text);
    // What loading does next with a parsed config: the pooling geometry (0 without vision).
    (void)c.pool_kernel();
  } catch (const t5gemma2::Error&) {
  }
  const nlohmann::json g = nlohmann::json::parse(text, nullptr, false);
  if (!g.is_discarded() && g.is_object()) {
    try {
      (void)t5gemma2::config_detail::parse_generation_defaults(g, "generation_config.json");
    } catch (const t5gemma2::Error&) {
    }
  }
}

// image header probing, stb decoding and the PIL-exact preprocessing.
inline void image(const uint8_t* data, size_t size) {
  try {
    const t5gemma2::ImageRGB8 img = t5gemma2::decode_image(t5gemma2::Bytes(data, size), "fuzz.img");
    if (int64_t(img.width) * img.height <= (1 << 20)) (void)t5gemma2::preprocess_image(img, 32);
  } catch (const t5gemma2::Error&) {
  }
}

// the tokenizer front end (added tokens, SentencePiece, decode), the Gemma 3 image-prompt expansion, and the serialized-model reader that classifies pieces.
inline void tokenizer(const uint8_t* data, size_t size) {
  static const t5gemma2::ModelConfig c = t5gemma2::load_model_config(T5GEMMA2_FUZZ_MODEL_DIR);
  static const t5gemma2::Tokenizer tok = t5gemma2::load_tokenizer(T5GEMMA2_FUZZ_MODEL_DIR, c);
  if (size == 0) return;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] & 1) {  // the proto reader on arbitrary bytes
      (void)t5gemma2::tokenizer_detail::piece_types(text);
    } else {
      const std::size_t markers = t5gemma2::count_markers(text);
      const std::vector<int> ids = t5gemma2::encode_prompt(tok, c, text, markers > 8 ? 0 : markers);
      (void)tok.decode(ids, data[0] & 2);
    }
  } catch (const t5gemma2::Error&) {
  }
}

// the dump tool's input reader (ids, masks, decoder ids, pixel values and their assignment to image tokens).
inline void dump_inputs(const uint8_t* data, size_t size) {
  static const t5gemma2::ModelConfig c = t5gemma2::load_model_config(T5GEMMA2_FUZZ_CONFIG_DIR);
  try {
    auto file = std::make_shared<t5gemma2::MappedFile>("fuzz.safetensors", std::vector<uint8_t>(data, data + size));
    const t5gemma2::SafetensorsFile f(file);
    for (const char* prefix : {"text.", "mm."})
      if (f.find(std::string(prefix) + "encoder_input_ids")) (void)t5gemma2::read_case_inputs(f, prefix, c);
  } catch (const t5gemma2::Error&) {
  }
}

}  // namespace t5gemma2_fuzz
