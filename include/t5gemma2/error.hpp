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

T5GEMMA2_NAMESPACE_END
