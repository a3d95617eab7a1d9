// t5gemma2 — tokenizer front end with Hugging Face semantics, over SentencePiece.
//
// encode(text):
//   1. added tokens written in the text (every CONTROL, USER_DEFINED and UNKNOWN piece of the
//      model, e.g. <bos>, <eos>, <pad>, <start_of_image>, <end_of_turn>, plus any registered
//      with add_token, e.g. <image_soft_token>) are split out first, longest match first, and
//      become their ids — SentencePiece alone would never produce <bos>/<eos>/<pad> from text;
//   2. the text between them is encoded by SentencePiece;
//   3. BOS is prepended when asked (Gemma's tokenizer config: add_bos_token = true, no EOS).
// decode(ids, skip_special): runs of ordinary ids are decoded by SentencePiece (▁ -> space,
// byte pieces fused into UTF-8), and so are added tokens made only of whitespace/"▁" (Gemma 3
// has such pieces, e.g. "▁▁"); every other added token is special: written as its text, or
// dropped when skip_special.
#pragma once

#include <sentencepiece_processor.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "t5gemma2/config.hpp"
#include "t5gemma2/error.hpp"

T5GEMMA2_NAMESPACE_BEGIN

namespace tokenizer_detail {

// SentencePiece piece types (sentencepiece_model.proto, SentencePiece.Type).
enum PieceType { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// Reads a protobuf varint at p (bounded by end); returns false on malformed input.
inline bool read_varint(const uint8_t*& p, const uint8_t* end, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const uint8_t b = *p++;
    v |= uint64_t(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Skips one field of wire type `wire`; false when malformed.
inline bool skip_field(const uint8_t*& p, const uint8_t* end, uint64_t wire) {
  uint64_t v;
  switch (wire) {
    case 0: return read_varint(p, end, v);
    case 1: if (end - p < 8) return false; p += 8; return true;
    case 5: if (end - p < 4) return false; p += 4; return true;
    case 2: if (!read_varint(p, end, v) || v > uint64_t(end - p)) return false; p += v; return true;
    default: return false;
  }
}

[[noreturn]] inline void malformed_proto() { throw Error("tokenizer: malformed model proto"); }

// Calls on_field(number, wire_type, p, end) for each field of the message [p, end), p at the
// field's value: it returns true when it has read the value (advancing p), false to skip it.
template <class OnField>
inline void for_each_field(const uint8_t* p, const uint8_t* end, OnField&& on_field) {
  while (p < end) {
    uint64_t key;
    if (!read_varint(p, end, key)) malformed_proto();
    if (!on_field(key >> 3, key & 7, p, end) && !skip_field(p, end, key & 7)) malformed_proto();
  }
}

// A length-delimited value at p (a string or a nested message): its [begin, end); p moves past it.
inline std::pair<const uint8_t*, const uint8_t*> length_delimited(const uint8_t*& p, const uint8_t* end) {
  uint64_t len;
  if (!read_varint(p, end, len) || len > uint64_t(end - p)) malformed_proto();
  const uint8_t* begin = p;
  p += len;
  return {begin, p};
}

inline const uint8_t* bytes_of(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// The type of every piece, in id order, from a serialized ModelProto: field 1 holds the pieces
// (repeated SentencePiece), whose field 3 is the type (NORMAL when absent). The installed
// libsentencepiece (0.1.97) has no IsUserDefined(), and no generated proto header is shipped.
inline std::vector<int> piece_types(const std::string& serialized) {
  std::vector<int> types;
  for_each_field(bytes_of(serialized), bytes_of(serialized) + serialized.size(),
                 [&](uint64_t field, uint64_t wire, const uint8_t*& p, const uint8_t* end) {
                   if (field != 1 || wire != 2) return false;
                   const auto [piece, piece_end] = length_delimited(p, end);
                   int type = kNormal;
                   for_each_field(piece, piece_end, [&](uint64_t f, uint64_t w, const uint8_t*& q, const uint8_t* e) {
                     uint64_t v;
                     if (f != 3 || w != 0) return false;
                     if (!read_varint(q, e, v)) malformed_proto();
                     type = int(v);
                     return true;
                   });
                   types.push_back(type);
                   return true;
                 });
  return types;
}

// A string field of the model's TrainerSpec (ModelProto field 2): 45 unk_piece, 46 bos_piece,
// 47 eos_piece, 48 pad_piece; `fallback` when absent (SentencePiece's defaults).
inline std::string trainer_string(const std::string& serialized, uint64_t field_number, std::string fallback) {
  for_each_field(bytes_of(serialized), bytes_of(serialized) + serialized.size(),
                 [&](uint64_t field, uint64_t wire, const uint8_t*& p, const uint8_t* end) {
                   if (field != 2 || wire != 2) return false;
                   const auto [spec, spec_end] = length_delimited(p, end);
                   for_each_field(spec, spec_end, [&](uint64_t f, uint64_t w, const uint8_t*& q, const uint8_t* e) {
                     if (f != field_number || w != 2) return false;
                     const auto [text, text_end] = length_delimited(q, e);
                     fallback.assign(reinterpret_cast<const char*>(text), std::size_t(text_end - text));
                     return true;
                   });
                   return true;
                 });
  return fallback;
}

}  // namespace tokenizer_detail

inline constexpr std::size_t kMaxTokenizerBytes = std::size_t(256) << 20;

class Tokenizer {
 public:
  explicit Tokenizer(const std::string& model_path) : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
    // Read by us (a regular file of bounded size: no pipes, devices, or runaway sizes), parsed by
    // SentencePiece. Gemma 3's model is 4.5 MiB.
    const std::string proto = read_regular_file(model_path, kMaxTokenizerBytes, "tokenizer model");
    const auto status = sp_->LoadFromSerializedProto(proto);
    if (!status.ok()) throw Error(model_path + ": cannot load SentencePiece model (" + status.ToString() + ")");
    using namespace tokenizer_detail;
    const std::vector<int> types = piece_types(std::string(sp_->serialized_model_proto()));
    check(int(types.size()) == sp_->GetPieceSize(), [&] { return model_path + ": piece table does not match the model"; });
    for (int id = 0; id < int(types.size()); ++id) {
      const int t = types[std::size_t(id)];
      if (t == kControl || t == kUserDefined || t == kUnknown) insert_token(sp_->IdToPiece(id), id);
    }
    reindex();
    // Prompts start with BOS: its piece must exist (SentencePiece's bos_id() is -1 otherwise,
    // and that -1 would surface far from here as an id outside the vocabulary).
    if (sp_->bos_id() < 0)
      throw Error(model_path + ": the tokenizer's bos_piece '" + printable(trainer_string(proto, 46, "<s>")) +
                  "' names no control piece of its vocabulary, so it has no BOS token");
  }

  // Registers (or re-maps) an added token: `text` in the input becomes `id`.
  void add_token(const std::string& text, int id) {
    insert_token(text, id);
    reindex();
  }

  std::vector<int> encode(std::string_view text, bool add_bos = false) const {
    std::vector<int> ids;
    if (add_bos) ids.push_back(sp_->bos_id());
    std::size_t plain_start = 0, i = 0;
    while (i < text.size()) {
      const auto* match = match_added(text, i);
      if (!match) {
        ++i;
        continue;
      }
      encode_plain(text.substr(plain_start, i - plain_start), ids);
      ids.push_back(match->second);
      i += match->first.size();
      plain_start = i;
    }
    encode_plain(text.substr(plain_start), ids);
    return ids;
  }

  int piece_count() const { return sp_->GetPieceSize(); }  // ids the SentencePiece model produces: [0, count)

  std::string decode(const std::vector<int>& ids, bool skip_special = false) const {
    std::string out;
    std::vector<int> run;
    auto flush = [&] {
      if (run.empty()) return;
      std::string s;
      const auto status = sp_->Decode(run, &s);
      if (!status.ok()) throw Error("decode: " + status.ToString());
      out += s;
      run.clear();
    };
    for (int id : ids) {
      auto it = text_of_.find(id);
      const bool in_model = id >= 0 && id < sp_->GetPieceSize();
      if (it == text_of_.end() || (in_model && !is_special(it->second))) {  // ordinary piece or whitespace run
        if (!in_model) throw Error("decode: token id " + std::to_string(id) + " is outside the vocabulary");
        run.push_back(id);
        continue;
      }
      flush();
      if (!(skip_special && is_special(it->second))) out += it->second;
    }
    flush();
    return out;
  }

 private:
  // Added tokens made only of whitespace (and U+2581 "▁") are text, every other one is special.
  static bool is_special(const std::string& text) {
    static const std::string kSpaceMark = "\xE2\x96\x81";  // ▁
    for (std::size_t i = 0; i < text.size();) {
      if (text.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
        i += kSpaceMark.size();
      } else if (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r') {
        ++i;
      } else {
        return true;
      }
    }
    return false;
  }

  void insert_token(const std::string& text, int id) {
    if (text.empty()) return;
    text_of_[id] = text;
    id_of_text_[text] = id;
  }

  // Longest text first, bucketed by first byte, so matching tries few candidates.
  void reindex() {
    added_.assign(id_of_text_.begin(), id_of_text_.end());
    std::stable_sort(added_.begin(), added_.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    for (auto& bucket : by_first_byte_) bucket.clear();
    for (std::size_t i = 0; i < added_.size(); ++i) by_first_byte_[uint8_t(added_[i].first[0])].push_back(i);
  }

  const std::pair<std::string, int>* match_added(std::string_view text, std::size_t at) const {
    for (std::size_t i : by_first_byte_[uint8_t(text[at])]) {  // longest first
      const auto& a = added_[i];
      if (text.compare(at, a.first.size(), a.first) == 0) return &a;
    }
    return nullptr;
  }

  void encode_plain(std::string_view text, std::vector<int>& ids) const {
    if (text.empty()) return;
    std::vector<int> piece_ids;
    const auto status = sp_->Encode(std::string(text), &piece_ids);
    if (!status.ok()) throw Error("encode: " + status.ToString());
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
  }

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::map<std::string, int> id_of_text_;            // every added token
  std::vector<std::pair<std::string, int>> added_;  // the same, longest text first
  std::array<std::vector<std::size_t>, 256> by_first_byte_;  // indices into added_, longest first
  std::map<int, std::string> text_of_;
};

// ---- prompts as the Gemma 3 processor builds them (docs/model.md §6) ------------------------------

inline constexpr std::string_view kImageMarker = "<start_of_image>";

// The tokenizer of a model: DIR/tokenizer.model, with the model's image tokens registered so
// that BOI, EOI and the image soft token map to the ids of config.json.
inline Tokenizer load_tokenizer(const std::string& dir, const ModelConfig& c) {
  Tokenizer t(dir + "/tokenizer.model");
  // Every id the tokenizer can produce must be a row of the model's embedding table.
  check(t.piece_count() <= c.encoder.vocab_size, [&] {
    return dir + "/tokenizer.model has " + std::to_string(t.piece_count()) + " pieces, more than config.json's vocab_size (" +
           std::to_string(c.encoder.vocab_size) + "): the tokenizer does not belong to this model";
  });
  t.add_token(std::string(kImageMarker), c.boi_token_id);
  t.add_token("<end_of_image>", c.eoi_token_id);
  t.add_token("<image_soft_token>", c.image_token_id);
  return t;
}

inline std::size_t count_markers(std::string_view text) {
  std::size_t n = 0;
  for (std::size_t at = text.find(kImageMarker); at != std::string_view::npos; at = text.find(kImageMarker, at + kImageMarker.size())) ++n;
  return n;
}

// Expands the prompt for `num_images` images: each <start_of_image> becomes
//   "\n\n<start_of_image>" + T × "<image_soft_token>" + "<end_of_image>\n\n".
// A prompt without markers gets one per image put first, joined by spaces (what the processor
// does for an empty text); otherwise the marker count must equal the image count.
inline std::string expand_image_prompt(std::string text, std::size_t num_images, int tokens_per_image) {
  if (num_images > 0 && count_markers(text) == 0) {
    std::string markers;
    for (std::size_t i = 0; i < num_images; ++i) markers += (i ? " " : "") + std::string(kImageMarker);
    text = text.empty() ? markers : markers + " " + text;
  }
  const std::size_t markers = count_markers(text);
  check(markers == num_images, [&] {
    return "the prompt has " + std::to_string(markers) + " <start_of_image> marker(s) but " + std::to_string(num_images) +
           " image(s) were given";
  });
  std::string soft;
  for (int i = 0; i < tokens_per_image; ++i) soft += "<image_soft_token>";
  const std::string full = "\n\n" + std::string(kImageMarker) + soft + "<end_of_image>\n\n";
  std::string out;
  std::size_t from = 0;
  for (std::size_t at = text.find(kImageMarker); at != std::string::npos; at = text.find(kImageMarker, from)) {
    out += text.substr(from, at - from) + full;
    from = at + kImageMarker.size();
  }
  return out + text.substr(from);
}

// Encoder ids for a prompt and its images: BOS + tokens of the expanded prompt.
inline std::vector<int> encode_prompt(const Tokenizer& tok, const ModelConfig& c, const std::string& prompt, std::size_t num_images) {
  return tok.encode(expand_image_prompt(prompt, num_images, c.mm_tokens_per_image), /*add_bos=*/true);
}

// A batch of encoder inputs padded on the left to one length (Gemma's tokenizer pads on the
// left): ids [b][S] with pad_id in front, valid [b][S] with 0 there.
struct PaddedBatch {
  std::vector<std::vector<int>> ids;
  std::vector<std::vector<uint8_t>> valid;
};

inline PaddedBatch pad_left(const std::vector<std::vector<int>>& ids, int pad_id) {
  std::size_t longest = 0;
  for (const auto& v : ids) longest = std::max(longest, v.size());
  PaddedBatch out;
  for (const auto& v : ids) {
    const std::size_t pad = longest - v.size();
    std::vector<int> padded(pad, pad_id);
    padded.insert(padded.end(), v.begin(), v.end());
    std::vector<uint8_t> valid(pad, 0);
    valid.resize(longest, 1);
    out.ids.push_back(std::move(padded));
    out.valid.push_back(std::move(valid));
  }
  return out;
}

T5GEMMA2_NAMESPACE_END
