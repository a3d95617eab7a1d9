// libFuzzer target: the dump tool's input reader (ids, masks, decoder ids, pixel values and their assignment to image tokens) (harnesses.hpp).
#include "harnesses.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  t5gemma2_fuzz::dump_inputs(data, size);
  return 0;
}
