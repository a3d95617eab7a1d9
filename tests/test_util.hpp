// Helpers shared by the tests.
#pragma once

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <string>

#include "t5gemma2/error.hpp"

inline std::string test_data(const std::string& rel) { return std::string(T5GEMMA2_TEST_DATA) + "/" + rel; }
inline std::string demo_model(const std::string& rel = "") {
  return std::string(T5GEMMA2_MODELS_DIR) + "/demo" + (rel.empty() ? "" : "/" + rel);
}

// "07" for 7: sample names of the demo goldens.
inline std::string two_digits(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d", i);
  return buf;
}

// A field of /proc/self/status in bytes (VmRSS: resident now, VmHWM: peak).
inline double status_bytes(const char* field) {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field))) * 1024.0;
  return 0;
}

// A fresh temporary directory, removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "t5gemma2-test-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Requires `expr` to throw t5gemma2::Error whose message contains every given fragment.
#define REQUIRE_ERROR_MENTIONS(expr, ...)                                               \
  do {                                                                                  \
    bool thrown_ = false;                                                               \
    try {                                                                               \
      (void)(expr);                                                                     \
    } catch (const t5gemma2::Error& e_) {                                               \
      thrown_ = true;                                                                   \
      const std::string what_ = e_.what();                                              \
      INFO("error message: " << what_);                                                 \
      for (const char* fragment_ : {__VA_ARGS__}) CHECK(what_.find(fragment_) != std::string::npos); \
    }                                                                                   \
    CHECK(thrown_);                                                                     \
  } while (0)
