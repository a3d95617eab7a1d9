// t5gemma2 — text and images in, text out.
//
//   t5gemma2 [--model DIR] [--image PATH]... [--prompt TEXT]... [--prompt-file F [--whole-file]]
//            [--max-input-tokens N] [--max-new-tokens N] [--temperature T] [--top-k K]
//            [--top-p P] [--seed S] [--num-beams N] [--num-return-sequences N] [--length-penalty X]
//            [--early-stopping true|false|never] [--repetition-penalty X] [--no-repeat-ngram-size N]
//            [--min-new-tokens N] [--threads N] [--target NAME] [--precision P] [--cross-kv-bf16]
//            [--synthetic-seed S]
//
// Without --model it runs the demo model bundled in the repository (models/demo).
// Exit status: 0 ok, 1 an error in the model, inputs or generation, 2 bad arguments.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include "cli_args.hpp"
#include "default_model.hpp"
#include "t5gemma2/t5gemma2.hpp"

namespace {

using namespace t5gemma2;

// The usage text; %s: the default model folder.
const char* kUsageFormat =
    "usage: t5gemma2 [--model DIR] [--image PATH]... [--prompt TEXT]... [--prompt-file F [--whole-file]]\n"
    "                [--max-input-tokens N] [--max-new-tokens N] [--temperature T] [--top-k K]\n"
    "                [--top-p P] [--seed S] [--num-beams N] [--num-return-sequences N]\n"
    "                [--length-penalty X] [--early-stopping true|false|never] [--repetition-penalty X]\n"
    "                [--no-repeat-ngram-size N] [--min-new-tokens N] [--threads N] [--target NAME]\n"
    "                [--precision P] [--cross-kv-bf16] [--synthetic-seed S]\n"
    "\n"
    "Generates text with a T5Gemma 2 checkpoint (config.json, model.safetensors, tokenizer.model).\n"
    "`t5gemma2 embed --help`: sentence embeddings from the encoder alone.\n"
    "  --model DIR         checkpoint directory (default: the bundled demo model,\n"
    "                      %s)\n"
    "  --image PATH        an image (PNG, JPEG, BMP, GIF, PGM/PPM); repeatable. Each\n"
    "                      <start_of_image> in the prompt takes the next image; a prompt without\n"
    "                      markers gets one per image in front\n"
    "  --prompt TEXT       the prompt; repeat for a batch (left-padded, as Gemma's tokenizer)\n"
    "  --prompt-file F     prompts from a file, one per line\n"
    "  --whole-file        each --prompt-file is ONE prompt, newlines included (long documents)\n"
    "  --max-input-tokens N  longest prompt accepted, in tokens (default: the encoder's\n"
    "                      max_position_embeddings; a larger N runs past the trained positions)\n"
    "  --max-new-tokens N  stop after N tokens (default: generation_config.json's, else 32)\n"
    "  --temperature T     sample with temperature T (default 0: greedy)\n"
    "  --top-k K, --top-p P  sampling filters (default off)\n"
    "  --seed S            sampling seed (default 0): same seed, same output\n"
    "  --num-beams N       beam search with N beams, as HF generate() (default 1: greedy)\n"
    "  --num-return-sequences N  print the N best hypotheses per prompt (<= num beams) as\n"
    "                      'rank<TAB>score<TAB>text' lines\n"
    "  --length-penalty X  beam score = sum of log-probs / length^X (default 1)\n"
    "  --early-stopping E  true: stop when num-beams hypotheses are done; false (default): HF's\n"
    "                      heuristic; never: only when no beam can improve\n"
    "  --repetition-penalty X  HF's repetition penalty (default 1: off)\n"
    "  --no-repeat-ngram-size N  never repeat an N-gram of the output (default 0: off)\n"
    "  --min-new-tokens N  no EOS before N new tokens (default 0)\n"
    "                      (defaults of these: generation_config.json's when it sets them)\n"
    "  --threads N         worker threads (default: all cores); results do not depend on it\n"
    "  --target NAME       SIMD kernels: a name listed below, or 'scalar' for the reference\n"
    "                      (default: the first, the best this CPU runs); results are identical\n"
    "  --precision P       f32 (default): f32 weights and activations, the reference;\n"
    "                      bf16-weights: weights kept as bfloat16 (half the memory), f32\n"
    "                      activations; hf-bf16: what transformers computes after\n"
    "                      model.to(torch.bfloat16) on a CPU, bit for bit (docs/numerics.md)\n"
    "  --bf16              same as --precision bf16-weights\n"
    "  --cross-kv-bf16     store the decoder's cross keys/values as bfloat16: half the bytes a\n"
    "                      step reads on long inputs; NOT bit-exact with the reference\n"
    "  --synthetic-seed S  generate the weights (synth-weights-v1, seed S) instead of reading\n"
    "                      them: DIR then needs only config.json and tokenizer.model (benchmarks,\n"
    "                      long-input runs of the full-size presets)\n"
    "The generated text is printed as it is produced (one line per prompt).\n";

std::string usage_text() {
  const std::string model = t5gemma2_cli::program_default_model();
  std::string text(std::size_t(std::snprintf(nullptr, 0, kUsageFormat, model.c_str())), '\0');
  std::snprintf(text.data(), text.size() + 1, kUsageFormat, model.c_str());
  return text;
}

[[noreturn]] void bad_usage(const std::string& why) {
  std::fprintf(stderr, "t5gemma2: %s\n\n%s", why.c_str(), usage_text().c_str());
  std::exit(2);
}

// Prints "t5gemma2: <what>..." on stderr when a step is still running after one second, and
// how long it took when it ends.
class StepNotice {
 public:
  explicit StepNotice(std::string what) : what_(std::move(what)), start_(Clock::now()) {
    try {
      watcher_ = std::thread([this] {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!done_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; })) {
          std::fprintf(stderr, "t5gemma2: %s...\n", what_.c_str());
          shown_ = true;
        }
      });
    } catch (const std::system_error&) {  // no thread to spare (a process limit): no notice
    }
  }
  ~StepNotice() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    if (watcher_.joinable()) watcher_.join();
    if (shown_)
      std::fprintf(stderr, "t5gemma2: %s done (%.1f s)\n", what_.c_str(),
                   std::chrono::duration<double>(Clock::now() - start_).count());
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  Clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  bool shown_ = false;
  std::thread watcher_;
};

