// Tokenizer conformance with Hugging Face semantics on the Gemma 3 vocabulary
// (tests/data/tokenizer: 5,700-string corpus + 22 hard strings, ids from the JS tokenizer that
// loads Google's tokenizer.json), and the Gemma 3 prompt expansion.
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "t5gemma2/tokenizer.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

static nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

static const Tokenizer& gemma3() {
  static Tokenizer t = [] {
    Tokenizer tok(test_data("tokenizer/gemma3.model"));
    tok.add_token("<image_soft_token>", 262144);  // an added token of Gemma 3's tokenizer.json, outside the .model
    return tok;
  }();
  return t;
}

TEST_CASE("corpus of 5,700 strings: ids identical to HF") {
  const nlohmann::json texts = read_json(test_data("tokenizer/corpus_5700.json"));
  const nlohmann::json ids = read_json(test_data("tokenizer/corpus_5700.js_ids.json"));
  REQUIRE(texts.size() == 5700);
  REQUIRE(ids.size() == texts.size());
  std::size_t mismatches = 0, tokens = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int> got = gemma3().encode(texts[i].get<std::string>());
    const std::vector<int> want = ids[i].get<std::vector<int>>();
    tokens += want.size();
    if (got != want) {
      ++mismatches;
      UNSCOPED_INFO("corpus string " << i << ": " << texts[i].dump());
    }
  }
  CHECK(tokens > 190000);
  CHECK(mismatches == 0);
}

TEST_CASE("22 hard strings: ids, ids with BOS, and decoding identical to HF") {
  const nlohmann::json g = read_json(test_data("tokenizer/golden_tokens_js.json"));
  REQUIRE(g["cases"].size() == 22);
  std::size_t id_mismatches = 0, decode_mismatches = 0;
  for (const auto& c : g["cases"]) {
    const std::string text = c["text"].get<std::string>();
    INFO("text: " << c["text"].dump());
    const auto want = c["ids"].get<std::vector<int>>();
    const auto got = gemma3().encode(text);
    CHECK(got == want);
    id_mismatches += got != want;
    CHECK(gemma3().encode(text, /*add_bos=*/true) == c["ids_with_bos"].get<std::vector<int>>());
    const std::string decoded = gemma3().decode(want);
    CHECK(decoded == c["decoded"].get<std::string>());
    decode_mismatches += decoded != c["decoded"].get<std::string>();
  }
  CHECK(id_mismatches == 0);
  CHECK(decode_mismatches == 0);
}

TEST_CASE("special tokens written in the text are split out and skip_special drops them") {
  const std::vector<int> ids = gemma3().encode("<bos>hi<end_of_turn>");
  REQUIRE(ids.size() >= 3);
  CHECK(ids.front() == 2);
  CHECK(ids.back() == 106);
  CHECK(gemma3().decode(ids) == "<bos>hi<end_of_turn>");
  CHECK(gemma3().decode(ids, /*skip_special=*/true) == "hi");
  REQUIRE_ERROR_MENTIONS(gemma3().decode({300000}), "300000");
}

TEST_CASE("prompt expansion as the Gemma 3 processor: demo model ids") {
  const ModelConfig c = load_model_config(demo_model());
  const Tokenizer tok = load_tokenizer(demo_model(), c);
  std::vector<int> want{2, 7, 4};
  want.insert(want.end(), 16, 6);
  for (int id : {5, 7, 447, 296, 314}) want.push_back(id);
  CHECK(encode_prompt(tok, c, "<start_of_image> describe the image", 1) == want);
  // No marker: one is put first.
  CHECK(encode_prompt(tok, c, "describe the image", 1) == want);
  CHECK(encode_prompt(tok, c, "upper: hello world", 0) == std::vector<int>{2, 277, 975, 386, 406});
  REQUIRE_ERROR_MENTIONS(encode_prompt(tok, c, "<start_of_image> a <start_of_image> b", 1), "2 <start_of_image> marker(s)",
                         "1 image(s)");
  REQUIRE_ERROR_MENTIONS(encode_prompt(tok, c, "<start_of_image> a", 0), "1 <start_of_image> marker(s)");
  REQUIRE_ERROR_MENTIONS(Tokenizer(test_data("tiny_a/config.json")), "cannot load SentencePiece model");
}

TEST_CASE("batches are padded on the left with a 0 attention mask") {
  const PaddedBatch p = pad_left({{2, 5, 6}, {2, 9}}, 0);
  CHECK(p.ids == std::vector<std::vector<int>>{{2, 5, 6}, {0, 2, 9}});
  CHECK(p.valid == std::vector<std::vector<uint8_t>>{{1, 1, 1}, {0, 1, 1}});
}
