// t5gemma2 — run the model on a golden-style input file and compare with a golden file.
//
// Shared by the t5gemma2-dump tool and the golden tests, so both exercise the same code.
// Names follow the goldens of tests/data (the HF oracle's naming): for prefix P = "text." or "mm.",
// inputs P encoder_input_ids, P encoder_attention_mask, P decoder_input_ids (int64 [b, n]),
// outputs P encoder.embeddings, P encoder.layer{i}, P encoder.last_hidden_state,
// P decoder.embeddings, P decoder.layer{i}, P decoder.last_hidden_state, P logits (f32) and
// P {encoder,decoder}.mask.{sliding,full}_attention (u8 [b, 1, q, k]).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "t5gemma2/image.hpp"
#include "t5gemma2/generate.hpp"
#include "t5gemma2/model.hpp"
#include "t5gemma2/safetensors.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// A named output array (f32 or u8 or i64), batch-major.
struct Array {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<uint8_t> u8;
  std::vector<int64_t> i64;
};

using ArrayMap = std::map<std::string, Array>;

inline void write_arrays(const ArrayMap& arrays, const std::string& path) {
  SafetensorsWriter w;
  for (const auto& [name, a] : arrays) {
    if (a.dtype == DType::F32) w.add_f32(name, a.shape, a.f32.data());
    else if (a.dtype == DType::U8) w.add_u8(name, a.shape, a.u8.data());
    else w.add_i64(name, a.shape, a.i64.data());
  }
  w.write(path);
}

// An int64 input [b, n] read as rows of ints.
inline std::vector<std::vector<int64_t>> read_rows(const SafetensorsFile& f, const std::string& name) {
  const TensorEntry& t = f.get(name);
  check(t.shape.size() == 2, [&] { return f.path() + ": '" + name + "' must be 2-D [batch, length], got " + shape_string(t.shape); });
  const std::vector<int64_t> flat = to_i64_vector(t);
  std::vector<std::vector<int64_t>> rows(std::size_t(t.shape[0]));
  for (std::size_t b = 0; b < rows.size(); ++b)
    rows[b].assign(flat.begin() + std::ptrdiff_t(b * std::size_t(t.shape[1])), flat.begin() + std::ptrdiff_t((b + 1) * std::size_t(t.shape[1])));
  return rows;
}

inline std::vector<int> to_ids(const std::vector<int64_t>& row, const std::string& what) {
  std::vector<int> ids;
  for (int64_t v : row) {
    check(v >= 0 && v < (int64_t(1) << 31), [&] { return what + ": token id " + std::to_string(v) + " is out of range"; });
    ids.push_back(int(v));
  }
  return ids;
}

// Collects per-sample tensors/masks from an Observer and stacks them over the batch.
class BatchCollector {
 public:
  explicit BatchCollector(std::string prefix) : prefix_(std::move(prefix)) {}

  Observer observer() {
    Observer o;
    o.tensor = [this](const std::string& name, const Tensor& t) { add_f32(name, t); };
    o.mask = [this](const std::string& name, const Mask& m) {
      Array& a = slot(name, DType::U8, {1, m.rows, m.cols});
      a.u8.insert(a.u8.end(), m.allowed.begin(), m.allowed.end());
    };
    return o;
  }

  void add_f32(const std::string& name, const Tensor& t) {
    Array& a = slot(name, DType::F32, {t.rows, t.cols});
    a.f32.insert(a.f32.end(), t.data.begin(), t.data.end());
  }

  void add_i64(const std::string& name, const std::vector<int64_t>& v) {
    Array& a = slot(name, DType::I64, {int64_t(v.size())});
    a.i64.insert(a.i64.end(), v.begin(), v.end());
  }

  // Moves everything into `out` under prefix + name.
  void finish(ArrayMap& out) {
    for (auto& [name, a] : arrays_) out[prefix_ + name] = std::move(a);
    arrays_.clear();
  }

 private:
  Array& slot(const std::string& name, DType dtype, std::vector<int64_t> per_sample) {
    Array& a = arrays_[name];
    if (a.shape.empty()) {
      a.dtype = dtype;
      a.shape.push_back(0);
      a.shape.insert(a.shape.end(), per_sample.begin(), per_sample.end());
    }
    std::vector<int64_t> have(a.shape.begin() + 1, a.shape.end());
    check(have == per_sample, [&] { return "batch entries of '" + name + "' differ in shape (pad the batch to one length)"; });
    a.shape[0] += 1;
    return a;
  }

  std::string prefix_;
  std::map<std::string, Array> arrays_;
};

