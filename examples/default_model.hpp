// Where the bundled demo model is, for the CLI's default --model and the Python module's
// t5gemma2.demo_model: beside an installed program (its install tree's share/t5gemma2/demo,
// reached from the program's own file by a path fixed at configure time), else in the source
// tree the program was built from. So an installed copy keeps working when the source tree is
// moved or deleted, and a build-tree copy needs no install.
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace t5gemma2_cli {

// `binary`: the program's (or shared module's) file; `to_model`: the path from its folder to the
// installed model folder; `source_model`: the model folder in the source tree.
inline std::string demo_model_dir(const std::string& binary, const std::string& to_model, const std::string& source_model) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!binary.empty() && !to_model.empty()) {
    const fs::path installed = fs::path(binary).parent_path() / to_model;
    if (fs::is_regular_file(installed / "config.json", ec)) return fs::weakly_canonical(installed, ec).string();
  }
  return source_model;
}

// This program's executable file (Linux: /proc/self/exe), or "" when it cannot be read.
inline std::string executable_path() {
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

// The file of the executable or shared object that contains `symbol` (dladdr), or "".
inline std::string object_file_of(const void* symbol) {
  Dl_info info{};
  return dladdr(symbol, &info) && info.dli_fname ? std::string(info.dli_fname) : std::string();
}

#ifndef T5GEMMA2_DEFAULT_MODEL
#define T5GEMMA2_DEFAULT_MODEL "models/demo"  // the source tree's model (CMake passes its absolute path)
#endif
#ifndef T5GEMMA2_INSTALLED_MODEL
#define T5GEMMA2_INSTALLED_MODEL "../share/t5gemma2/demo"  // from the installed program's folder
#endif

// The command-line programs' default model.
inline std::string program_default_model() {
  return demo_model_dir(executable_path(), T5GEMMA2_INSTALLED_MODEL, T5GEMMA2_DEFAULT_MODEL);
}

}  // namespace t5gemma2_cli
