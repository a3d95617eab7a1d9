// `t5gemma2 embed`: the encoder as an embedding model (sentence_embeddings.hpp).
//
//   t5gemma2 embed [--model DIR] [--pooling mean|first|last|none] [--normalize] [--image PATH]...
//                  (--prompt TEXT... | --prompt-file F) --out FILE.npy|FILE.safetensors|-
//
// Loads only the encoder (and the vision tower when images are given): the decoder's tensors are
// never read. One vector per prompt (pooling over its tokens; none: one per token).
//   .npy          float32 [prompts, H] (pooling none: one prompt, [tokens, H]) — written with
//                 xtensor's dump_npy over a zero-copy xt::adapt view
//   .safetensors  "embeddings" [prompts, H], or "embedding.<i>" [tokens_i, H] for pooling none
//   -             JSON lines on stdout: {"prompt": i, "embedding": [...]} ([[...], ...] for none)
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xnpy.hpp>

#include "cli_args.hpp"
#include "default_model.hpp"
#include "t5gemma2/sentence_embeddings.hpp"
#include "t5gemma2/image.hpp"
#include "t5gemma2/memory.hpp"
#include "t5gemma2/model.hpp"
#include "t5gemma2/ops/dispatch.hpp"
#include "t5gemma2/safetensors.hpp"
#include "t5gemma2/tokenizer.hpp"

namespace {

using namespace t5gemma2;

const char* kEmbedUsage =
    "usage: t5gemma2 embed [--model DIR] [--pooling mean|first|last|none] [--normalize] [--image PATH]...\n"
    "                      (--prompt TEXT... | --prompt-file F) --out FILE.npy|FILE.safetensors|-\n"
    "Encodes each prompt with the encoder alone (the decoder is never loaded) and writes one vector\n"
    "per prompt: the encoder's last hidden state pooled over the prompt's tokens.\n"
    "  --pooling P     mean (default), first (the first token, CLS-style), last, or none (every\n"
    "                  token's state)\n"
    "  --normalize     divide each vector by its L2 norm\n"
    "  --image PATH    an image for the <start_of_image> markers (as in generation); repeatable\n"
    "  --prompt-file F one prompt per line\n"
    "  --out FILE      .npy (float32 [prompts, H]; pooling none: one prompt, [tokens, H]),\n"
    "                  .safetensors ('embeddings' [prompts, H]; none: 'embedding.<i>'), or - for\n"
    "                  JSON lines on stdout\n"
    "  --threads N, --target NAME   as for generation\n";

[[noreturn]] void embed_usage_error(const std::string& msg) {
  std::fprintf(stderr, "t5gemma2 embed: %s\n\n%s", msg.c_str(), kEmbedUsage);
  std::exit(2);
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void write_json_lines(const std::vector<Tensor>& vectors, bool one_per_token) {
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    std::string line = "{\"prompt\": " + std::to_string(i) + ", \"embedding\": ";
    const Tensor& v = vectors[i];
    if (one_per_token) line += "[";
    for (int r = 0; r < v.rows; ++r) {
      line += (r ? ", [" : "[");
      for (int c = 0; c < v.cols; ++c) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%.9g", c ? ", " : "", double(v.at(r, c)));
        line += buf;
      }
      line += "]";
    }
    if (one_per_token) line += "]";
    std::printf("%s}\n", line.c_str());
  }
}

}  // namespace