// Reads P pixel_values [n, 3, S, S] as n tensors [3, S·S] (empty when absent).
inline std::vector<Tensor> read_pixel_values(const SafetensorsFile& f, const std::string& name) {
  std::vector<Tensor> images;
  const TensorEntry* t = f.find(name);
  if (!t) return images;
  check(t->shape.size() == 4 && t->shape[1] == 3 && t->shape[2] == t->shape[3],
        [&] { return f.path() + ": '" + name + "' must be [n, 3, S, S], got " + shape_string(t->shape); });
  const std::vector<float> flat = to_f32_vector(*t);
  const int plane = int(t->shape[2] * t->shape[3]);
  for (int64_t n = 0; n < t->shape[0]; ++n) {
    Tensor px(3, plane);
    std::copy(flat.begin() + std::ptrdiff_t(n * 3 * plane), flat.begin() + std::ptrdiff_t((n + 1) * 3 * plane), px.data.begin());
    images.push_back(std::move(px));
  }
  return images;
}

// The inputs of one case (prefix P), read and checked once.
struct CaseInputs {
  std::vector<std::vector<int>> encoder_ids;        // [b][S]
  std::vector<std::vector<uint8_t>> encoder_valid;  // [b][S]
  std::vector<std::vector<int>> decoder_ids;        // [b][T] (empty when absent)
  std::vector<std::vector<Tensor>> images;          // [b][images of sample b]
};

// Reads P encoder_input_ids, P encoder_attention_mask (optional), P decoder_input_ids
// (optional) and P pixel_values (optional; each sample takes, in order, as many images as its
// image tokens need).
inline CaseInputs read_case_inputs(const SafetensorsFile& inputs, const std::string& prefix, const ModelConfig& c) {
  CaseInputs in;
  for (const auto& row : read_rows(inputs, prefix + "encoder_input_ids"))
    in.encoder_ids.push_back(to_ids(row, prefix + "encoder_input_ids"));
  const std::size_t batch = in.encoder_ids.size();
  check(batch > 0 && !in.encoder_ids.front().empty(), [&] {
    return inputs.path() + ": '" + prefix + "encoder_input_ids' is " + shape_string(inputs.get(prefix + "encoder_input_ids").shape) +
           ": it needs at least one sequence of at least one token";
  });
  std::vector<std::vector<int64_t>> mask;
  if (inputs.find(prefix + "encoder_attention_mask")) mask = read_rows(inputs, prefix + "encoder_attention_mask");
  check(mask.empty() || mask.size() == batch, [&] { return inputs.path() + ": attention mask batch differs from the ids"; });
  for (std::size_t b = 0; b < batch; ++b) {
    std::vector<uint8_t> valid(in.encoder_ids[b].size(), 1);
    if (!mask.empty()) {
      check(mask[b].size() == valid.size(), [&] { return inputs.path() + ": attention mask shape differs from the ids"; });
      for (std::size_t i = 0; i < valid.size(); ++i) valid[i] = mask[b][i] != 0;
    }
    in.encoder_valid.push_back(std::move(valid));
  }
  if (inputs.find(prefix + "decoder_input_ids")) {
    for (const auto& row : read_rows(inputs, prefix + "decoder_input_ids")) {
      check(!row.empty(), [&] { return inputs.path() + ": '" + prefix + "decoder_input_ids' has rows of length 0"; });
      in.decoder_ids.push_back(to_ids(row, prefix + "decoder_input_ids"));
    }
    check(in.decoder_ids.size() == batch, [&] { return inputs.path() + ": encoder and decoder inputs differ in batch size"; });
  }
  std::vector<Tensor> pixels = read_pixel_values(inputs, prefix + "pixel_values");
  std::size_t next = 0;
  for (std::size_t b = 0; b < batch; ++b) {
    in.images.emplace_back();
    if (pixels.empty()) continue;
    const auto tokens = std::count(in.encoder_ids[b].begin(), in.encoder_ids[b].end(), c.image_token_id);
    const std::size_t n = std::size_t(tokens) / std::size_t(c.mm_tokens_per_image);
    check(next + n <= pixels.size(), [&] {
      return inputs.path() + ": the image tokens of sample " + std::to_string(b) + " need more images than " + prefix +
             "pixel_values holds (" + std::to_string(pixels.size()) + ")";
    });
    for (std::size_t i = 0; i < n; ++i) in.images[b].push_back(std::move(pixels[next++]));
  }
  check(next == pixels.size(), [&] {
    return inputs.path() + ": " + prefix + "pixel_values holds " + std::to_string(pixels.size()) +
           " images but the image tokens use " + std::to_string(next);
  });
  return in;
}

