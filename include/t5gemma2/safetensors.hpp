// t5gemma2 — safetensors files: memory-mapped reading with strict validation, and writing.
//
// Format: [u64 little-endian header length N][N bytes of JSON header][data bytes].
// The header maps tensor name -> {dtype, shape, data_offsets: [begin, end]} (offsets relative
// to the start of the data bytes) plus an optional "__metadata__" object of strings.
//
// Validation (every failure throws Error naming the file and the tensor):
//   * the file holds at least the 8-byte length, and the header fits in the file;
//   * the header is at most kMaxHeaderBytes and is a JSON object of well-formed entries, read
//     as a stream (HeaderReader): memory proportional to the tensors, never a DOM of the header;
//   * dtype is known, shape entries are non-negative, bytes = prod(shape) * dtype size
//     (without overflow) = end - begin;
//   * the byte ranges, sorted, start at 0, follow each other with no gap or overlap, and the
//     last one ends exactly at the end of the file.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "t5gemma2/error.hpp"
#include "t5gemma2/file_io.hpp"
#include "t5gemma2/numeric_types.hpp"

T5GEMMA2_NAMESPACE_BEGIN

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

inline bool parse_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> kNames[] = {
      {"F64", DType::F64}, {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16},
      {"I64", DType::I64}, {"I32", DType::I32}, {"I16", DType::I16}, {"I8", DType::I8},
      {"U8", DType::U8},   {"BOOL", DType::BOOL}};
  for (const auto& [name, t] : kNames) {
    if (s == name) { *out = t; return true; }
  }
  return false;
}

inline std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

inline int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// A read-only memory map of a whole file (RAII).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) : path_(path) {
    const int fd = open_regular_file(path, "checkpoint", size_);  // no pipes or devices: they could block
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw Error(path + ": mmap failed (" + std::strerror(err) + ")");
      }
      data_ = static_cast<const uint8_t*>(p);
      mapped_ = true;
    }
    ::close(fd);
  }
  // An in-memory "file" (fuzzing, tests): `name` stands for the path in messages.
  MappedFile(std::string name, std::vector<uint8_t> bytes) : path_(std::move(name)), owned_(std::move(bytes)) {
    data_ = owned_.data();
    size_ = owned_.size();
  }
  ~MappedFile() {
    if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<uint8_t> owned_;  // the bytes of an in-memory file
  bool mapped_ = false;
  const uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// One tensor inside a mapped safetensors file.
struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into the memory map
  std::size_t nbytes = 0;
  std::string file;  // path of the file that holds it, for messages

  int64_t numel() const { return shape_numel(shape); }
};

// Converts the elements of a floating-point tensor to f32 (F32, BF16, F16, F64).
inline std::vector<float> to_f32_vector(const TensorEntry& t) {
  const std::size_t n = std::size_t(t.numel());
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case DType::F32: std::memcpy(&out[i], t.data + 4 * i, 4); break;
      case DType::BF16: { bf16_t b; std::memcpy(&b.bits, t.data + 2 * i, 2); out[i] = to_f32(b); break; }
      case DType::F16: { uint16_t h; std::memcpy(&h, t.data + 2 * i, 2); out[i] = f32_from_f16_bits(h); break; }
      case DType::F64: { double d; std::memcpy(&d, t.data + 8 * i, 8); out[i] = float(d); break; }
      default: throw Error(t.file + ": tensor '" + t.name + "' has dtype " + dtype_name(t.dtype) +
                           ", expected a floating-point dtype (F32, BF16, F16 or F64)");
    }
  }
  return out;
}

// Converts the elements of an integer tensor to int64 (I64, I32, I16, I8, U8, BOOL).
inline std::vector<int64_t> to_i64_vector(const TensorEntry& t) {
  const std::size_t n = std::size_t(t.numel());
  std::vector<int64_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const uint8_t* p = t.data + i * dtype_size(t.dtype);
    switch (t.dtype) {
      case DType::I64: std::memcpy(&out[i], p, 8); break;
      case DType::I32: { int32_t v; std::memcpy(&v, p, 4); out[i] = v; break; }
      case DType::I16: { int16_t v; std::memcpy(&v, p, 2); out[i] = v; break; }
      case DType::I8: out[i] = int8_t(*p); break;
      case DType::U8: case DType::BOOL: out[i] = *p; break;
      default: throw Error(t.file + ": tensor '" + t.name + "' has dtype " + dtype_name(t.dtype) +
                           ", expected an integer dtype");
    }
  }
  return out;
}