int embed_main(int argc, char** argv) {
  std::string model_dir = t5gemma2_cli::program_default_model(), out, pooling_name = "mean", target;
  std::vector<std::string> prompts, images;
  bool normalize = false;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) embed_usage_error(f + " needs a value");
      return argv[++i];
    };
    if (f == "--model") model_dir = value();
    else if (f == "--pooling") pooling_name = value();
    else if (f == "--normalize") normalize = true;
    else if (f == "--image") images.push_back(value());
    else if (f == "--prompt") prompts.push_back(value());
    else if (f == "--prompt-file") {
      for (std::string& p : t5gemma2_cli::read_prompt_file(value(), false, embed_usage_error)) prompts.push_back(std::move(p));
    } else if (f == "--out") out = value();
    else if (f == "--threads") threads = int(t5gemma2_cli::int_value(f, value(), 1, 1024, embed_usage_error));
    else if (f == "--target") target = value();
    else if (f == "--help" || f == "-h") {
      std::printf("%s", kEmbedUsage);
      return 0;
    } else embed_usage_error("unknown argument '" + f + "'");
  }
  if (prompts.empty()) embed_usage_error("no prompt (--prompt TEXT or --prompt-file F)");
  if (out.empty()) embed_usage_error("no --out (FILE.npy, FILE.safetensors or -)");
  if (out != "-" && !ends_with(out, ".npy") && !ends_with(out, ".safetensors"))
    embed_usage_error("--out must end in .npy or .safetensors, or be - (JSON lines)");
  Pooling pooling;
  try {
    pooling = parse_pooling(pooling_name);
  } catch (const Error& e) {
    embed_usage_error(std::string("--pooling: ") + e.what());
  }
  const bool per_token = pooling == Pooling::kNone;
  if (per_token && ends_with(out, ".npy") && prompts.size() != 1)
    embed_usage_error("--pooling none writes one [tokens, H] array per prompt: use .safetensors or - for several prompts");

  return t5gemma2_cli::run_reporting_errors("t5gemma2 embed", 1, [&] {
    if (threads > 0) set_num_threads(threads);
    keep_freed_memory();
    select_target(target);
    const ModelConfig c = load_model_config(model_dir);
    check_takes_images(c, images.size(), "--image");
    const Tokenizer tok = load_tokenizer(model_dir, c);
    const t5gemma2_cli::TokenizedPrompts tokenized =
        t5gemma2_cli::tokenize_prompts(tok, c, prompts, images.size(), c.encoder.max_position_embeddings, t5gemma2_cli::kPositionsLimit);
    const std::vector<std::vector<int>>& ids = tokenized.ids;
    const std::vector<std::size_t>& images_of = tokenized.images_of;

    using M = Model<RuntimeDims, float, HwyDynamicTarget>;
    const M model(model_dir, ModelParts{/*decoder=*/false, /*vision=*/!images.empty()});
    // Each prompt's images first (in order), then its embeddings; sentence_embeddings stacks them.
    std::vector<std::size_t> first_image(prompts.size() + 1, 0);
    for (std::size_t b = 0; b < prompts.size(); ++b) first_image[b + 1] = first_image[b] + images_of[b];
    const std::vector<Tensor> vectors = sentence_embeddings(
        model, prompts.size(),
        [&](std::size_t b) {
          std::vector<Tensor> features;
          for (std::size_t i = first_image[b]; i < first_image[b + 1]; ++i)
            features.push_back(model.image_features(preprocess_image(load_image(images[i]), c.vision.image_size)));
          return model.encoder_embeddings(ids[b], features);
        },
        pooling, normalize);

    const int H = c.encoder.hidden_size;
    if (out == "-") {
      write_json_lines(vectors, per_token);
    } else if (ends_with(out, ".npy")) {
      std::vector<float> flat;
      for (const Tensor& v : vectors) flat.insert(flat.end(), v.data.begin(), v.data.end());
      const std::vector<std::size_t> shape{per_token ? std::size_t(vectors[0].rows) : vectors.size(), std::size_t(H)};
      write_file_atomically(out, xt::dump_npy(xt::adapt(flat.data(), flat.size(), xt::no_ownership(), shape)));
    } else {
      SafetensorsWriter w;
      std::vector<float> flat;
      if (per_token) {
        for (std::size_t i = 0; i < vectors.size(); ++i)
          w.add_f32("embedding." + std::to_string(i), {vectors[i].rows, H}, vectors[i].data.data());
      } else {
        for (const Tensor& v : vectors) flat.insert(flat.end(), v.data.begin(), v.data.end());
        w.add_f32("embeddings", {int64_t(vectors.size()), H}, flat.data());
      }
      w.write(out);
    }
    return 0;
  });
}
