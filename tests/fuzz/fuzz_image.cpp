// libFuzzer target: image header probing, stb decoding and the PIL-exact preprocessing (harnesses.hpp).
#include "harnesses.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  t5gemma2_fuzz::image(data, size);
  return 0;
}
