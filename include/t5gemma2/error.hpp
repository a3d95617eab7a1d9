// t5gemma2 — the one exception type of the library.
//
// Every failure caused by input (files, configs, tensors, prompts, images) is reported by
// throwing t5gemma2::Error with a message that names the offending file, key or tensor.
#pragma once

#include <stdexcept>
#include <string>

#include "t5gemma2/version.hpp"

T5GEMMA2_NAMESPACE_BEGIN

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws Error(message) when `condition` is false. The message is built only on failure.
template <class MakeMessage>
inline void check(bool condition, MakeMessage&& make_message) {
  if (!condition) throw Error(make_message());
}

inline void check(bool condition, const char* message) {
  if (!condition) throw Error(message);
}

// A name read from an input file, fit for a message: control bytes and bytes ≥ 0x7F that do not
// start valid UTF-8 are shown as \xNN, and at most `max` bytes are kept (a corrupt header must not
// print garbage or megabytes to the terminal).
inline std::string printable(const std::string& s, std::size_t max = 200) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && out.size() < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
    bool utf8 = c >= 0xC2 && c < 0xF5 && i + n <= s.size();
    for (std::size_t k = 1; utf8 && k < n; ++k) utf8 = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (c >= 0x20 && c < 0x7F) {
      out += char(c);
    } else if (utf8) {
      out.append(s, i, n);
      i += n - 1;
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (out.size() >= max && s.size() > max) out += "...";
  return out;
}

T5GEMMA2_NAMESPACE_END