// The encoder's progress bar on stderr (long prompts): shown once an encode has run for a
// second; on a terminal one line redrawn a few times a second, otherwise a line per 10 %
// (cli_args.hpp: progress_line).
class EncodeProgressBar {
 public:
  explicit EncodeProgressBar(int tokens) : tokens_(tokens), start_(Clock::now()), tty_(isatty(fileno(stderr))) {}
  ~EncodeProgressBar() {
    if (shown_)
      std::fprintf(stderr, "%st5gemma2: encoded %d tokens in %s\n", tty_ ? "\n" : "", tokens_, t5gemma2_cli::duration(elapsed()).c_str());
  }

  void operator()(const Progress& p) {
    const double t = elapsed(), fraction = p.work_total > 0 ? p.work_done / p.work_total : 0.0;
    if (t < 1.0) return;
    if (tty_ ? t - last_ < 0.25 && fraction < 1.0 : fraction < next_tenth_) return;
    last_ = t;
    next_tenth_ = std::floor(fraction * 10 + 1) / 10;
    shown_ = true;
    std::fprintf(stderr, "%s%s%s", tty_ ? "\r" : "", t5gemma2_cli::progress_line(p, t).c_str(), tty_ ? "\x1b[K" : "\n");
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  int tokens_;
  Clock::time_point start_;
  bool tty_;
  bool shown_ = false;
  double last_ = 0, next_tenth_ = 0;
};

struct Args {
  std::string model = t5gemma2_cli::program_default_model();
  std::vector<std::string> images;
  std::vector<std::string> prompts;
  SamplingOptions sampling;
  t5gemma2_cli::GenerationOverrides generation;  // unset ones: generation_config.json's values
  int threads = 0;
  std::string target;
  std::string precision = "f32";
  bool cross_kv_bf16 = false;
  bool whole_file = false;
  std::vector<std::string> prompt_files;
  int max_input_tokens = 0;  // 0: max_position_embeddings
  long long synthetic_seed = -1;  // < 0: read the checkpoint
};

double number_arg(const std::string& flag, const std::string& v) { return t5gemma2_cli::number_value(flag, v, bad_usage); }

int int_arg(const std::string& flag, const std::string& v, long lo, long hi) {
  return int(t5gemma2_cli::int_value(flag, v, lo, hi, bad_usage));
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) bad_usage(f + " needs a value");
      return argv[++i];
    };
    if (f == "--help" || f == "-h") {
      std::fputs(usage_text().c_str(), stdout);
      std::string targets;
      for (const std::string& t : available_targets()) targets += (targets.empty() ? "" : ", ") + t;
      std::printf("SIMD targets of this build on this CPU: %s\n", targets.c_str());
      std::exit(0);
    } else if (f == "--model") {
      a.model = value();
    } else if (f == "--image") {
      a.images.push_back(value());
    } else if (f == "--prompt") {
      a.prompts.push_back(value());
    } else if (f == "--prompt-file") {
      a.prompt_files.push_back(value());
    } else if (f == "--whole-file") {
      a.whole_file = true;
    } else if (f == "--max-input-tokens") {
      a.max_input_tokens = int_arg(f, value(), 1, 1 << 30);
    } else if (f == "--synthetic-seed") {
      a.synthetic_seed = int_arg(f, value(), 0, 1 << 30);
    } else if (f == "--cross-kv-bf16") {
      a.cross_kv_bf16 = true;
    } else if (f == "--max-new-tokens") {
      a.generation.max_new_tokens = int_arg(f, value(), 1, 1 << 20);
    } else if (f == "--temperature") {
      a.sampling.temperature = float(number_arg(f, value()));
      if (a.sampling.temperature < 0) bad_usage("--temperature must be >= 0");
    } else if (f == "--top-k") {
      a.sampling.top_k = int_arg(f, value(), 0, 1 << 30);
    } else if (f == "--top-p") {
      a.sampling.top_p = float(number_arg(f, value()));
      if (!(a.sampling.top_p > 0 && a.sampling.top_p <= 1)) bad_usage("--top-p must be in (0, 1]");
    } else if (f == "--seed") {
      a.sampling.seed = t5gemma2_cli::u64_value(f, value(), bad_usage);
    } else if (f == "--num-beams") {
      a.generation.num_beams = int_arg(f, value(), 1, 1024);
    } else if (f == "--num-return-sequences") {
      a.generation.num_return_sequences = int_arg(f, value(), 1, 1024);
    } else if (f == "--length-penalty") {
      a.generation.length_penalty = number_arg(f, value());
    } else if (f == "--early-stopping") {
      a.generation.early_stopping = value();
      if (*a.generation.early_stopping != "true" && *a.generation.early_stopping != "false" && *a.generation.early_stopping != "never")
        bad_usage("--early-stopping must be true, false or never, not '" + *a.generation.early_stopping + "'");
    } else if (f == "--repetition-penalty") {
      a.generation.repetition_penalty = number_arg(f, value());
      if (!(*a.generation.repetition_penalty > 0)) bad_usage("--repetition-penalty must be > 0");
    } else if (f == "--no-repeat-ngram-size") {
      a.generation.no_repeat_ngram_size = int_arg(f, value(), 0, 1 << 20);
    } else if (f == "--min-new-tokens") {
      a.generation.min_new_tokens = int_arg(f, value(), 0, 1 << 20);
    } else if (f == "--threads") {
      a.threads = int_arg(f, value(), 1, 1024);
    } else if (f == "--target") {
      a.target = value();
    } else if (f == "--bf16") {
      a.precision = "bf16-weights";
    } else if (f == "--precision") {
      a.precision = value();
      if (a.precision != "f32" && a.precision != "bf16-weights" && a.precision != "hf-bf16")
        bad_usage("--precision must be f32, bf16-weights or hf-bf16, not '" + a.precision + "'");
    } else {
      bad_usage("unknown argument '" + f + "'");
    }
  }
  for (const std::string& path : a.prompt_files)
    for (std::string& p : t5gemma2_cli::read_prompt_file(path, a.whole_file, bad_usage)) a.prompts.push_back(std::move(p));
  if (a.whole_file && a.prompt_files.empty()) bad_usage("--whole-file applies to --prompt-file; none given");
  if (a.prompts.empty() && a.images.empty()) bad_usage("give a --prompt, a --prompt-file or an --image");
  if (a.prompts.empty()) a.prompts.push_back("");
  return a;
}

