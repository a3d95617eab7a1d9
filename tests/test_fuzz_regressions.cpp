// Replays the fuzz seed corpora (tests/fuzz/corpus/<target>/) and every input that once made a
// harness fail (tests/data/fuzz_regressions/<target>/) through the fuzz harnesses — in this
// build and in the ASan + UBSan one, where a report fails the test.
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fuzz/harnesses.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;

static int replay(const std::string& target, const std::function<void(const uint8_t*, size_t)>& harness) {
  int inputs = 0;
  for (const std::string& dir : {std::string(T5GEMMA2_SOURCE_DIR) + "/tests/fuzz/corpus/" + target,
                                 test_data("fuzz_regressions/" + target)}) {
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      INFO(entry.path().string());
      CHECK_NOTHROW(harness(bytes.data(), bytes.size()));
      ++inputs;
    }
  }
  return inputs;
}

TEST_CASE("fuzz corpora and past failures replay cleanly through every harness") {
  const std::map<std::string, std::function<void(const uint8_t*, size_t)>> harnesses{
      {"safetensors", t5gemma2_fuzz::safetensors}, {"config", t5gemma2_fuzz::config},
      {"image", t5gemma2_fuzz::image},             {"tokenizer", t5gemma2_fuzz::tokenizer},
      {"dump_inputs", t5gemma2_fuzz::dump_inputs}};
  for (const auto& [name, harness] : harnesses) {
    INFO(name);
    CHECK(replay(name, harness) >= 2);
  }
}

TEST_CASE("fuzz regression: a config without a vision tower has no pooling geometry (was a division by zero)") {
  const std::string text = t5gemma2::read_text_file(test_data("fuzz_regressions/config/pool-kernel-without-vision.json"));
  const t5gemma2::ModelConfig c = t5gemma2::parse_model_config(text);
  CHECK(c.vision.patch_size == 0);
  CHECK(c.pool_kernel() == 0);
}
