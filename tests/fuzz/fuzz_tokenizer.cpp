// libFuzzer target: the tokenizer front end (added tokens, SentencePiece, decode), the Gemma 3 image-prompt expansion, and the serialized-model reader that classifies pieces (harnesses.hpp).
#include "harnesses.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  t5gemma2_fuzz::tokenizer(data, size);
  return 0;
}
