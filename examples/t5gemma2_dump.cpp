// t5gemma2-dump: run the model on golden-style inputs, write every named intermediate tensor,
// and optionally compare with a golden file.
//
//   t5gemma2-dump --model DIR [--inputs FILE.safetensors] [--image PATH]... --out FILE.safetensors
//                 [--compare GOLDEN.safetensors] [--tolerance REL] [--max-new-tokens N]
//                 [--precision f32|bf16-weights|hf-bf16] [--npy DIR]
//                 [--prompt TEXT] [--attention-png DIR [--layer L]]
//                 [--synthetic-seed S] [--threads N] [--target NAME]
//
// Exit status: 0 ok, 1 a compared tensor is past tolerance, 2 bad arguments or input.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <filesystem>

#include <xtensor/xnpy.hpp>

#include "cli_args.hpp"
#include "attention_png.hpp"
#include "t5gemma2/dump.hpp"
#include "t5gemma2/tokenizer.hpp"
#include "t5gemma2/memory.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/synthetic_weights.hpp"
#include "t5gemma2/xtensor.hpp"

namespace {

// Every array as DIR/<name>.npy, through zero-copy xt::adapt views and xt::dump_npy.
void write_npy_dir(const t5gemma2::ArrayMap& arrays, const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (const auto& [name, a] : arrays) {
    std::vector<std::size_t> shape(a.shape.begin(), a.shape.end());
    const std::string path = dir + "/" + name + ".npy";
    std::string npy;  // the file's bytes; written whole or not at all
    if (a.dtype == t5gemma2::DType::F32) npy = xt::dump_npy(xt::adapt(a.f32.data(), a.f32.size(), xt::no_ownership(), shape));
    else if (a.dtype == t5gemma2::DType::U8) npy = xt::dump_npy(xt::adapt(a.u8.data(), a.u8.size(), xt::no_ownership(), shape));
    else npy = xt::dump_npy(xt::adapt(a.i64.data(), a.i64.size(), xt::no_ownership(), shape));
    t5gemma2::write_file_atomically(path, npy);
  }
  std::printf("wrote %zu .npy files to %s\n", arrays.size(), dir.c_str());
}

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: t5gemma2-dump --model DIR [--inputs FILE.safetensors] [--image PATH]... --out FILE.safetensors\n"
               "                     [--compare GOLDEN.safetensors] [--tolerance REL] [--max-new-tokens N]\n"
               "                     [--precision f32|bf16-weights|hf-bf16] [--npy DIR]\n"
               "                     [--prompt TEXT] [--attention-png DIR [--layer L]]\n"
               "                     [--synthetic-seed S] [--threads N] [--target NAME]\n"
               "Runs every case found in --inputs (text.*, mm.*) and writes the golden-named outputs;\n"
               "Greedy generation (KV cache, stop at EOS or N new tokens, default 20; 0 = off) writes\n"
               "gen.sequences / gen.step_logits (gen_mm.* for the image batch when a text batch exists).\n"
               "--image (repeatable) preprocesses image files into image.pixel_values [n, 3, S, S].\n"
               "--compare prints max |diff| per tensor (padding rows excluded) and exits 1 past\n"
               "REL * max(1, max|ref|) (default REL 1e-5); masks must match exactly.\n"
               "--precision: f32 (default); bf16-weights keeps the weights as bfloat16 (activations stay\n"
               "f32; --bf16 is the same); hf-bf16 reproduces transformers' bfloat16 CPU run (compare with\n"
               "bf16 goldens: default REL then 2^-7, two bf16 steps of max|ref|; every tensor also reports\n"
               "the share of its values bit-identical to the golden).\n"
               "--npy DIR also writes every tensor as DIR/<name>.npy (f32, uint8 masks, int64 ids).\n"
               "--prompt TEXT runs one prompt (DIR/tokenizer.model; with --image the prompt's images) as\n"
               "the text./mm. case, decoding greedily (--max-new-tokens) to get decoder inputs.\n"
               "--attention-png DIR writes the attention probabilities of sample 0 as heat maps:\n"
               "DIR/{encoder,decoder}_layerLL_headH.png (rows = queries, columns = keys; grey = masked;\n"
               "decoder: [self | cross] keys, red line between); --layer L draws that layer only.\n"
               "--synthetic-seed S generates the weights (synth-weights-v1, seed S; the full-size goldens\n"
               "use 0) instead of reading DIR/model.safetensors: DIR needs only config.json.\n"
               "--threads N worker threads (default: all cores); --target NAME the SIMD kernels, one of\n"
               "the list below ('scalar' = the reference; default: the first). Results do not depend on either.\n");
  std::string targets;
  for (const std::string& t : t5gemma2::available_targets()) targets += (targets.empty() ? "" : ", ") + t;
  std::fprintf(f, "SIMD targets of this build on this CPU: %s\n", targets.c_str());
}

