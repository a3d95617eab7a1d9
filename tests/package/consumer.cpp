// Uses the installed headers through find_package(t5gemma2): loads a model and runs it on the
// scalar reference and on the dynamically dispatched SIMD target; the logits must be equal.
#include <t5gemma2/t5gemma2.hpp>

#include <cstdio>
#include <cstring>

template <class Target>
static t5gemma2::Tensor run(const char* dir) {
  const t5gemma2::Model<t5gemma2::RuntimeDims, float, Target> model(dir);
  const std::vector<int> ids{2, 10, 11};
  const std::vector<uint8_t> valid(ids.size(), 1);
  return model.logits(model.decode({2}, model.encode(ids, valid), valid));
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  t5gemma2::keep_freed_memory();
  const t5gemma2::Tensor ref = run<t5gemma2::ScalarTarget>(argv[1]);
  const t5gemma2::Tensor simd = run<t5gemma2::HwyDynamicTarget>(argv[1]);
  const bool same = ref.data.size() == simd.data.size() &&
                    std::memcmp(ref.data.data(), simd.data.data(), ref.data.size() * sizeof(float)) == 0;
  std::printf("t5gemma2 %s: logits [%d, %d], %s target %s the scalar reference\n", T5GEMMA2_VERSION_STRING, simd.rows,
              simd.cols, t5gemma2::HwyDynamicTarget::name(), same ? "==" : "!=");
  return same ? 0 : 1;
}
