// t5gemma2 command-line tools — argument values and prompt files, checked strictly.
//
// Numbers must be numbers and whole (no "1.5" seed, no "-1" thread count, no 2^40 that wraps):
// every parse checks the full text and the range and names the flag. Prompt files must be
// regular files (a pipe or /dev/zero would never end) of bounded size.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "t5gemma2/config.hpp"
#include "t5gemma2/file_io.hpp"
#include "t5gemma2/generation_options.hpp"
#include "t5gemma2/progress.hpp"
#include "t5gemma2/tokenizer.hpp"

namespace t5gemma2_cli {

using UsageFail = void (*)(const std::string&);  // prints the message and usage, exits with 2

inline constexpr std::size_t kMaxPromptFileBytes = std::size_t(256) << 20;
// A token covers at most this many bytes of text (Gemma 3's longest pieces are runs of ~31
// whitespace characters): a prompt longer than limit × this cannot fit and is refused before
// the tokenizer spends memory on it.
inline constexpr std::size_t kMaxBytesPerToken = 256;

inline long long int_value(const std::string& flag, const std::string& v, long long lo, long long hi, UsageFail fail) {
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE || x < lo || x > hi)
    fail(flag + " needs an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + v + "'");
  return x;
}

inline uint64_t u64_value(const std::string& flag, const std::string& v, UsageFail fail) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v[0] == '-' || v[0] == '+' || *end != '\0' || errno == ERANGE)
    fail(flag + " needs an integer in [0, 2^64 - 1], got '" + v + "'");
  return x;
}

inline double number_value(const std::string& flag, const std::string& v, UsageFail fail) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(x)) fail(flag + " needs a finite number, got '" + v + "'");
  return x;
}

// The prompts of a --prompt-file: one per non-empty line, or the whole file as one prompt.
inline std::vector<std::string> read_prompt_file(const std::string& path, bool whole_file, UsageFail fail) {
  std::string text;
  try {
    text = t5gemma2::read_regular_file(path, kMaxPromptFileBytes, "prompt file");
  } catch (const t5gemma2::Error& e) {
    fail(std::string("--prompt-file: ") + e.what());
  }
  std::vector<std::string> prompts;
  if (whole_file) {
    if (!text.empty() && text.back() == '\n') text.pop_back();
    prompts.push_back(std::move(text));
  } else {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) prompts.push_back(line);
  }
  return prompts;
}

// Runs a tool's work: whatever it throws becomes one "TOOL: error: ..." line on stderr and the
// exit code `failure` (bad_alloc named as running out of memory, not as a bare runtime text).
template <class Fn>
int run_reporting_errors(const char* tool, int failure, Fn&& work) {
  try {
    const int status = work();
    // Output that never arrived is a failure: stdout on a full disk or a closed pipe.
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      std::fprintf(stderr, "%s: error: cannot write to standard output (%s)\n", tool, std::strerror(errno));
      return failure;
    }
    return status;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory: the model and inputs need more memory than this process may use\n", tool);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", tool, e.what());
  }
  return failure;
}

// "12.3s" or "4m05s".
inline std::string duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  return buf;
}

// The text of one progress-bar line for an encode that has run `elapsed` seconds:
//   encoding [#######.............] 35% | layer 7/18, rows 45056/131072 | 1m02s, ETA 1m55s
// The rows are those of the current layer (a layer first computes the keys and values of every
// row, then the rest row chunk by row chunk). No ETA until 1 % of the work is done: an estimate
// from less would be noise.
inline std::string progress_line(const t5gemma2::Progress& p, double elapsed) {
  const double fraction = p.work_total > 0 ? std::clamp(p.work_done / p.work_total, 0.0, 1.0) : 0.0;
  const int width = 20, filled = int(fraction * width);
  const std::string eta = fraction >= 0.01 ? duration(elapsed * (1 - fraction) / fraction) : "--";
  const std::string rows = p.rows_done > 0 ? "rows " + std::to_string(p.rows_done) + "/" + std::to_string(p.rows)
                                           : "keys and values of " + std::to_string(p.rows) + " rows";
  char head[96];
  std::snprintf(head, sizeof head, "] %3d%% | layer %d/%d, ", int(fraction * 100), p.layer + 1, p.layers);
  return "encoding [" + std::string(std::size_t(filled), '#') + std::string(std::size_t(width - filled), '.') + head + rows + " | " +
         duration(elapsed) + ", ETA " + eta;
}

