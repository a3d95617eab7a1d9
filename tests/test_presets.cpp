// The compile-time size presets against the published configs, and the runtime dims.
#include <filesystem>

#include "t5gemma2/model.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

static_assert(Preset270m::hidden == 640 && Preset270m::encoder_layers == 18 && Preset270m::kv_heads == 1);
static_assert(Preset1b::hidden == 1152 && Preset1b::intermediate == 6912 && Preset1b::decoder_layers == 26);
static_assert(Preset4b::hidden == 2560 && Preset4b::heads == 8 && Preset4b::sliding_window == 1024);

static ModelConfig preset_config(const std::string& name) {
  return parse_model_config(read_text_file(test_data("configs/" + name + "/config.json")));
}

TEST_CASE("each preset accepts its own config.json and rejects the others, naming the key") {
  CHECK_NOTHROW(Preset270m::from_config(preset_config("270m-270m")));
  CHECK_NOTHROW(Preset1b::from_config(preset_config("1b-1b")));
  CHECK_NOTHROW(Preset4b::from_config(preset_config("4b-4b")));
  REQUIRE_ERROR_MENTIONS(Preset270m::from_config(preset_config("1b-1b")), "encoder.text_config.hidden_size", "1152", "640");
  REQUIRE_ERROR_MENTIONS(Preset4b::from_config(preset_config("270m-270m")), "hidden_size");
}

TEST_CASE("preset configs parse to the values of docs/model.md §1") {
  const ModelConfig c = preset_config("270m-270m");
  CHECK(c.decoder.layer_types.size() == 18);
  CHECK(c.decoder.layer_types[5] == LayerType::kFull);
  CHECK(c.decoder.layer_types[4] == LayerType::kSliding);
  CHECK(c.decoder.rope_global.theta == 1e6);
  CHECK(c.decoder.rope_global.linear_factor == 8.0);
  CHECK(c.decoder.rope_local.theta == 1e4);
  CHECK(c.image_token_id == 256001);
  CHECK(c.eoi_token_id == 256000);
  CHECK(c.boi_token_id == 255999);
  CHECK(c.mm_tokens_per_image == 256);
  CHECK(c.pool_kernel() == 4);
  CHECK(c.vision.num_patches() == 4096);
}

TEST_CASE("a preset model refuses a checkpoint of another size before reading weights") {
  using Model270m = Model<Preset270m, bf16_t>;
  REQUIRE_ERROR_MENTIONS(Model270m(test_data("tiny_a")), "compiled preset");
  // The right config passes the size check and fails only for the missing weights.
  TempDir tmp;
  std::filesystem::copy_file(test_data("configs/270m-270m/config.json"), tmp / "config.json");
  REQUIRE_ERROR_MENTIONS(Model270m(tmp.path.string()), "no model.safetensors");
}

TEST_CASE("runtime dims: encoder and decoder may differ in depth only") {
  const RuntimeDims d = RuntimeDims::from_config(load_model_config(test_data("tiny_b")));
  CHECK(d.encoder_layers == 3);
  CHECK(d.decoder_layers == 4);
  CHECK(d.hidden == 64);
  CHECK(d.head_dim == 16);
}

TEST_CASE("Gemma 3 style config keys (rope_theta, rope_local_base_freq, rope_scaling, sliding_window_pattern)") {
  nlohmann::json j = nlohmann::json::parse(read_text_file(test_data("tiny_a/config.json")));
  for (auto* t : {&j["decoder"], &j["encoder"]["text_config"]}) {
    t->erase("layer_types");
    t->erase("rope_parameters");
    (*t)["rope_theta"] = 1000000.0;
    (*t)["rope_local_base_freq"] = 10000.0;
    (*t)["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
    (*t)["sliding_window_pattern"] = 3;
  }
  const ModelConfig c = parse_model_config(j.dump());
  const ModelConfig v5 = parse_model_config(read_text_file(test_data("tiny_a/config.json")));
  CHECK(c.decoder.rope_global.theta == v5.decoder.rope_global.theta);
  CHECK(c.decoder.rope_global.linear_factor == v5.decoder.rope_global.linear_factor);
  CHECK(c.decoder.rope_local.theta == v5.decoder.rope_local.theta);
  CHECK(c.decoder.rope_local.linear_factor == 1.0);
  const std::vector<LayerType> expected{LayerType::kSliding, LayerType::kSliding, LayerType::kFull,
                                        LayerType::kSliding, LayerType::kSliding, LayerType::kFull};
  CHECK(c.decoder.layer_types == expected);
}

TEST_CASE("a 4b config that differs from what we implement fails naming the key, not as another model") {
  const nlohmann::json base = nlohmann::json::parse(read_text_file(test_data("configs/4b-4b/config.json")));
  const auto with = [&](const nlohmann::json::json_pointer& at, const nlohmann::json& value) {
    nlohmann::json j = base;
    j[at] = value;
    return j.dump();
  };
  using P = nlohmann::json::json_pointer;
  REQUIRE_ERROR_MENTIONS(parse_model_config(with(P("/decoder/hidden_activation"), "gelu")), "decoder.hidden_activation", "gelu_pytorch_tanh");
  REQUIRE_ERROR_MENTIONS(parse_model_config(with(P("/encoder/text_config/attention_bias"), true)),
                         "encoder.text_config.attention_bias", "true");
  REQUIRE_ERROR_MENTIONS(parse_model_config(with(P("/encoder/vision_config/hidden_act"), "relu")), "encoder.vision_config.hidden_act");
  REQUIRE_ERROR_MENTIONS(parse_model_config(with(P("/encoder/vision_config/vision_use_head"), true)),
                         "encoder.vision_config.vision_use_head");
  // A real 4b of other sizes parses (RuntimeDims runs it as it is), but the 4b preset names the key.
  const ModelConfig wider = parse_model_config(with(P("/decoder/intermediate_size"), 10752));
  REQUIRE_ERROR_MENTIONS(Preset4b::from_config(wider), "decoder.intermediate_size", "10752", "10240");
}
