// Uses the installed headers through find_package(t5gemma2): loads a model, runs it once.
#include <t5gemma2/t5gemma2.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const t5gemma2::Model<> model(argv[1]);
  const std::vector<int> ids{2, 10, 11};
  const std::vector<uint8_t> valid(ids.size(), 1);
  const t5gemma2::Tensor logits = model.logits(model.decode({2}, model.encode(ids, valid), valid));
  std::printf("t5gemma2 %s: logits [%d, %d]\n", T5GEMMA2_VERSION_STRING, logits.rows, logits.cols);
  return logits.cols == model.config().decoder.vocab_size ? 0 : 1;
}