// Refuses prompt `index` (1-based) before tokenizing when its bytes cannot fit `limit` tokens.
inline void check_prompt_bytes(const std::string& prompt, std::size_t index, long long limit) {
  if (limit <= 0 || prompt.size() <= std::size_t(limit) * kMaxBytesPerToken) return;
  throw t5gemma2::Error("prompt " + std::to_string(index) + " is " + t5gemma2::byte_count(prompt.size()) +
                        " long: more than " + std::to_string(limit) + " tokens (the limit) can hold");
}

// Prompts tokenized for the encoder, each with the number of images it takes.
struct TokenizedPrompts {
  std::vector<std::vector<int>> ids;   // [prompt][tokens]: BOS + the expanded prompt
  std::vector<std::size_t> images_of;  // [prompt]: its images, in order after the previous prompt's
};

// The CLI's, `t5gemma2 embed`'s and the Python module's prompt checks, in one place: each prompt's
// bytes before tokenizing, its tokens against `limit` (0: none; `limit_source` says where the
// limit comes from), and its images — a single prompt takes them all, several prompts as many
// as each has <start_of_image> markers, and the markers must use every image.
inline TokenizedPrompts tokenize_prompts(const t5gemma2::Tokenizer& tok, const t5gemma2::ModelConfig& c,
                                         const std::vector<std::string>& prompts, std::size_t images, int limit,
                                         const std::string& limit_source) {
  TokenizedPrompts out;
  std::size_t markers = 0;
  for (std::size_t b = 0; b < prompts.size(); ++b) {
    check_prompt_bytes(prompts[b], b + 1, limit);
    const std::size_t n = prompts.size() == 1 ? images : t5gemma2::count_markers(prompts[b]);
    markers += n;
    if (markers > images)
      throw t5gemma2::Error("the prompts have more <start_of_image> markers than the " + std::to_string(images) + " image(s) given");
    out.ids.push_back(t5gemma2::encode_prompt(tok, c, prompts[b], n));
    out.images_of.push_back(n);
    if (limit > 0 && int(out.ids.back().size()) > limit)
      throw t5gemma2::Error("prompt " + std::to_string(b + 1) + " is " + std::to_string(out.ids.back().size()) +
                            " tokens long; the limit is " + std::to_string(limit) + " (" + limit_source + ")");
  }
  if (markers != images)
    throw t5gemma2::Error(std::to_string(images) + " images given but the prompts' markers use " + std::to_string(markers));
  return out;
}

// Generation options given by the user (the CLI's flags, the module's keywords); unset ones take
// generation_config.json's values, as HF's generate() does.
struct GenerationOverrides {
  std::optional<int> max_new_tokens, num_beams, num_return_sequences, no_repeat_ngram_size, min_new_tokens;
  std::optional<double> length_penalty, repetition_penalty;
  std::optional<std::string> early_stopping;  // "true", "false" or "never"
};

// The options a generation runs with: `o` over the model's defaults (max_new_tokens: 32 when
// neither sets it; num_return_sequences: 1 when num_beams is given but it is not).
inline t5gemma2::GenerationOptions generation_options(const t5gemma2::GenerationDefaults& d, const GenerationOverrides& o) {
  using t5gemma2::EarlyStopping;
  t5gemma2::GenerationOptions g;
  g.max_new_tokens = o.max_new_tokens.value_or(d.max_new_tokens > 0 ? d.max_new_tokens : 32);
  g.beam.num_beams = o.num_beams.value_or(d.num_beams);
  g.beam.num_return_sequences = o.num_return_sequences.value_or(o.num_beams ? 1 : d.num_return_sequences);
  g.beam.length_penalty = o.length_penalty.value_or(d.length_penalty);
  const std::string early = o.early_stopping.value_or(d.early_stopping);
  g.beam.early_stopping = early == "true" ? EarlyStopping::kWhenFull : early == "never" ? EarlyStopping::kNever : EarlyStopping::kHeuristic;
  g.processing.repetition_penalty = float(o.repetition_penalty.value_or(d.repetition_penalty));
  g.processing.no_repeat_ngram_size = o.no_repeat_ngram_size.value_or(d.no_repeat_ngram_size);
  g.processing.min_new_tokens = o.min_new_tokens.value_or(d.min_new_tokens);
  return g;
}

// Where the encoder's default prompt limit comes from, for tokenize_prompts' messages.
inline const char* kPositionsLimit = "the encoder's max_position_embeddings in config.json";

}  // namespace t5gemma2_cli