template <class W, class Precision>
int run(const Args& a) {
  // The configuration and the tokenizer first: prompts are checked before the weights load.
  const ModelConfig c = load_model_config(a.model);
  check_takes_images(c, a.images.size(), "--image");
  const Tokenizer tok = load_tokenizer(a.model, c);

  // Tokenize every prompt and check its length before any other work; then assign images to
  // prompts by marker count (a single prompt takes them all).
  const int limit = a.max_input_tokens > 0 ? a.max_input_tokens : c.encoder.max_position_embeddings;
  const t5gemma2_cli::TokenizedPrompts tokenized = t5gemma2_cli::tokenize_prompts(
      tok, c, a.prompts, a.images.size(), limit,
      a.max_input_tokens > 0 ? "--max-input-tokens" : std::string(t5gemma2_cli::kPositionsLimit) + "; --max-input-tokens N overrides it");
  const std::vector<std::vector<int>>& ids = tokenized.ids;
  const std::vector<std::size_t>& images_of = tokenized.images_of;
  if (a.max_input_tokens > c.encoder.max_position_embeddings && c.encoder.max_position_embeddings > 0)
    for (const auto& p : ids)
      if (int(p.size()) > c.encoder.max_position_embeddings) {
        std::fprintf(stderr, "t5gemma2: note: %zu tokens exceed max_position_embeddings = %d; positions past it were not trained\n",
                     p.size(), c.encoder.max_position_embeddings);
        break;
      }
  using M = Model<RuntimeDims, W, HwyDynamicTarget, Precision>;
  std::unique_ptr<M> model;
  {
    StepNotice p("loading " + a.model);
    model = a.synthetic_seed < 0 ? std::make_unique<M>(a.model)
                                 : std::make_unique<M>(c, synthetic_checkpoint(uint64_t(a.synthetic_seed), /*with_vision=*/false));
  }
  std::vector<std::vector<Tensor>> pixels(a.prompts.size());
  for (std::size_t b = 0, next_image = 0; b < a.prompts.size(); ++b)
    for (std::size_t i = 0; i < images_of[b]; ++i, ++next_image) {
      StepNotice p("preprocessing " + a.images[next_image]);
      pixels[b].push_back(preprocess_image(load_image(a.images[next_image]), c.vision.image_size));
    }

  const PaddedBatch batch = pad_left(ids, c.pad_token_id);
  std::vector<Tensor> encoded;
  for (std::size_t b = 0; b < ids.size(); ++b) {
    std::vector<Tensor> features;
    {
      StepNotice p("vision encoder");
      for (const Tensor& px : pixels[b]) features.push_back(model->image_features(px));
    }
    EncodeProgressBar bar(int(batch.ids[b].size()));
    Observer observe;
    observe.progress = [&](const Progress& p) { bar(p); };
    encoded.push_back(model->encode_embeddings(model->encoder_embeddings(batch.ids[b], features), batch.valid[b], observe));
  }

  GenerationOptions options = t5gemma2_cli::generation_options(c.generation, a.generation);
  if (options.beam.num_return_sequences > options.beam.num_beams)
    throw Error("--num-return-sequences " + std::to_string(options.beam.num_return_sequences) + " exceeds the number of beams (" +
                std::to_string(options.beam.num_beams) + ")");
  if (options.beam.num_beams > 1 && a.sampling.temperature > 0)
    throw Error("--temperature with --num-beams > 1 (beam sampling) is not supported");
  const int dec_limit = c.decoder.max_position_embeddings;
  if (dec_limit > 0 && options.max_new_tokens + 1 > dec_limit)
    throw Error("--max-new-tokens " + std::to_string(options.max_new_tokens) + " exceeds the decoder's " +
                std::to_string(dec_limit) + " positions (max_position_embeddings)");
  options.sampling = a.sampling;
  options.cross_kv_bf16 = a.cross_kv_bf16;
  const bool beams = options.beam.num_beams > 1;
  const bool stream = ids.size() == 1 && !beams;
  std::vector<std::vector<int>> generated(ids.size());
  std::string printed;
  options.on_token = [&](std::size_t b, int token) {
    generated[b].push_back(token);
    if (!stream) return;
    const std::string text = tok.decode(generated[b], /*skip_special=*/true);
    if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0) {
      std::fputs(text.c_str() + printed.size(), stdout);
      std::fflush(stdout);
      printed = text;
    }
  };
  const std::vector<Generation> out = generate_from_encoded(*model, encoded, batch.valid, options);
  if (beams) {  // hypotheses are known only at the end
    const int per_prompt = options.beam.num_return_sequences;
    for (std::size_t r = 0; r < out.size(); ++r) {
      const std::vector<int> tokens(out[r].sequence.begin() + 1, out[r].sequence.end());
      const std::string text = tok.decode(tokens, true);
      if (per_prompt > 1) std::printf("%d\t%.6f\t%s\n", int(r % std::size_t(per_prompt)) + 1, double(out[r].score), text.c_str());
      else std::printf("%s\n", text.c_str());
    }
  } else if (stream) {
    const std::string text = tok.decode(generated[0], true);  // anything held back mid-character
    if (text.size() > printed.size()) std::fputs(text.c_str() + printed.size(), stdout);
    std::fputc('\n', stdout);
  } else {
    for (std::size_t b = 0; b < out.size(); ++b) std::printf("%s\n", tok.decode(generated[b], true).c_str());
  }
  return 0;
}

}  // namespace

int embed_main(int argc, char** argv);  // embed_command.cpp: `t5gemma2 embed ...`

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "embed") return embed_main(argc - 1, argv + 1);
  const Args args = parse_args(argc, argv);
  keep_freed_memory();
  if (args.threads > 0) set_num_threads(args.threads);
  try {
    select_target(args.target);
  } catch (const Error& e) {
    bad_usage(std::string("--target: ") + e.what());
  }
  return t5gemma2_cli::run_reporting_errors("t5gemma2", 1, [&] {
    if (args.precision == "hf-bf16") return run<bf16_t, HfBf16>(args);
    return args.precision == "bf16-weights" ? run<bf16_t, F32>(args) : run<float, F32>(args);
  });
}
