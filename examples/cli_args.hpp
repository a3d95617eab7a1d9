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
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "t5gemma2/file_io.hpp"
#include "t5gemma2/progress.hpp"

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

}  // namespace t5gemma2_cli
