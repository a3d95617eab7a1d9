// t5gemma2 — a Hugging Face checkpoint directory: model.safetensors, or shards listed by
// model.safetensors.index.json, memory-mapped.
//
// Tensor names are normalised so that every accepted layout maps to one canonical name:
//   * a leading "model." is dropped            (model.encoder.norm.weight -> encoder.norm.weight)
//   * "encoder.text_model." becomes "encoder." (the newer transformers layout, docs/model.md §2)
// The loader takes tensors by canonical name; each is checked for dtype and shape, and every
// tensor of the file must be taken (or explicitly accepted as a tied duplicate): finish()
// lists what is missing and what is unexpected in one error (the first 20 names of each kind,
// and how many more).
#pragma once

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "t5gemma2/safetensors.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

inline std::string canonical_tensor_name(std::string name) {
  if (name.rfind("model.", 0) == 0) name = name.substr(6);
  static const std::string kNested = "encoder.text_model.";
  if (name.rfind(kNested, 0) == 0) name = "encoder." + name.substr(kNested.size());
  return name;
}

class Checkpoint {
 public:
  // Produces the f32 values of the tensor with a canonical name and shape (generator mode).
  using Generator = std::function<std::vector<float>(const std::string&, const std::vector<int64_t>&)>;

  // Generator mode: tensors are made on request (e.g. synthetic_weights.hpp); names under the
  // `generated_prefixes` exist, plus every text tensor, and no tied copies.
  Checkpoint(Generator generate, std::vector<std::string> optional_prefixes)
      : generate_(std::move(generate)), generated_prefixes_(std::move(optional_prefixes)) {}

