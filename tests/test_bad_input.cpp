// Bad input gets a clear t5gemma2::Error naming the file, tensor or key — never a crash.
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "t5gemma2/decoder_session.hpp"
#include "t5gemma2/dump.hpp"
#include "t5gemma2/model.hpp"
#include "t5gemma2/tokenizer.hpp"
#include "test_util.hpp"

using namespace t5gemma2;
namespace fs = std::filesystem;

// Writes [u64 len][header][data] exactly as given (no validation), for corrupt files.
static void write_raw(const std::string& path, uint64_t header_len, const std::string& header, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(char(header_len >> (8 * i)));
  out << header << data;
}

static void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  write_raw(path, header.size(), header, data);
}

TEST_CASE("corrupt safetensors files are rejected with the reason") {
  TempDir tmp;
  const std::string f = tmp / "x.safetensors";
  const std::string eight(8, '\0');

  { std::ofstream(f, std::ios::binary) << "abc"; }
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "truncated", "x.safetensors");

  write_raw(f, uint64_t(1) << 40, "{}", "");
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "exceeds the limit");

  write_raw(f, 1000, "{}", "");
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "truncated", "does not fit");

  write_raw(f, "{\"a\": {", "");
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "not valid JSON");

  // Hostile headers are rejected as they stream, before they can cost memory: a 16 MB array of
  // tiny values (a DOM of it would take ~1 GB), a rank-1,000,000 shape, deep nesting, duplicates.
  std::string tiny_values = "{\"a\": [";
  for (int i = 0; i < 8 << 20; ++i) tiny_values += "0,";
  tiny_values += "0]}";
  write_raw(f, tiny_values, "");
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "header entry 'a' is not an object");
  std::string rank = R"({"a":{"dtype":"F32","data_offsets":[0,0],"shape":[)";
  for (int i = 0; i < 1000000; ++i) rank += "1,";
  rank += "1]}}";
  write_raw(f, rank, "");
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'a'", "more than 16 dimensions");
  write_raw(f, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":{"y":1}}})", std::string(4, '\0'));
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "nested object", "'a'");
  write_raw(f, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            eight);
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'a'", "listed twice");
  write_raw(f, R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", std::string(4, '\0'));
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'a'", "non-negative integers");

  write_raw(f, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight);
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'w'", "out of range");

  write_raw(f, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            std::string(12, '\0'));
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'b'", "overlapping");

  write_raw(f, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight);
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'a'", "gap");

  write_raw(f, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight);
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "4 bytes after the last tensor");

  write_raw(f, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0'));
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'a'", "needs 8 bytes");

  write_raw(f, R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}})", std::string(1, '\0'));
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'a'", "unsupported dtype 'Q4'");

  write_raw(f, R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight);
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'a'", "non-negative");

  write_raw(f, R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", eight);
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'a'", "too large");

  REQUIRE_ERROR_MENTIONS(SafetensorsFile(tmp / "absent.safetensors"), "absent.safetensors", "cannot open");
}

// A copy of tiny_a whose tensors pass through `edit` (name, entry -> keep?) before writing.
static void write_edited_tiny_a(const std::string& dir,
                                const std::function<void(SafetensorsWriter&, const TensorEntry&)>& edit) {
  fs::create_directories(dir);
  fs::copy_file(test_data("tiny_a/config.json"), dir + "/config.json");
  const SafetensorsFile src(test_data("tiny_a/model.safetensors"));
  SafetensorsWriter w;
  for (const TensorEntry& t : src.tensors()) edit(w, t);
  w.write(dir + "/model.safetensors");
}

static void keep(SafetensorsWriter& w, const TensorEntry& t) { w.add(t.name, t.dtype, t.shape, t.data); }