// Encoder output of sample b (vision path first when it has images).
template <class M>
inline Tensor encode_sample(const M& model, const CaseInputs& in, std::size_t b, const Observer& observe = {}) {
  std::vector<Tensor> features;
  for (const Tensor& px : in.images[b]) features.push_back(model.image_features(px, observe));
  Tensor embeddings = in.images[b].empty() ? model.embed(in.encoder_ids[b]) : model.encoder_embeddings(in.encoder_ids[b], features);
  return model.encode_embeddings(std::move(embeddings), in.encoder_valid[b], observe);
}

// Runs prefix P ("text." or "mm.") over the batch in `inputs`: encoder (with images when
// P pixel_values is present), teacher-forced decoder, logits.
template <class M>
inline void run_case(const M& model, const SafetensorsFile& inputs, const std::string& prefix, ArrayMap& out) {
  const CaseInputs in = read_case_inputs(inputs, prefix, model.config());
  check(!in.decoder_ids.empty(), [&] { return inputs.path() + ": missing tensor '" + prefix + "decoder_input_ids'"; });
  BatchCollector batch(prefix);
  for (std::size_t b = 0; b < in.encoder_ids.size(); ++b) {
    Observer observe = batch.observer();
    const Tensor enc = encode_sample(model, in, b, observe);
    const Tensor dec = model.decode(in.decoder_ids[b], enc, in.encoder_valid[b], observe);
    batch.add_f32("logits", model.logits(dec));
  }
  batch.finish(out);
}

// Greedy generation for the batch of prefix P, written as G sequences [b, 1 + steps] (int64,
// PAD after EOS) and G step_logits [b, steps, V], G = "gen." or "gen_mm.".
template <class M>
inline void run_generation(const M& model, const SafetensorsFile& inputs, const std::string& prefix, const std::string& out_prefix,
                           int max_new_tokens, ArrayMap& out) {
  const CaseInputs in = read_case_inputs(inputs, prefix, model.config());
  std::vector<Tensor> encoded;
  for (std::size_t b = 0; b < in.encoder_ids.size(); ++b) encoded.push_back(encode_sample(model, in, b));
  GenerationOptions options;
  options.max_new_tokens = max_new_tokens;
  options.keep_step_logits = true;
  const std::vector<Generation> gens = generate_from_encoded(model, encoded, in.encoder_valid, options);
  Array seq, logits;
  seq.dtype = DType::I64;
  const int64_t steps = int64_t(gens.front().step_logits.size());
  const int64_t vocab = steps ? int64_t(gens.front().step_logits.front().size()) : 0;
  seq.shape = {int64_t(gens.size()), steps + 1};
  logits.shape = {int64_t(gens.size()), steps, vocab};
  for (const Generation& g : gens) {
    seq.i64.insert(seq.i64.end(), g.sequence.begin(), g.sequence.end());
    for (const auto& l : g.step_logits) logits.f32.insert(logits.f32.end(), l.begin(), l.end());
  }
  out[out_prefix + "sequences"] = std::move(seq);
  out[out_prefix + "step_logits"] = std::move(logits);
}

// Every case of `inputs` (text.*, then mm.*): the teacher-forced pass when the case has
// decoder_input_ids, greedy generation of max_new_tokens (0: none) — named gen.* alone, gen_mm.*
// for the image batch next to a text batch, as in the goldens. Returns whether any case ran.
template <class M>
inline bool run_cases(const M& model, const SafetensorsFile& inputs, int max_new_tokens, ArrayMap& out) {
  bool any = false;
  const bool has_text = inputs.find("text.encoder_input_ids") != nullptr;
  for (const std::string prefix : {"text.", "mm."}) {
    if (!inputs.find(prefix + "encoder_input_ids")) continue;
    if (inputs.find(prefix + "decoder_input_ids")) run_case(model, inputs, prefix, out);
    if (max_new_tokens > 0) run_generation(model, inputs, prefix, prefix == "mm." && has_text ? "gen_mm." : "gen.", max_new_tokens, out);
    any = true;
  }
  return any;
}

// Preprocesses image files into "image.pixel_values" [n, 3, S, S].
inline void run_image_preprocessing(const std::vector<std::string>& paths, int image_size, ArrayMap& out) {
  Array a;
  a.shape = {int64_t(paths.size()), 3, image_size, image_size};
  for (const auto& p : paths) {
    const Tensor px = preprocess_image(load_image(p), image_size);
    a.f32.insert(a.f32.end(), px.data.begin(), px.data.end());
  }
  out["image.pixel_values"] = std::move(a);
}

// ---- comparison ---------------------------------------------------------------------------