  // `path` is a checkpoint directory or a single .safetensors file.
  explicit Checkpoint(const std::string& path) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    if (fs::is_directory(path)) {
      const std::string single = path + "/model.safetensors";
      const std::string index = path + "/model.safetensors.index.json";
      if (fs::exists(single)) {
        files.push_back(single);
      } else if (fs::exists(index)) {
        files = shard_files(index, path);
      } else {
        throw Error(path + ": no model.safetensors or model.safetensors.index.json");
      }
    } else {
      files.push_back(path);
    }
    for (const auto& f : files) {
      files_.push_back(std::make_unique<SafetensorsFile>(f));
      for (const TensorEntry& t : files_.back()->tensors()) {
        const std::string name = canonical_tensor_name(t.name);
        const auto added = by_name_.emplace(name, &t);  // (where, inserted)
        check(added.second, [&] {
          const TensorEntry& first = *added.first->second;
          return f + ": tensor '" + printable(t.name) + "' duplicates '" + printable(first.name) + "' (" + first.file + ")";
        });
      }
    }
  }

  bool has(const std::string& name) const { return by_name_.count(name) != 0; }

  // True when any tensor name starts with `prefix`.
  bool has_prefix(const std::string& prefix) const {
    if (generate_) {
      for (const auto& p : generated_prefixes_)
        if (p.rfind(prefix, 0) == 0 || prefix.rfind(p, 0) == 0) return true;
      return false;
    }
    auto it = by_name_.lower_bound(prefix);
    return it != by_name_.end() && it->first.rfind(prefix, 0) == 0;
  }

  // Marks every tensor under `prefix` as expected but not read (parts of the model left out on
  // purpose, e.g. the decoder of an encoder-only load): its bytes are never touched.
  void skip_prefix(const std::string& prefix) {
    for (auto it = by_name_.lower_bound(prefix); it != by_name_.end() && it->first.rfind(prefix, 0) == 0; ++it)
      taken_.insert(it->first);
  }

  // Returns the tensor, or nullptr (and records it as missing) when absent.
  const TensorEntry* take(const std::string& name, const std::vector<int64_t>& shape) {
    if (generate_) return generated(name, shape);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) {
      missing_.push_back(name);
      return nullptr;
    }
    const TensorEntry& t = *it->second;
    taken_.insert(name);
    check(t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F16, [&] {
      return t.file + ": tensor '" + t.name + "' has dtype " + dtype_name(t.dtype) + ", expected F32, BF16 or F16";
    });
    check(t.shape == shape, [&] {
      return t.file + ": tensor '" + t.name + "' has shape " + shape_string(t.shape) + ", expected " +
             shape_string(shape) + " from config.json";
    });
    return &t;
  }

  // Marks an optional tensor (e.g. a stored copy of a tied weight) as expected, checking its shape.
  void accept_optional(const std::string& name, const std::vector<int64_t>& shape) {
    if (!generate_ && has(name)) take(name, shape);
  }

  // A weight matrix [rows, cols] as W: zero-copy view into the map when the file already
  // stores W with suitable alignment, otherwise converted into an owned buffer.
  template <class W>
  WeightMatrix<W> matrix(const std::string& name, int rows, int cols) {
    const TensorEntry* t = take(name, {rows, cols});
    if (!t) return {};
    const W* data = as<W>(*t);
    release_generated(t);
    return WeightMatrix<W>{data, rows, cols};
  }

  // Same, for a tensor of any rank flattened into [rows, cols] (e.g. a conv kernel).
  template <class W>
  WeightMatrix<W> matrix_from(const std::string& name, const std::vector<int64_t>& shape, int rows, int cols) {
    const TensorEntry* t = take(name, shape);
    if (!t) return {};
    const W* data = as<W>(*t);
    release_generated(t);
    return WeightMatrix<W>{data, rows, cols};
  }

  // A matrix stored [in, out] in the file (used as x · M, e.g. mm_input_projection_weight),
  // returned transposed as [out, in] so it multiplies like every other weight.
  template <class W>
  WeightMatrix<W> matrix_transposed(const std::string& name, int file_rows, int file_cols) {
    const TensorEntry* t = take(name, {file_rows, file_cols});
    if (!t) return {};
    const std::vector<float> f = to_f32_vector(*t);
    auto buf = std::make_shared<std::vector<W>>(f.size());
    for (int r = 0; r < file_rows; ++r)
      for (int c = 0; c < file_cols; ++c)
        (*buf)[std::size_t(c) * std::size_t(file_rows) + std::size_t(r)] = weight_from_f32<W>(f[std::size_t(r) * std::size_t(file_cols) + std::size_t(c)]);
    owned_.push_back(buf);
    release_generated(t);
    return WeightMatrix<W>{buf->data(), file_cols, file_rows};
  }

  // A small f32 vector (norm weights, biases).
  WeightVector vector(const std::string& name, std::vector<int64_t> shape) {
    const TensorEntry* t = take(name, shape);
    if (!t) return WeightVector(std::size_t(shape_numel(shape)), 0.0f);
    WeightVector v = to_f32_vector(*t);
    release_generated(t);
    return v;
  }

  // True when every tensor of the files is stored as W's dtype (weights then map zero-copy
  // instead of being converted into memory of our own).
  template <class W>
  bool stores_only() const {
    if (generate_) return false;
    for (const auto& [name, t] : by_name_)
      if (t->dtype != (std::is_same_v<W, float> ? DType::F32 : DType::BF16)) return false;
    return true;
  }

  // Throws one Error naming the missing and the unexpected tensors (the first kListedNames of
  // each, then how many more: a wrong checkpoint can miss hundreds of thousands).
  static constexpr std::size_t kListedNames = 20;
  void finish() const {
    if (generate_) return;
    const auto listed = [](const std::vector<std::string>& names) {
      std::string out;
      for (std::size_t i = 0; i < names.size() && i < kListedNames; ++i) out += " " + printable(names[i]);
      if (names.size() > kListedNames) out += " ... and " + std::to_string(names.size() - kListedNames) + " more";
      return out;
    };
    std::string msg;
    if (!missing_.empty()) msg += "missing tensors (" + std::to_string(missing_.size()) + "):" + listed(missing_);
    std::vector<std::string> unexpected;
    for (const auto& [name, t] : by_name_)
      if (!taken_.count(name)) unexpected.push_back(t->name);
    if (!unexpected.empty()) {
      if (!msg.empty()) msg += "; ";
      msg += "unexpected tensors (" + std::to_string(unexpected.size()) + "):" + listed(unexpected);
    }
    check(msg.empty(), [&] { return (files_.empty() ? std::string("checkpoint") : files_.front()->path()) + ": " + msg; });
  }

 private:
  static std::vector<std::string> shard_files(const std::string& index, const std::string& dir) {
    nlohmann::json j = nlohmann::json::parse(read_all(index), nullptr, false);
    check(!j.is_discarded() && j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
          [&] { return index + ": not a JSON object with a 'weight_map' object"; });
    std::set<std::string> names;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      check(it.value().is_string(), [&] { return index + ": weight_map['" + it.key() + "'] is not a file name"; });
      const std::string f = it.value().get<std::string>();
      check(f.find('/') == std::string::npos && f.find("..") == std::string::npos,
            [&] { return index + ": shard name '" + f + "' must be a plain file name"; });
      names.insert(f);
    }
    std::vector<std::string> files;
    for (const auto& n : names) files.push_back(dir + "/" + n);
    return files;
  }

  static std::string read_all(const std::string& path) {
    return read_regular_file(path, std::size_t(64) << 20, "checkpoint index");
  }

  template <class W>
  const W* as(const TensorEntry& t) {
    const bool same_type = (std::is_same_v<W, float> && t.dtype == DType::F32) ||
                           (std::is_same_v<W, bf16_t> && t.dtype == DType::BF16);
    if (same_type && reinterpret_cast<std::uintptr_t>(t.data) % alignof(W) == 0) {
      keep_generated(&t);  // a generated f32 tensor used as it is: it becomes the weight
      return reinterpret_cast<const W*>(t.data);
    }
    const std::vector<float> f = to_f32_vector(t);
    auto buf = std::make_shared<std::vector<W>>(f.size());
    for (std::size_t i = 0; i < f.size(); ++i) (*buf)[i] = weight_from_f32<W>(f[i]);
    owned_.push_back(buf);
    return buf->data();
  }

  // A generated tensor's f32 values live until the weight made from them exists: then
  // release_generated frees them (converted to bf16, or copied into a vector) or keep_generated
  // keeps them as the weight itself (f32). So a bf16 model never holds a second copy in f32 —
  // at most the one tensor being converted.
  const TensorEntry* generated(const std::string& name, const std::vector<int64_t>& shape) {
    auto values = std::make_shared<std::vector<float>>(generate_(name, shape));
    TensorEntry t;
    t.name = name;
    t.dtype = DType::F32;
    t.shape = shape;
    t.data = reinterpret_cast<const uint8_t*>(values->data());
    t.nbytes = values->size() * sizeof(float);
    t.file = "<generated>";
    generated_entries_.push_back(std::move(t));
    generated_values_[&generated_entries_.back()] = std::move(values);
    return &generated_entries_.back();
  }
  void keep_generated(const TensorEntry* t) {
    auto it = generated_values_.find(t);
    if (it == generated_values_.end()) return;
    owned_.push_back(std::move(it->second));
    generated_values_.erase(it);
  }
  void release_generated(const TensorEntry* t) {
    auto it = generated_values_.find(t);
    if (it == generated_values_.end()) return;
    generated_values_.erase(it);
    const_cast<TensorEntry*>(t)->data = nullptr;  // the entry no longer has values
  }

  Generator generate_;
  std::vector<std::string> generated_prefixes_;
  std::deque<TensorEntry> generated_entries_;  // stable addresses
  std::map<const TensorEntry*, std::shared_ptr<std::vector<float>>> generated_values_;  // not yet used
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorEntry*> by_name_;
  std::set<std::string> taken_;
  std::vector<std::string> missing_;
  std::vector<std::shared_ptr<void>> owned_;
};

T5GEMMA2_NAMESPACE_END