namespace safetensors_detail {

// One header entry as written, before validation.
struct RawEntry {
  std::string name;
  std::optional<std::string> dtype;  // absent or not a string: nullopt
  bool shape_given = false, shape_ok = true;
  std::vector<int64_t> shape;
  bool offsets_given = false, offsets_ok = true;
  std::vector<uint64_t> offsets;
};

// Reads the JSON header with nlohmann's SAX interface straight into RawEntry records: memory
// stays proportional to the tensors described (no DOM of a hostile 100 MB header of tiny values),
// and the structure is enforced as it streams — an object of objects whose "shape" and
// "data_offsets" are short arrays of integers, "__metadata__" an object of strings.
class HeaderReader {
 public:
  static constexpr std::size_t kMaxTensors = std::size_t(1) << 20;
  static constexpr std::size_t kMaxRank = 16;

  std::vector<RawEntry> entries;
  std::map<std::string, std::string> metadata;
  std::string error;  // why the structure was rejected (empty: JSON syntax error)

  bool null() { return scalar(); }
  bool boolean(bool) { return scalar(); }
  bool number_integer(int64_t v) { return integer(v < 0 ? -1 : v, v < 0); }
  bool number_unsigned(uint64_t v) { return integer(v > uint64_t(INT64_MAX) ? -1 : int64_t(v), false, v); }
  bool number_float(double, const std::string&) { return integer(-1, true); }
  bool string(std::string& v) {
    if (depth_ == 2 && in_metadata_) {
      metadata[field_] = v;
      return true;
    }
    if (depth_ == 2 && field_ == "dtype") entries.back().dtype = v;
    return scalar();
  }
  bool binary(nlohmann::json::binary_t&) { return fail("binary values are not allowed"); }
  bool start_object(std::size_t) {
    if (depth_ == 0) return ++depth_, true;
    if (depth_ == 1) {
      if (key_ == "__metadata__") {
        in_metadata_ = true;
      } else {
        if (entries.size() >= kMaxTensors) return fail("more than " + std::to_string(kMaxTensors) + " tensors");
        entries.push_back({});
        entries.back().name = key_;
      }
      return ++depth_, true;
    }
    return fail(depth_ == 2 && in_metadata_ ? "__metadata__ values must be strings"
                                            : "unexpected nested object in entry '" + printable(entry_name()) + "'");
  }
  bool end_object() {
    if (--depth_ == 1) in_metadata_ = false;
    return true;
  }
  bool start_array(std::size_t) {
    if (depth_ == 2 && !in_metadata_ && (field_ == "shape" || field_ == "data_offsets")) {
      (field_ == "shape" ? entries.back().shape_given : entries.back().offsets_given) = true;
      return ++depth_, true;
    }
    if (depth_ == 1) return fail("header entry '" + printable(key_) + "' is not an object");
    return fail("unexpected array in entry '" + printable(entry_name()) + "'");
  }
  bool end_array() { return --depth_, true; }
  bool key(std::string& k) {
    (depth_ == 1 ? key_ : field_) = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception&) { return false; }

 private:
  bool fail(std::string why) {
    error = std::move(why);
    return false;
  }
  std::string entry_name() const { return entries.empty() ? key_ : entries.back().name; }
  // A non-container value: only allowed inside an entry (or, ignored, inside __metadata__).
  bool scalar() {
    if (depth_ == 0) return fail("the header is not a JSON object");
    if (depth_ == 1) return fail("header entry '" + printable(key_) + "' is not an object");
    if (depth_ == 3) {  // inside shape / data_offsets: integers only
      (field_ == "shape" ? entries.back().shape_ok : entries.back().offsets_ok) = false;
    }
    return true;
  }
  bool integer(int64_t v, bool negative_or_float, uint64_t raw = 0) {
    if (depth_ != 3) return scalar();
    RawEntry& e = entries.back();
    if (field_ == "shape") {
      if (e.shape.size() >= kMaxRank)
        return fail("tensor '" + printable(e.name) + "': shape has more than " + std::to_string(kMaxRank) + " dimensions");
      if (negative_or_float || v < 0) e.shape_ok = false;
      else e.shape.push_back(v);
    } else {
      if (e.offsets.size() >= 2) e.offsets_ok = false;
      else if (negative_or_float) e.offsets_ok = false;
      else e.offsets.push_back(v >= 0 ? uint64_t(v) : raw);
    }
    return true;
  }
  int depth_ = 0;
  bool in_metadata_ = false;
  std::string key_, field_;  // the entry's name; the field inside the entry
};

}  // namespace safetensors_detail