TEST_CASE("shape products and byte counts that wrap around 2^64 are rejected naming the tensor and shape") {
  // The red team's three: the header looks consistent modulo 2^64 (0 or 8 bytes).
  TempDir tmp;
  const std::string f = tmp / "inputs.safetensors";
  write_raw(f, R"({"text.encoder_input_ids":{"dtype":"I64","shape":[1,2305843009213693952],"data_offsets":[0,0]}})", "");
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "text.encoder_input_ids", "[1, 2305843009213693952]", "I64", "beyond 64 bits");
  write_raw(f, R"({"text.encoder_input_ids":{"dtype":"I64","shape":[1,2305843009213693953],"data_offsets":[0,8]}})",
            std::string(8, '\0'));
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "text.encoder_input_ids", "[1, 2305843009213693953]", "beyond 64 bits");
  write_raw(f, R"({"text.encoder_input_ids":{"dtype":"F32","shape":[1,4611686018427387904],"data_offsets":[0,0]}})", "");
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "text.encoder_input_ids", "[1, 4611686018427387904]", "F32", "beyond 64 bits");
  // Products that fit are still checked against the offsets.
  write_raw(f, R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", std::string(16, '\0'));
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(f), "'a'", "needs 16 bytes", "span 8");
}

TEST_CASE("checkpoints with missing, unexpected, misshapen or mistyped tensors are rejected by name") {
  TempDir tmp;
  const std::string qn = "model.decoder.layers.3.self_attn.q_norm.weight";

  write_edited_tiny_a(tmp / "missing", [&](SafetensorsWriter& w, const TensorEntry& t) {
    if (t.name != qn && t.name != "model.encoder.norm.weight") keep(w, t);
  });
  REQUIRE_ERROR_MENTIONS(ReferenceModel(tmp / "missing"), "missing tensors (2)", "decoder.layers.3.self_attn.q_norm.weight",
                         "encoder.norm.weight");

  write_edited_tiny_a(tmp / "unexpected", [&](SafetensorsWriter& w, const TensorEntry& t) {
    keep(w, t);
    if (t.name == qn) w.add("model.decoder.layers.3.self_attn.bogus", t.dtype, t.shape, t.data);
  });
  REQUIRE_ERROR_MENTIONS(ReferenceModel(tmp / "unexpected"), "unexpected tensors (1)", "model.decoder.layers.3.self_attn.bogus");

  write_edited_tiny_a(tmp / "shape", [&](SafetensorsWriter& w, const TensorEntry& t) {
    if (t.name == qn) {
      const std::vector<float> v(17, 0.0f);
      w.add(t.name, DType::F32, {17}, v.data());
    } else {
      keep(w, t);
    }
  });
  REQUIRE_ERROR_MENTIONS(ReferenceModel(tmp / "shape"), qn.c_str(), "has shape [17], expected [16]");

  write_edited_tiny_a(tmp / "dtype", [&](SafetensorsWriter& w, const TensorEntry& t) {
    if (t.name == qn) {
      const std::vector<int64_t> v(16, 0);
      w.add(t.name, DType::I64, {16}, v.data());
    } else {
      keep(w, t);
    }
  });
  REQUIRE_ERROR_MENTIONS(ReferenceModel(tmp / "dtype"), qn.c_str(), "dtype I64");
}

