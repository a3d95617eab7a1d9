// libFuzzer target: the safetensors reader (header, offsets, tiling) and every dtype conversion (harnesses.hpp).
#include "harnesses.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  t5gemma2_fuzz::safetensors(data, size);
  return 0;
}
