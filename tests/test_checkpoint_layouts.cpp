// Every accepted checkpoint layout loads to the same model: shards, names with or without
// "model.", the nested encoder.text_model.* layout, stored tied copies, BF16/F16 files.
#include <filesystem>
#include <fstream>
#include <string>

#include "t5gemma2/dump.hpp"
#include "test_util.hpp"

using namespace t5gemma2;
namespace fs = std::filesystem;

template <class W = float>
static std::vector<float> tiny_a_logits(const std::string& dir) {
  const Model<RuntimeDims, W> model(dir);
  ArrayMap out;
  run_case(model, SafetensorsFile(test_data("tiny_a/golden.safetensors")), "text.", out);
  return out.at("text.logits").f32;
}

static std::string fresh_dir(const TempDir& tmp, const std::string& name) {
  const std::string d = tmp / name;
  fs::create_directories(d);
  fs::copy_file(test_data("tiny_a/config.json"), d + "/config.json");
  return d;
}

static std::vector<float> reference_logits() {
  static const std::vector<float> ref = tiny_a_logits(test_data("tiny_a"));
  return ref;
}

TEST_CASE("sharded checkpoint with model.safetensors.index.json") {
  TempDir tmp;
  const std::string d = fresh_dir(tmp, "sharded");
  const SafetensorsFile src(test_data("tiny_a/model.safetensors"));
  SafetensorsWriter a, b;
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (const TensorEntry& t : src.tensors()) {
    const bool first = t.name.find("decoder") == std::string::npos;
    (first ? a : b).add(t.name, t.dtype, t.shape, t.data);
    index["weight_map"][t.name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  a.write(d + "/model-00001-of-00002.safetensors");
  b.write(d + "/model-00002-of-00002.safetensors");
  std::ofstream(d + "/model.safetensors.index.json") << index.dump();
  CHECK(tiny_a_logits(d) == reference_logits());
}

TEST_CASE("names without 'model.', nested encoder.text_model.*, and stored tied copies") {
  TempDir tmp;
  const std::string d = fresh_dir(tmp, "renamed");
  const SafetensorsFile src(test_data("tiny_a/model.safetensors"));
  SafetensorsWriter w;
  for (const TensorEntry& t : src.tensors()) {
    std::string name = t.name.substr(6);  // drop "model."
    for (const std::string part : {"encoder.embed_tokens", "encoder.layers", "encoder.norm"})
      if (name.rfind(part, 0) == 0) name = "encoder.text_model." + name.substr(8);
    w.add(name, t.dtype, t.shape, t.data);
    if (t.name == "model.encoder.embed_tokens.weight") {
      w.add("decoder.embed_tokens.weight", t.dtype, t.shape, t.data);
      w.add("lm_head.out_proj.weight", t.dtype, t.shape, t.data);
    }
    if (t.name == "model.encoder.embed_tokens.eoi_embedding") w.add("decoder.embed_tokens.eoi_embedding", t.dtype, t.shape, t.data);
  }
  w.write(d + "/model.safetensors");
  CHECK(tiny_a_logits(d) == reference_logits());
}

// Writes tiny_a with every tensor converted to bf16 (or f16).
static void write_converted(const std::string& d, DType to) {
  const SafetensorsFile src(test_data("tiny_a/model.safetensors"));
  SafetensorsWriter w;
  for (const TensorEntry& t : src.tensors()) {
    const std::vector<float> f = to_f32_vector(t);
    std::vector<uint16_t> bits(f.size());
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (to == DType::BF16) {
        bits[i] = bf16_from_f32(f[i]).bits;
      } else {  // f16 via round-trip search is overkill here: values are small, use a simple RNE encode
        const float x = f[i];
        const uint32_t u = bits_from_f32(x);
        const uint32_t sign = (u >> 16) & 0x8000u;
        const float ax = std::fabs(x);
        if (ax < std::ldexp(1.0f, -14)) {  // subnormal half
          bits[i] = uint16_t(sign | uint32_t(std::nearbyint(ax * std::ldexp(1.0f, 24))));
        } else {
          int e;
          const float m = std::frexp(ax, &e);  // ax = m·2^e, m in [0.5, 1)
          uint32_t mant = uint32_t(std::nearbyint((m * 2 - 1) * 1024));
          int exp = e - 1 + 15;
          if (mant == 1024) { mant = 0; ++exp; }
          bits[i] = uint16_t(sign | uint32_t(exp) << 10 | mant);
        }
      }
    }
    w.add(t.name, to, t.shape, bits.data());
  }
  w.write(d + "/model.safetensors");
}

TEST_CASE("BF16 checkpoints: zero-copy bf16 weights equal bf16 widened to f32, bit for bit") {
  TempDir tmp;
  const std::string d = fresh_dir(tmp, "bf16");
  write_converted(d, DType::BF16);
  const std::vector<float> as_bf16 = tiny_a_logits<bf16_t>(d), as_f32 = tiny_a_logits<float>(d);
  CHECK(as_bf16 == as_f32);
  // bf16 weights move the logits a little, not a lot (|logits| <= 0.42 here).
  double max_diff = 0;
  const std::vector<float> ref = reference_logits();
  for (std::size_t i = 0; i < ref.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(ref[i] - as_f32[i])));
  CHECK(max_diff > 0);
  CHECK(max_diff < 2e-2);
}

TEST_CASE("F16 checkpoints load, converted on the fly") {
  TempDir tmp;
  const std::string d = fresh_dir(tmp, "f16");
  write_converted(d, DType::F16);
  const std::vector<float> got = tiny_a_logits(d), ref = reference_logits();
  double max_diff = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(ref[i] - got[i])));
  CHECK(max_diff < 2e-3);
}
