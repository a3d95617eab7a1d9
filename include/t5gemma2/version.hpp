// t5gemma2 — version and the versioned namespace.
//
// Every public symbol lives in t5gemma2::v0_1 (an inline namespace opened by
// T5GEMMA2_NAMESPACE_BEGIN), so two
// vendored copies of different versions can be linked into one program without clashing,
// while users keep writing plain `t5gemma2::...`.
#pragma once

#define T5GEMMA2_VERSION_MAJOR 0
#define T5GEMMA2_VERSION_MINOR 1
#define T5GEMMA2_VERSION_PATCH 0
#define T5GEMMA2_VERSION_STRING "0.1.0"

#define T5GEMMA2_NAMESPACE_BEGIN \
  namespace t5gemma2 {           \
  inline namespace v0_1 {
#define T5GEMMA2_NAMESPACE_END \
  }                            \
  }