TEST_CASE("a truncated checkpoint and a directory without weights are rejected") {
  TempDir tmp;
  fs::create_directories(tmp / "trunc");
  fs::copy_file(test_data("tiny_a/config.json"), tmp / "trunc/config.json");
  {
    std::ifstream in(test_data("tiny_a/model.safetensors"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(tmp / "trunc/model.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  REQUIRE_ERROR_MENTIONS(ReferenceModel(tmp / "trunc"), "model.safetensors", "out of range");

  fs::create_directories(tmp / "empty");
  fs::copy_file(test_data("tiny_a/config.json"), tmp / "empty/config.json");
  REQUIRE_ERROR_MENTIONS(ReferenceModel(tmp / "empty"), "no model.safetensors");
  REQUIRE_ERROR_MENTIONS(ReferenceModel(tmp / "nowhere"), "config.json", "cannot open");
}

TEST_CASE("malformed config.json is rejected naming the key") {
  const std::string good = read_text_file(test_data("tiny_a/config.json"));
  REQUIRE_NOTHROW(parse_model_config(good));
  auto edited = [&](const std::function<void(nlohmann::json&)>& f) {
    nlohmann::json j = nlohmann::json::parse(good);
    f(j);
    return j.dump();
  };
  REQUIRE_ERROR_MENTIONS(parse_model_config("{not json"), "not a valid JSON");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"].erase("hidden_size"); })),
                         "missing key 'decoder.hidden_size'");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["encoder"]["text_config"]["num_hidden_layers"] = "six"; })),
                         "'encoder.text_config.num_hidden_layers' must be an integer");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"]["layer_types"].push_back("full_attention"); })),
                         "decoder.layer_types", "7 entries");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"]["layer_types"][0] = "chunked"; })),
                         "decoder.layer_types", "chunked");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"]["num_key_value_heads"] = 3; })),
                         "decoder.num_attention_heads", "not a multiple");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"]["hidden_size"] = 128; })),
                         "differs from decoder.hidden_size");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"]["sliding_window"] = -4; })),
                         "decoder.sliding_window");
  REQUIRE_ERROR_MENTIONS(
      parse_model_config(edited([](auto& j) { j["decoder"]["rope_parameters"]["full_attention"]["rope_type"] = "yarn"; })),
      "decoder.rope_parameters.full_attention.rope_type", "yarn");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["encoder"]["image_token_index"] = 9999; })),
                         "image_token_index", "outside the vocabulary");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["encoder"]["mm_tokens_per_image"] = 3; })),
                         "mm_tokens_per_image");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j.erase("encoder"); })), "missing key 'encoder'");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"]["rope_parameters"] = 5; })),
                         "'decoder.rope_parameters' must be an object");

  // Issue 11's classes: sizes checked against sane bounds before anything is allocated, every
  // integer range-checked (no silent truncation of 64-bit values), ids named by their key.
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) {  // head_dim defaults to 16 / 32 = 0
                           j["decoder"].erase("head_dim");
                           j["decoder"]["num_attention_heads"] = 32;
                           j["decoder"]["num_key_value_heads"] = 32;
                           j["decoder"]["hidden_size"] = 16;
                         })),
                         "'decoder.head_dim' must be positive", "16 / 32");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"]["num_hidden_layers"] = 1000000; })),
                         "'decoder.num_hidden_layers' = 1000000 is out of range [0, 512]");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"]["hidden_size"] = int64_t(1) << 30; })),
                         "'decoder.hidden_size'", "out of range");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"]["num_attention_heads"] = 65536; })),
                         "'decoder.num_attention_heads'", "out of range");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["encoder"]["vision_config"]["image_size"] = 1 << 20; })),
                         "'encoder.vision_config.image_size'", "out of range");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) {
                           j["encoder"]["vision_config"]["image_size"] = 16384;
                           j["encoder"]["vision_config"]["patch_size"] = 2;
                         })),
                         "patches, more than");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["eos_token_id"] = int64_t(1) << 40; })),
                         "'eos_token_id' holds 1099511627776");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["eos_token_id"] = nlohmann::json::array({1, -3}); })),
                         "'eos_token_id' holds -3");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["eos_token_id"] = 9999; })),
                         "'eos_token_id' 9999 is outside the vocabulary");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder_start_token_id"] = 9999; })),
                         "'decoder_start_token_id' = 9999 is outside the vocabulary");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["pad_token_id"] = 4096; })), "'pad_token_id' = 4096");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["bos_token_id"] = 600; })), "'bos_token_id' = 600");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["encoder"]["vision_config"]["layer_norm_eps"] = -1e-6; })),
                         "'encoder.vision_config.layer_norm_eps' must be positive");
  REQUIRE_ERROR_MENTIONS(parse_model_config(edited([](auto& j) { j["decoder"]["vocab_size"] = uint64_t(1) << 63; })),
                         "'decoder.vocab_size'", "out of range");
  REQUIRE_ERROR_MENTIONS(
      parse_model_config(edited([](auto& j) { j["decoder"]["rope_parameters"]["full_attention"]["rope_type"] = 3; })),
      "'decoder.rope_parameters.full_attention.rope_type' must be a string");
}