class SafetensorsFile {
 public:
  // Headers larger than this are rejected before they are read (real checkpoints: < 1 MiB).
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

  explicit SafetensorsFile(const std::string& path) : map_(std::make_shared<MappedFile>(path)) {
    parse();
  }
  explicit SafetensorsFile(std::shared_ptr<MappedFile> file) : map_(std::move(file)) { parse(); }

  const std::string& path() const { return map_->path(); }
  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  const TensorEntry* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }

  const TensorEntry& get(const std::string& name) const {
    const TensorEntry* t = find(name);
    check(t != nullptr, [&] { return path() + ": missing tensor '" + name + "'"; });
    return *t;
  }

  // Keeps the memory map alive for as long as the holder of the returned pointer needs it.
  std::shared_ptr<const MappedFile> mapping() const { return map_; }

 private:
  void parse() {
    const std::string& file = map_->path();
    const std::size_t size = map_->size();
    check(size >= 8, [&] {
      return file + ": truncated safetensors file (" + std::to_string(size) +
             " bytes; the 8-byte header length is missing)";
    });
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | map_->data()[i];
    check(header_len <= kMaxHeaderBytes, [&] {
      return file + ": safetensors header length " + std::to_string(header_len) +
             " exceeds the limit of " + std::to_string(kMaxHeaderBytes) + " bytes";
    });
    check(8 + header_len <= size, [&] {
      return file + ": truncated safetensors file: header of " + std::to_string(header_len) +
             " bytes does not fit in " + std::to_string(size) + " bytes";
    });
    const char* hdr = reinterpret_cast<const char*>(map_->data() + 8);
    safetensors_detail::HeaderReader reader;
    const bool parsed = nlohmann::json::sax_parse(hdr, hdr + header_len, &reader, nlohmann::json::input_format_t::json,
                                                  /*strict=*/true);
    check(parsed, [&] {
      return file + ": safetensors header " + (reader.error.empty() ? "is not valid JSON" : "is malformed: " + reader.error);
    });
    metadata_ = std::move(reader.metadata);

    const uint8_t* data_begin = map_->data() + 8 + header_len;
    const uint64_t data_size = size - 8 - header_len;
    tensors_.reserve(reader.entries.size());
    for (const safetensors_detail::RawEntry& v : reader.entries) {
      const std::string& name = v.name;
      auto bad = [&](const std::string& why) { return Error(file + ": tensor '" + printable(name) + "': " + why); };
      if (!v.dtype) throw bad("missing or non-string 'dtype'");
      TensorEntry t;
      t.name = name;
      t.file = file;
      if (!parse_dtype(*v.dtype, &t.dtype)) throw bad("unsupported dtype '" + printable(*v.dtype) + "'");
      if (!v.shape_given) throw bad("missing 'shape' array");
      if (!v.shape_ok) throw bad("shape entries must be non-negative integers");
      uint64_t numel = 1;
      for (const int64_t d : v.shape) {
        const uint64_t dim = uint64_t(d);
        if (dim != 0 && numel > (uint64_t(1) << 62) / dim) throw bad("shape is too large");
        numel *= dim;
        t.shape.push_back(d);
      }
      if (!v.offsets_given || !v.offsets_ok || v.offsets.size() != 2)
        throw bad("'data_offsets' must be two non-negative integers");
      const uint64_t begin = v.offsets[0], end = v.offsets[1];
      if (begin > end) throw bad("data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
      if (end > data_size)
        throw bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  "] out of range: the data section has " + std::to_string(data_size) + " bytes (truncated file?)");
      // numel · element size must not wrap around 2^64 (a header can make [1, 2^61] of I64 look
      // like 0 bytes and pass the span check below).
      if (numel > UINT64_MAX / dtype_size(t.dtype))
        throw bad("shape " + shape_string(t.shape) + " of " + dtype_name(t.dtype) + " is " + std::to_string(numel) +
                  " elements of " + std::to_string(dtype_size(t.dtype)) + " bytes: a byte count beyond 64 bits");
      const uint64_t expected = numel * dtype_size(t.dtype);
      if (end - begin != expected)
        throw bad("shape " + shape_string(t.shape) + " of " + dtype_name(t.dtype) + " needs " +
                  std::to_string(expected) + " bytes, data_offsets span " + std::to_string(end - begin));
      t.data = data_begin + begin;
      t.nbytes = std::size_t(expected);
      check(index_.emplace(name, tensors_.size()).second, [&] { return file + ": tensor '" + printable(name) + "' is listed twice"; });
      tensors_.push_back(std::move(t));
    }

    // Byte ranges must tile the data section exactly: no overlap, no gap, nothing left over.
    std::vector<const TensorEntry*> by_offset;
    for (const auto& t : tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](const TensorEntry* a, const TensorEntry* b) {
      return a->data != b->data ? a->data < b->data : a->nbytes < b->nbytes;
    });
    uint64_t cursor = 0;
    for (const TensorEntry* t : by_offset) {
      const uint64_t begin = uint64_t(t->data - data_begin);
      check(begin == cursor, [&] {
        return file + ": tensor '" + printable(t->name) + "' starts at byte " + std::to_string(begin) + " but the previous " +
               "tensor ends at " + std::to_string(cursor) + (begin < cursor ? " (overlapping tensors)" : " (gap)");
      });
      cursor = begin + t->nbytes;
    }
    check(cursor == data_size, [&] {
      return file + ": " + std::to_string(data_size - cursor) + " bytes after the last tensor are not described by the header";
    });
  }

  std::shared_ptr<MappedFile> map_;
  std::vector<TensorEntry> tensors_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors to a safetensors file (header padded with spaces to a multiple of 8).
