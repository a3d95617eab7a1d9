// Weight memory: the estimate Model checks before loading (weight_memory.hpp), synthetic weights
// generated into the storage type without a second copy, and bf16 checkpoints mapped zero-copy
// (resident memory grows only with the pages a computation touches).
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/synthetic_weights.hpp"
#include "t5gemma2/t5gemma2.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

TEST_CASE("weight_count equals the tensors a checkpoint holds (tiny_a, without tied copies)") {
  const ModelConfig c = load_model_config(test_data("tiny_a"));
  const SafetensorsFile f(test_data("tiny_a/model.safetensors"));
  int64_t stored = 0;
  for (const TensorEntry& t : f.tensors()) {
    const std::string name = canonical_tensor_name(t.name);
    if (name.rfind("decoder.embed_tokens.", 0) == 0 || name.rfind("lm_head.", 0) == 0) continue;  // tied copies
    stored += t.numel();
  }
  const WeightCount n = weight_count(c, /*with_decoder=*/true, /*with_vision=*/true);
  CHECK(n.matrix + n.vector == stored);
  const WeightCount text = weight_count(c, true, false), encoder = weight_count(c, false, false);
  CHECK(text.matrix < n.matrix);
  CHECK(encoder.matrix < text.matrix);
}

TEST_CASE("4b-4b: f32 weights are refused before loading with the memory needed and available while bf16 fits") {
  const ModelConfig c = load_model_config(test_data("configs/4b-4b"));
  const WeightCount n = weight_count(c, true, true);
  const double machine = 24.0 * double(1u << 30);  // this project's machines
  INFO("4b-4b parameters: " << n.matrix + n.vector);
  REQUIRE_ERROR_MENTIONS(check_weights_fit(n.bytes(4), machine, "f32 weights", n.matrix + n.vector), "f32 weights", "GiB",
                         "24.0 GiB available", "bf16");
  CHECK_NOTHROW(check_weights_fit(n.bytes(2), machine, "bf16 weights", n.matrix + n.vector));
  CHECK(n.bytes(2) < 16.0 * double(1u << 30));
  // Through Model, with the machine's own MemAvailable: nothing is generated before the refusal.
  if (available_memory_bytes() < n.bytes(4)) {
    const double before = status_bytes("VmRSS:");
    REQUIRE_ERROR_MENTIONS((Model<Preset4b, float, HwyDynamicTarget>(c, synthetic_checkpoint(0, true))), "f32 weights", "GiB");
    CHECK(status_bytes("VmRSS:") - before < 64.0 * (1 << 20));
  }
}

#ifdef T5GEMMA2_FULL_SIZE_TESTS
TEST_CASE("270m synthetic weights as bf16: resident memory is the bf16 model, not f32 beside it") {
  const ModelConfig c = load_model_config(test_data("configs/270m-270m"));
  const WeightCount n = weight_count(c, true, true);
  const double before = status_bytes("VmRSS:");
  const Model<Preset270m, bf16_t, HwyDynamicTarget> m(c, synthetic_checkpoint(0, true));
  const double grown = status_bytes("VmRSS:") - before, want = n.bytes(2);
  INFO("resident growth " << grown / (1 << 20) << " MiB for " << want / (1 << 20) << " MiB of bf16 weights");
  CHECK(grown < want * 1.1 + 64.0 * (1 << 20));  // f32 kept beside bf16 would be ~3x
  CHECK(grown > want * 0.9);
}

TEST_CASE("a sharded bf16 checkpoint maps zero-copy: resident memory grows with the pages touched") {
  const ModelConfig c = load_model_config(test_data("configs/270m-270m"));
  TempDir dir;
  {  // the 270m preset's synthetic weights written as a bf16 checkpoint in the hub layout: two
     // shards (the encoder's layers in one, the rest in the other) and model.safetensors.index.json
    SafetensorsWriter shards[2];
    nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
    const auto record = [&](const std::string& name, const std::vector<int64_t>& shape) {
      std::vector<float> v = synthetic_tensor("model." + name, shape, 0);
      std::vector<bf16_t> b(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) b[i] = bf16_from_f32(v[i]);
      const int shard = name.rfind("encoder.layers.", 0) == 0 ? 0 : 1;
      shards[shard].add("model." + name, DType::BF16, shape, b.data());
      index["weight_map"]["model." + name] = "model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors";
      return v;
    };
    const Model<Preset270m, bf16_t, ScalarTarget> made(c, std::make_shared<Checkpoint>(record, std::vector<std::string>{}));
    for (int i = 0; i < 2; ++i) shards[i].write(dir / ("model-0000" + std::to_string(i + 1) + "-of-00002.safetensors"));
    std::ofstream(dir / "model.safetensors.index.json") << index.dump();
    std::filesystem::copy_file(test_data("configs/270m-270m/config.json"), dir / "config.json");
  }
  const WeightCount encoder = weight_count(c, /*with_decoder=*/false, /*with_vision=*/false);
  const double embed_table = double(c.encoder.vocab_size) * c.encoder.hidden_size * 2;
  const double encoder_layers = encoder.bytes(2) - embed_table;  // what an encode reads (plus a few rows)
  const double before = status_bytes("VmRSS:");
  const Model<Preset270m, bf16_t, HwyDynamicTarget> m(dir.path.string(), ModelParts{.decoder = false, .vision = false});
  const double loaded = status_bytes("VmRSS:") - before;
  std::vector<int> ids{2};
  for (int id : synthetic_token_stream("weight_memory", 63)) ids.push_back(id);
  const Tensor E = m.encode(ids, std::vector<uint8_t>(ids.size(), 1));
  const double encoded = status_bytes("VmRSS:") - before;
  INFO("after load " << loaded / (1 << 20) << " MiB, after a 64-token encode " << encoded / (1 << 20) << " MiB; encoder layers "
                     << encoder_layers / (1 << 20) << " MiB, whole file " << weight_count(c, true, true).bytes(2) / (1 << 20) << " MiB");
  CHECK(loaded < 128.0 * (1 << 20));                       // mapped, not read (the file is 1.5 GiB)
  CHECK(encoded > 0.9 * encoder_layers);                   // the encoder's weights were touched ...
  CHECK(encoded < encoder_layers + 128.0 * (1 << 20));     // ... and little else (64 embedding rows, activations)
  CHECK(E.rows == 64);
}
#endif
