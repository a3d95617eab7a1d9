// The synthetic weight generator against the synth-weights-v1 test vectors (synthetic_weights.hpp).
#include <cstring>
#include <string>
#include <vector>

#include "t5gemma2/synthetic_weights.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

TEST_CASE("hash helpers match the synth-weights-v1 test vectors") {
  CHECK(splitmix64(0) == 0xe220a8397b1dcdafull);
  CHECK(splitmix64(1) == 0x910a2dec89025cc1ull);
  CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
}

TEST_CASE("the 12 test vectors of synth-weights-v1, bit for bit") {
  struct Vector {
    const char* name;
    std::vector<int64_t> shape;
    uint64_t seed, index, fnv, key;
    uint32_t bits;
  };
  const std::string v = "model.encoder.vision_tower.vision_model.";
  const std::vector<Vector> vectors{
      {"model.encoder.embed_tokens.weight", {262144, 640}, 0, 0, 0x0b3832a04b7e6298, 0xe9189a993063af37, 0x3bce89a3},
      {"model.encoder.embed_tokens.weight", {262144, 640}, 0, 167772159, 0x0b3832a04b7e6298, 0xe9189a993063af37, 0x3aff59d0},
      {"model.encoder.embed_tokens.eoi_embedding", {640}, 0, 639, 0xb372da508252a171, 0x51527269f94f6cde, 0x3e763b38},
      {"model.encoder.layers.0.self_attn.q_proj.weight", {1024, 640}, 0, 12345, 0x757ad887ccc511ad, 0x975a70beb7d8dc02, 0x3d1adf76},
      {"model.decoder.layers.17.mlp.down_proj.weight", {640, 2048}, 0, 1310719, 0x7d46d7a47276aaab, 0x9f667f9d096b6704, 0x3ad242ea},
      {"model.decoder.layers.5.self_attn.k_norm.weight", {256}, 0, 7, 0x2151deb9ccacca4b, 0xc3717680b7b107e4, 0x3eb1c2cc},
      {"model.encoder.norm.weight", {640}, 1, 100, 0xd4e4a5b6b4c55912, 0x45ee885a3dc705d3, 0xbe007b34},
      {"model.encoder.multi_modal_projector.mm_input_projection_weight", {1152, 640}, 0, 737279, 0xb4e4a466fb15f9c4,
       0x56c40c5f8008346b, 0xbce474c6},
      {"model.encoder.vision_tower.vision_model.encoder.layers.26.layer_norm2.weight", {1152}, 0, 1151, 0x777f9f55b5f43546,
       0x955f376ccee9f8e9, 0x3f6da944},
      {"model.encoder.vision_tower.vision_model.embeddings.patch_embedding.weight", {1152, 3, 14, 14}, 7, 200000,
       0x96e611b83f304cec, 0xf52df05c6602413b, 0x3d087832},
      {"model.encoder.vision_tower.vision_model.encoder.layers.3.mlp.fc1.bias", {4304}, 0, 4303, 0x041a6e5a58eb06a7,
       0xe63ac66323f6cb08, 0xbd94b3b2},
      {"model.encoder.vision_tower.vision_model.embeddings.position_embedding.weight", {4096, 1152}, 18446744073709551615ull,
       4718591, 0x88edfbb3930e97db, 0x6c348ac4886bbbfb, 0xbe937134},
  };
  for (const Vector& t : vectors) {
    INFO(t.name << " [" << t.index << "]");
    CHECK(fnv1a64(t.name) == t.fnv);
    const uint64_t key = fnv1a64(t.name) ^ splitmix64(t.seed);
    CHECK(key == t.key);
    const SyntheticRule r = synthetic_rule(t.name, t.shape);
    const float value = synthetic_value(key, t.index, r.scale, r.offset);
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    CHECK(bits == t.bits);
  }
}

TEST_CASE("unknown tensor names fail loudly") {
  REQUIRE_ERROR_MENTIONS(synthetic_rule("model.encoder.layers.0.self_attn.q_proj.bias", {640}), "no rule",
                         "q_proj.bias");
}