struct Comparison {
  std::string name;
  bool exact = false;      // integer/mask tensors: must match exactly
  double max_abs = 0;      // max |out − ref| over the compared rows
  double max_ref = 0;      // max |ref| over the compared rows
  double tolerance = 0;    // allowed max_abs
  int64_t mismatches = 0;  // exact tensors: differing elements
  int64_t compared = 0;    // f32 tensors: values compared
  int64_t identical = 0;   //   of which bit-identical to the golden
  bool ok = true;

  double identical_share() const { return compared ? double(identical) / double(compared) : 1.0; }
};

// Rows excluded from the comparison: encoder rows of padding tokens (their values are
// computed but meaningless). Returns a per-row keep flag for a [b, rows, ...] tensor.
inline std::vector<uint8_t> rows_to_compare(const std::string& name, const std::vector<int64_t>& shape,
                                            const SafetensorsFile& golden) {
  const std::size_t rows = shape.size() >= 2 ? std::size_t(shape[0] * shape[1]) : 0;
  std::vector<uint8_t> keep(rows, 1);
  const std::size_t dot = name.find('.');
  if (dot == std::string::npos || shape.size() != 3) return keep;
  const std::string prefix = name.substr(0, dot + 1);
  const bool encoder_rows = name.rfind(prefix + "encoder.", 0) == 0 && name.find(".mask.") == std::string::npos;
  const TensorEntry* mask = golden.find(prefix + "encoder_attention_mask");
  if (!encoder_rows || !mask || mask->numel() != int64_t(rows)) return keep;
  const std::vector<int64_t> m = to_i64_vector(*mask);
  for (std::size_t r = 0; r < rows; ++r) keep[r] = m[r] != 0;
  return keep;
}

// Compares every output that the golden file also holds. f32: |Δ| ≤ rel_tol · max(1, max|ref|).
inline std::vector<Comparison> compare_with_golden(const ArrayMap& out, const SafetensorsFile& golden, double rel_tol = 1e-5) {
  std::vector<Comparison> result;
  for (const auto& [name, a] : out) {
    const TensorEntry* ref = golden.find(name);
    if (!ref) continue;
    Comparison c;
    c.name = name;
    if (ref->shape != a.shape) {
      c.ok = false;
      c.mismatches = -1;
      result.push_back(c);
      continue;
    }
    if (a.dtype == DType::F32) {
      const std::vector<float> r = to_f32_vector(*ref);
      const std::vector<uint8_t> keep = rows_to_compare(name, a.shape, golden);
      const std::size_t row_len = keep.empty() ? r.size() : r.size() / keep.size();
      for (std::size_t i = 0; i < r.size(); ++i) {
        if (!keep.empty() && !keep[i / row_len]) continue;
        c.max_abs = std::max(c.max_abs, double(std::fabs(a.f32[i] - r[i])));
        ++c.compared;
        c.identical += bits_from_f32(a.f32[i]) == bits_from_f32(r[i]);
        c.max_ref = std::max(c.max_ref, double(std::fabs(r[i])));
        if (std::isnan(a.f32[i]) != std::isnan(r[i])) c.max_abs = INFINITY;
      }
      c.tolerance = rel_tol * std::max(1.0, c.max_ref);
      c.ok = c.max_abs <= c.tolerance;
    } else {
      c.exact = true;
      const std::vector<int64_t> r = to_i64_vector(*ref);
      for (std::size_t i = 0; i < r.size(); ++i) {
        const int64_t v = a.dtype == DType::U8 ? int64_t(a.u8[i]) : a.i64[i];
        c.mismatches += v != r[i];
      }
      c.ok = c.mismatches == 0;
    }
    result.push_back(c);
  }
  return result;
}

inline void print_comparisons(const std::vector<Comparison>& cs, std::FILE* f = stdout) {
  for (const auto& c : cs) {
    if (c.mismatches < 0) std::fprintf(f, "%-40s SHAPE MISMATCH\n", c.name.c_str());
    else if (c.exact) std::fprintf(f, "%-40s %s  exact: %lld mismatches\n", c.name.c_str(), c.ok ? "ok  " : "FAIL", (long long)c.mismatches);
    else
      std::fprintf(f, "%-40s %s  max|d| %.3e  (max|ref| %.3e, tol %.1e, rel %.2e)  bit-identical %.4f%%\n", c.name.c_str(),
                   c.ok ? "ok  " : "FAIL", c.max_abs, c.max_ref, c.tolerance, c.max_abs / std::max(1.0, c.max_ref),
                   100.0 * c.identical_share());
  }
}

T5GEMMA2_NAMESPACE_END