TEST_CASE("model directories: only regular files, a tokenizer that fits the vocabulary, bounded generation_config") {
  TempDir tmp;
  fs::create_directories(tmp / "m");
  fs::copy_file(test_data("tiny_a/config.json"), tmp / "m/config.json");
  REQUIRE(mkfifo((tmp / "m/generation_config.json").c_str(), 0600) == 0);  // would block a plain open
  REQUIRE_ERROR_MENTIONS(load_model_config(tmp / "m"), "generation_config.json", "not a regular file");
  fs::remove(tmp / "m/generation_config.json");
  fs::create_directories(tmp / "m/generation_config.json");
  REQUIRE_ERROR_MENTIONS(load_model_config(tmp / "m"), "generation_config.json", "a directory");
  fs::remove(tmp / "m/generation_config.json");
  std::ofstream(tmp / "m/generation_config.json") << R"({"decoder_start_token_id": 70000})";
  REQUIRE_ERROR_MENTIONS(load_model_config(tmp / "m"), "generation_config.json", "'decoder_start_token_id' 70000",
                         "outside the vocabulary");
  fs::remove(tmp / "m/generation_config.json");
  // A named pipe as the checkpoint or the tokenizer: refused at once, not a hang.
  REQUIRE(mkfifo((tmp / "m/model.safetensors").c_str(), 0600) == 0);
  REQUIRE_ERROR_MENTIONS(ReferenceModel(tmp / "m"), "model.safetensors", "not a regular file");
  REQUIRE(mkfifo((tmp / "m/tokenizer.model").c_str(), 0600) == 0);
  const ModelConfig c = load_model_config(tmp / "m");
  REQUIRE_ERROR_MENTIONS(load_tokenizer(tmp / "m", c), "tokenizer.model", "not a regular file");
  // The Gemma 3 tokenizer (262,144 pieces) with tiny_a's 512-token vocabulary.
  fs::remove(tmp / "m/tokenizer.model");
  fs::copy_file(test_data("tokenizer/gemma3.model"), tmp / "m/tokenizer.model");
  REQUIRE_ERROR_MENTIONS(load_tokenizer(tmp / "m", c), "tokenizer.model has 262144 pieces", "vocab_size (512)");
}

TEST_CASE("a checkpoint of the wrong model: the error names 20 tensors of each kind and counts the rest") {
  TempDir tmp;
  fs::create_directories(tmp / "m");
  fs::copy_file(test_data("tiny_a/config.json"), tmp / "m/config.json");
  SafetensorsWriter w;
  const float zero = 0.0f;
  for (int i = 0; i < 5000; ++i) w.add_f32("junk." + std::to_string(i), {1}, &zero);
  w.write(tmp / "m/model.safetensors");
  try {
    const ReferenceModel m(tmp / "m");
    FAIL("loaded a checkpoint without one expected tensor");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK(what.size() < 4000);
    CHECK(what.find("missing tensors (") != std::string::npos);
    CHECK(what.find("unexpected tensors (5000): junk.0 ") != std::string::npos);
    CHECK(what.find("... and 4980 more") != std::string::npos);
  }
}

TEST_CASE("dump inputs with bad ids are rejected") {
  TempDir tmp;
  SafetensorsWriter w;
  const std::vector<int64_t> ids{2, 5000}, dec{2};
  w.add_i64("text.encoder_input_ids", {1, 2}, ids.data());
  w.add_i64("text.decoder_input_ids", {1, 1}, dec.data());
  w.write(tmp / "in.safetensors");
  const ReferenceModel model(test_data("tiny_a"));
  ArrayMap out;
  REQUIRE_ERROR_MENTIONS(run_case(model, SafetensorsFile(tmp / "in.safetensors"), "text.", out), "token id 5000");
  SafetensorsWriter empty;  // an empty batch [0, 4]
  empty.add_i64("text.encoder_input_ids", {0, 4}, ids.data());
  empty.add_i64("text.decoder_input_ids", {0, 1}, dec.data());
  empty.write(tmp / "empty.safetensors");
  REQUIRE_ERROR_MENTIONS(run_case(model, SafetensorsFile(tmp / "empty.safetensors"), "text.", out), "'text.encoder_input_ids' is [0, 4]",
                         "at least one sequence");
}