struct DumpArgs {
  std::string model, inputs, out, compare, npy_dir, prompt, attention_dir;
  std::vector<std::string> images;
  double tolerance = -1;
  int max_new_tokens = 20;
  int layer = -1;  // --layer: the only layer drawn
  long long synthetic_seed = -1;
  std::string precision = "f32";
  int threads = 0;
  std::string target;
};

// --prompt: the prompt (with the --image files as its images) as an in-memory inputs file,
// case "text." or "mm.".
t5gemma2::SafetensorsFile prompt_inputs(const DumpArgs& a, const t5gemma2::ModelConfig& c) {
  using namespace t5gemma2;
  const Tokenizer tok = load_tokenizer(a.model, c);
  const std::vector<int> ids = encode_prompt(tok, c, a.prompt, a.images.size());
  const std::string prefix = a.images.empty() ? "text." : "mm.";
  SafetensorsWriter w;
  const std::vector<int64_t> ids64(ids.begin(), ids.end());
  w.add_i64(prefix + "encoder_input_ids", {1, int64_t(ids.size())}, ids64.data());
  if (!a.images.empty()) {
    std::vector<float> pixels;
    for (const std::string& path : a.images) {
      const Tensor px = preprocess_image(load_image(path), c.vision.image_size);
      pixels.insert(pixels.end(), px.data.begin(), px.data.end());
    }
    w.add_f32(prefix + "pixel_values", {int64_t(a.images.size()), 3, c.vision.image_size, c.vision.image_size}, pixels.data());
  }
  return SafetensorsFile(std::make_shared<MappedFile>("--prompt", w.bytes()));
}

template <class W, class Precision>
int run(const DumpArgs& a) {
  const std::string &model_dir = a.model, &out_path = a.out, &compare_path = a.compare, &npy_dir = a.npy_dir;
  const std::string inputs_path = a.prompt.empty() ? a.inputs : "--prompt";
  const std::vector<std::string> images = a.prompt.empty() ? a.images : std::vector<std::string>{};
  const int max_new_tokens = a.max_new_tokens;
  const long long synthetic_seed = a.synthetic_seed;
  const double tolerance = a.tolerance;
  using M = t5gemma2::Model<t5gemma2::RuntimeDims, W, t5gemma2::HwyDynamicTarget, Precision>;
  t5gemma2::check_takes_images(t5gemma2::load_model_config(model_dir), a.images.size(), "--image");
  const M model = synthetic_seed < 0 ? M(model_dir)
                                     : M(t5gemma2::load_model_config(model_dir),
                                         t5gemma2::synthetic_checkpoint(uint64_t(synthetic_seed), /*with_vision=*/true));
  std::unique_ptr<t5gemma2::SafetensorsFile> inputs;
  if (!a.prompt.empty()) inputs = std::make_unique<t5gemma2::SafetensorsFile>(prompt_inputs(a, model.config()));
  else if (!inputs_path.empty()) inputs = std::make_unique<t5gemma2::SafetensorsFile>(inputs_path);
  t5gemma2::ArrayMap out;
  bool any = inputs && t5gemma2::run_cases(model, *inputs, max_new_tokens, out);
  any = any || !images.empty();
  const bool has_text = inputs && inputs->find("text.encoder_input_ids");
  if (!images.empty()) t5gemma2::run_image_preprocessing(images, model.config().vision.image_size, out);
  if (!any) throw t5gemma2::Error(inputs_path + ": no known case (expected text.encoder_input_ids or mm.encoder_input_ids)");
  t5gemma2::write_arrays(out, out_path);
  std::printf("wrote %zu tensors to %s\n", out.size(), out_path.c_str());
  if (!npy_dir.empty()) write_npy_dir(out, npy_dir);
  if (!a.attention_dir.empty()) {
    // Sample 0 of the first case; decoder inputs: its decoder_input_ids, or its greedy output.
    const std::string prefix = has_text ? "text." : "mm.";
    t5gemma2::check(inputs && inputs->find(prefix + "encoder_input_ids"), "--attention-png needs --inputs or --prompt");
    const t5gemma2::CaseInputs in = t5gemma2::read_case_inputs(*inputs, prefix, model.config());
    std::vector<int> dec = in.decoder_ids.empty() ? std::vector<int>{} : in.decoder_ids[0];
    if (dec.empty()) {
      t5gemma2::GenerationOptions g;
      g.max_new_tokens = std::max(1, max_new_tokens);
      const t5gemma2::Tensor enc = t5gemma2::encode_sample(model, in, 0);
      dec = t5gemma2::generate_from_encoded(model, {enc}, {in.encoder_valid[0]}, g)[0].sequence;
    }
    const int n = t5gemma2_cli::write_attention_pngs(model, in, dec, a.attention_dir, a.layer);
    std::printf("wrote %d attention maps to %s\n", n, a.attention_dir.c_str());
  }
  if (compare_path.empty()) return 0;
  const t5gemma2::SafetensorsFile golden(compare_path);
  const auto cs = t5gemma2::compare_with_golden(out, golden, tolerance);
  t5gemma2::print_comparisons(cs);
  int failed = 0;
  long long values = 0, identical = 0;
  for (const auto& c : cs) {
    failed += !c.ok;
    values += c.compared;
    identical += c.identical;
  }
  std::printf("%zu tensors compared, %d past tolerance; %lld of %lld values bit-identical (%.4f%%)\n", cs.size(), failed,
              identical, values, values ? 100.0 * double(identical) / double(values) : 100.0);
  return failed ? 1 : 0;
}

}  // namespace

