// Reproduces the published T5Gemma 2 integration expectations (transformers' T5Gemma2 integration test) on the real
// google/t5gemma-2-270m-270m checkpoint. It needs files that are not in this repository:
//   T5GEMMA2_CHECKPOINT_270M = the checkpoint directory (config.json, model.safetensors,
//                              tokenizer.model)
//   T5GEMMA2_BEE_JPG         = bee.jpg from huggingface/documentation-images
// Without them it exits 77, which ctest reports as "skipped". See docs/validation.md.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "t5gemma2/t5gemma2.hpp"

using namespace t5gemma2;

int main() {
  const char* dir = std::getenv("T5GEMMA2_CHECKPOINT_270M");
  const char* bee = std::getenv("T5GEMMA2_BEE_JPG");
  if (!dir || !bee) {
    std::printf("SKIPPED: set T5GEMMA2_CHECKPOINT_270M=<dir of google/t5gemma-2-270m-270m> and "
                "T5GEMMA2_BEE_JPG=<bee.jpg from huggingface/documentation-images> to run this test\n");
    return 77;
  }
  try {
    const Model<Preset270m, bf16_t, HwyDynamicTarget> model(dir);  // bf16 weights as published, f32 activations
    const ModelConfig& c = model.config();
    const Tokenizer tok = load_tokenizer(dir, c);
    const Tensor px = preprocess_image(load_image(bee), c.vision.image_size);
    const std::vector<std::string> prompts{"<start_of_image> in this image, there is", "<start_of_image> in this image"};
    const std::vector<std::string> expected{" a bumble bee in a flower bed.",
                                            ", a bumblebee is seen in the garden of a house in the UK."};
    const Tensor features = model.image_features(px);
    // Batch of two, left-padded as the tokenizer pads; then the first prompt alone.
    std::vector<std::vector<int>> ids;
    for (const auto& p : prompts) ids.push_back(encode_prompt(tok, c, p, 1));
    const PaddedBatch padded = pad_left(ids, c.pad_token_id);
    std::vector<Tensor> enc;
    for (std::size_t b = 0; b < ids.size(); ++b)
      enc.push_back(model.encode_embeddings(model.encoder_embeddings(padded.ids[b], {features}), padded.valid[b]));
    GenerationOptions o;
    o.max_new_tokens = 30;
    int failures = 0;
    const auto single = generate_from_encoded(model, {model.encode_embeddings(model.encoder_embeddings(ids[0], {features}),
                                                                              std::vector<uint8_t>(ids[0].size(), 1))},
                                              {std::vector<uint8_t>(ids[0].size(), 1)}, o);
    const std::string got = tok.decode(single[0].sequence, true);
    std::printf("single: %s\n", got.c_str());
    failures += got != expected[0];
    const auto batch = generate_from_encoded(model, enc, padded.valid, o);
    for (std::size_t b = 0; b < 2; ++b) {
      const std::string text = tok.decode(batch[b].sequence, true);
      std::printf("batch[%zu]: %s\n", b, text.c_str());
      failures += text != expected[b];
    }
    std::printf("%d passed, %d failed\n", 3 - failures, failures);
    return failures ? 1 : 0;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