class SafetensorsWriter {
 public:
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* bytes) {
    const std::size_t n = std::size_t(shape_numel(shape)) * dtype_size(dtype);
    Item item{name, dtype, std::move(shape), std::string(static_cast<const char*>(bytes), n)};
    items_.push_back(std::move(item));
  }
  void add_f32(const std::string& name, std::vector<int64_t> shape, const float* data) {
    add(name, DType::F32, std::move(shape), data);
  }
  void add_i64(const std::string& name, std::vector<int64_t> shape, const int64_t* data) {
    add(name, DType::I64, std::move(shape), data);
  }
  void add_u8(const std::string& name, std::vector<int64_t> shape, const uint8_t* data) {
    add(name, DType::U8, std::move(shape), data);
  }

  // The file's bytes: [u64 header length][JSON header][tensor bytes].
  std::vector<uint8_t> bytes() const {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    header["__metadata__"] = {{"format", "pt"}, {"producer", "t5gemma2"}};
    std::size_t offset = 0;
    for (const auto& it : items_) {
      header[it.name] = {{"dtype", dtype_name(it.dtype)}, {"shape", it.shape},
                         {"data_offsets", {offset, offset + it.bytes.size()}}};
      offset += it.bytes.size();
    }
    std::string h = header.dump();
    while (h.size() % 8) h += ' ';
    std::vector<uint8_t> out;
    for (int i = 0; i < 8; ++i) out.push_back(uint8_t(uint64_t(h.size()) >> (8 * i)));
    out.insert(out.end(), h.begin(), h.end());
    for (const auto& it : items_) out.insert(out.end(), it.bytes.begin(), it.bytes.end());
    return out;
  }

  void write(const std::string& path) const {
    const std::vector<uint8_t> b = bytes();
    write_file_atomically(path, b.data(), b.size());
  }

 private:
  struct Item {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::string bytes;
  };
  std::vector<Item> items_;
};

T5GEMMA2_NAMESPACE_END
