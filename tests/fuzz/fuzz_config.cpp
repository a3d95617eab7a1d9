// libFuzzer target: config.json parsing (every key, bound and cross-check) and the generation_config.json defaults (harnesses.hpp).
#include "harnesses.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  t5gemma2_fuzz::config(data, size);
  return 0;
}