[[noreturn]] void dump_usage_error(const std::string& why) {
  std::fprintf(stderr, "t5gemma2-dump: %s\n", why.c_str());
  std::exit(2);
}

int main(int argc, char** argv) {
  namespace cli = t5gemma2_cli;
  DumpArgs d;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) dump_usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") d.model = value();
    else if (a == "--inputs") d.inputs = value();
    else if (a == "--out") d.out = value();
    else if (a == "--compare") d.compare = value();
    else if (a == "--tolerance") d.tolerance = cli::number_value(a, value(), dump_usage_error);
    else if (a == "--image") d.images.push_back(value());
    else if (a == "--max-new-tokens") d.max_new_tokens = int(cli::int_value(a, value(), 0, 1 << 20, dump_usage_error));
    else if (a == "--bf16") d.precision = "bf16-weights";
    else if (a == "--precision") d.precision = value();
    else if (a == "--npy") d.npy_dir = value();
    else if (a == "--prompt") d.prompt = value();
    else if (a == "--attention-png") d.attention_dir = value();
    else if (a == "--layer") d.layer = int(cli::int_value(a, value(), 0, 1 << 20, dump_usage_error));
    else if (a == "--threads") d.threads = int(cli::int_value(a, value(), 1, 1024, dump_usage_error));
    else if (a == "--target") d.target = value();
    else if (a == "--synthetic-seed") d.synthetic_seed = cli::int_value(a, value(), 0, 1 << 30, dump_usage_error);
    else if (a == "--help" || a == "-h") { usage(stdout); return 0; }
    else {
      std::fprintf(stderr, "t5gemma2-dump: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (d.precision != "f32" && d.precision != "bf16-weights" && d.precision != "hf-bf16")
    dump_usage_error("--precision must be f32, bf16-weights or hf-bf16, not '" + d.precision + "'");
  if (d.tolerance < 0) d.tolerance = d.precision == "hf-bf16" ? 1.0 / 128 : 1e-5;
  if (d.model.empty() || (d.inputs.empty() && d.images.empty() && d.prompt.empty()) || d.out.empty()) {
    usage(stderr);
    return 2;
  }
  if (!d.prompt.empty() && !d.inputs.empty()) dump_usage_error("give --inputs or --prompt, not both");
  return cli::run_reporting_errors("t5gemma2-dump", 2, [&] {
    if (d.threads > 0) t5gemma2::set_num_threads(d.threads);
    t5gemma2::keep_freed_memory();
    t5gemma2::select_target(d.target);
    using t5gemma2::bf16_t;
    if (d.precision == "hf-bf16") return run<bf16_t, t5gemma2::HfBf16>(d);
    if (d.precision == "bf16-weights") return run<bf16_t, t5gemma2::F32>(d);
    return run<float, t5gemma2::F32>(d);
  });
}