TEST_CASE("names read from a corrupt file are printed escaped and bounded") {
  CHECK(printable("layers.0.w") == "layers.0.w");
  CHECK(printable("caf\xC3\xA9") == "caf\xC3\xA9");            // valid UTF-8 stays
  CHECK(printable(std::string("a\x01\xFF\n", 4)) == "a\\x01\\xff\\x0a");  // control and stray bytes escaped
  CHECK(printable(std::string(1000, 'x')).size() == 203);        // 200 bytes + "..."
  TempDir tmp;
  // JSON escapes put control bytes (a terminal colour sequence here) into a tensor name.
  write_raw(tmp / "x.safetensors", R"({"w\u0001\u001b[31m":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", std::string(4, '\0'));
  REQUIRE_ERROR_MENTIONS(SafetensorsFile(tmp / "x.safetensors"), "tensor 'w\\x01\\x1b[31m'");
}

TEST_CASE("a tokenizer whose bos_piece names no piece is refused when loaded, naming the file and the piece") {
  std::string proto = read_regular_file(test_data("tokenizer/gemma3.model"), std::size_t(64) << 20, "tokenizer");
  const std::string field = std::string("\xF2\x02\x05", 3) + "<bos>";  // TrainerSpec field 46 (bos_piece), 5 bytes
  const std::size_t at = proto.find(field);
  REQUIRE(at != std::string::npos);
  proto.replace(at + 3, 5, "<nob>");
  TempDir tmp;
  { std::ofstream(tmp / "tokenizer.model", std::ios::binary) << proto; }
  REQUIRE_ERROR_MENTIONS(Tokenizer(tmp / "tokenizer.model"), "tokenizer.model", "bos_piece '<nob>'", "no BOS token");
  CHECK_NOTHROW(Tokenizer(test_data("tokenizer/gemma3.model")));
}

TEST_CASE("a sliding_window wider than any input is accepted, as HF accepts it, and is no window") {
  const nlohmann::json base = nlohmann::json::parse(read_text_file(test_data("tiny_a/config.json")));
  const auto model_with_window = [&](int window, const TempDir& dir) {
    nlohmann::json j = base;
    j["encoder"]["text_config"]["sliding_window"] = window;
    j["decoder"]["sliding_window"] = window;
    std::ofstream(dir / "config.json") << j.dump();
    fs::copy_file(test_data("tiny_a/model.safetensors"), dir / "model.safetensors");
    return Model<RuntimeDims, float, ScalarTarget>(dir.path.string());
  };
  TempDir huge, wide;
  const auto m_huge = model_with_window(1 << 30, huge), m_wide = model_with_window(64, wide);  // both wider than 12 tokens
  CHECK(m_huge.config().encoder.sliding_window == (1 << 30));
  const std::vector<int> ids{2, 17, 33, 4, 99, 120, 7, 8, 250, 3, 41, 1};
  const std::vector<uint8_t> valid(ids.size(), 1);
  const Tensor a = m_huge.encode(ids, valid), b = m_wide.encode(ids, valid);
  CHECK(a.data == b.data);
  const std::vector<int> dec{2, 5, 9};
  CHECK(m_huge.logits(m_huge.decode(dec, a, valid)).data == m_wide.logits(m_wide.decode(dec, b, valid)).data);
  // Past the bound that keeps window arithmetic in an int, the key is still named.
  nlohmann::json j = base;
  j["decoder"]["sliding_window"] = (int64_t(1) << 30) + 1;
  REQUIRE_ERROR_MENTIONS(parse_model_config(j.dump()), "decoder.sliding_window");
}

TEST_CASE("a decoder given a padding mask of the wrong length for its encoder output is refused, naming both lengths") {
  const ReferenceModel model(test_data("tiny_a"));
  const std::vector<int> ids{2, 10, 11, 12};
  const Tensor enc = model.encode(ids, std::vector<uint8_t>(ids.size(), 1));
  const std::vector<int> dec(12, 2);  // enough decoder rows to take attention's head-major path
  REQUIRE_ERROR_MENTIONS(model.decode(dec, enc, std::vector<uint8_t>(9, 1)), "padding mask has 9 entries for 4 encoder rows");
  REQUIRE_ERROR_MENTIONS(BatchDecoderSession<ReferenceModel>(model, {enc}, {std::vector<uint8_t>(3, 1)}),
                         "padding mask of encoder output 0 has 3 entries for 4 rows");
}
