// The `t5gemma2` Python module: the reference from Python, numpy in and out (pybind11).
//
//   import t5gemma2
//   m = t5gemma2.Model("models/demo")                     # f32, best SIMD target, all cores
//   m.generate("translate to French: hello")              # [{"text", "tokens", "score"}]
//   m.embed(["a cat", "a dog"], normalize=True)           # numpy [2, H] float32
//   m.encode(ids)                                         # numpy [S, H]: encoder.last_hidden_state
//   m.dump({"text.encoder_input_ids": ids, ...})          # the dump tool's golden-named tensors
//
// One more consumer of the header-only library, like the CLI: every number comes from the same
// Model, generate_from_encoded, pool_states and run_cases the CLI and t5gemma2-dump call, so the
// module gives their bits. Here only the crossing between Python and C++ is decided:
//   * arrays out are handed over, not copied: a result's std::vector moves into a capsule that
//     owns the numpy array's memory;
//   * encode's arrays are read in place when they already are C-contiguous of the right dtype (no
//     conversion copy); the library's Tensor then takes its one copy (dump's inputs are copied
//     into an in-memory safetensors file, as the dump tool reads them);
//   * the GIL is released while the model computes, and every computation holds one process-wide
//     lock: the thread pool and the SIMD target are process-wide settings that each Model applies
//     (threads, target) before it runs; a forked child gets a fresh lock and thread pool;
//   * Ctrl-C: on the main thread, the encoder's progress reports, each image and each greedy or
//     sampled token check Python's signals (at most every 10 ms); a pending KeyboardInterrupt
//     stops the work there and is raised (embed checks between its stacks of prompts; a beam
//     search only before it starts);
//   * importing the module calls keep_freed_memory() (memory.hpp): freed activation buffers
//     stay in the process for reuse, as in the CLI;
//   * errors: t5gemma2::Error from reading a file (checkpoint, config, tokenizer, image) becomes
//     t5gemma2.Error, a subclass of OSError; from checking an argument or input (a prompt too
//     long, an image/marker mismatch, a bad option), ValueError — with the CLI's messages.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <new>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <type_traits>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "../cli_args.hpp"
#include "../default_model.hpp"
#include "t5gemma2/dump.hpp"
#include "t5gemma2/t5gemma2.hpp"

namespace py = pybind11;
using namespace t5gemma2;

namespace {

// ---- errors ----------------------------------------------------------------------------------

struct FileError : std::runtime_error {  // -> t5gemma2.Error (OSError)
  using std::runtime_error::runtime_error;
};
struct Interrupted {};  // a KeyboardInterrupt (or other signal exception) is pending in Python

// Runs f, turning t5gemma2::Error into FileError (reading files) or ValueError (checking input).
enum class Blame { kFile, kInput };
template <class F>
auto blame(Blame who, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    if (who == Blame::kFile) throw FileError(e.what());
    throw py::value_error(e.what());
  }
}

// The thread that imported the module: Python runs signal handlers on the main thread only.
std::thread::id& main_thread() {
  static std::thread::id id;
  return id;
}

// Checks Python's signal handlers from the computing thread (which holds no GIL then): only on
// the main thread, and at most every 10 ms (taking the GIL costs a switch when other threads run).
void check_signals() {
  if (std::this_thread::get_id() != main_thread()) return;
  thread_local std::chrono::steady_clock::time_point last;
  const auto now = std::chrono::steady_clock::now();
  if (now - last < std::chrono::milliseconds(10)) return;
  last = now;
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw Interrupted{};
}

// The computation f without the GIL, under the process-wide compute lock. A call made while this
// thread already computes (a signal handler that uses a model) is refused, not deadlocked.
std::mutex& compute_lock() {
  static std::mutex m;
  return m;
}
bool& computing() {
  thread_local bool inside = false;
  return inside;
}
template <class F>
auto compute(F&& f) {
  if (computing()) throw std::runtime_error("t5gemma2: a model was called while this thread is computing (from a signal handler?)");
  try {
    py::gil_scoped_release no_gil;
    std::lock_guard<std::mutex> one_at_a_time(compute_lock());
    computing() = true;
    struct Done {
      ~Done() { computing() = false; }
    } done;
    return blame(Blame::kInput, f);
  } catch (const Interrupted&) {
    throw py::error_already_set();  // the KeyboardInterrupt PyErr_CheckSignals set
  }
}

// In a forked child: the parent's worker threads and any lock they held are gone.
void after_fork_in_child() {
  forget_thread_pool_after_fork();
  new (&compute_lock()) std::mutex();
  main_thread() = std::this_thread::get_id();
}

// ---- numpy -----------------------------------------------------------------------------------

// Hands v to numpy without copying: the array's memory is v's, owned by a capsule.
template <class T>
py::array_t<T> hand_over(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* owner = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(std::move(shape), owner->data(), free_when_done);
}
py::array_t<float> hand_over(Tensor&& t) { return hand_over(std::move(t.data), {t.rows, t.cols}); }

py::object array_of(Array&& a) {
  std::vector<py::ssize_t> shape(a.shape.begin(), a.shape.end());
  if (a.dtype == DType::F32) return hand_over(std::move(a.f32), shape);
  if (a.dtype == DType::U8) return hand_over(std::move(a.u8), shape);
  return hand_over(std::move(a.i64), shape);
}

// Token ids from any integer array or sequence: 1-D [S], or [1, S].
std::vector<int> ids_of(const py::handle& obj, const char* what) {
  const py::array any = py::array::ensure(obj);
  if (!any || (any.size() > 0 && any.dtype().kind() != 'i' && any.dtype().kind() != 'u' && any.dtype().kind() != 'b'))
    throw py::value_error(std::string(what) + " must be a sequence or array of integers");
  const auto a = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(any);
  if (!(a.ndim() == 1 || (a.ndim() == 2 && a.shape(0) == 1)))
    throw py::value_error(std::string(what) + " must be 1-D [tokens] or [1, tokens]");
  std::vector<int> ids;
  for (py::ssize_t i = 0; i < a.size(); ++i) {
    const int64_t v = a.data()[i];
    if (v < 0 || v >= (int64_t(1) << 31)) throw py::value_error(std::string(what) + ": value " + std::to_string(v) + " is out of range");
    ids.push_back(int(v));
  }
  return ids;
}

// ---- options ---------------------------------------------------------------------------------

// HF's early_stopping: True, False or "never".
std::string early_stopping_of(const py::object& e) {  // as generation_config.json spells it
  if (py::isinstance<py::bool_>(e)) return e.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::str>(e) && e.cast<std::string>() == "never") return "never";
  throw py::value_error("early_stopping must be True, False or \"never\"");
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FileError(path + ": cannot be read");
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// ---- the model -------------------------------------------------------------------------------

using F32Model = Model<RuntimeDims, float, HwyDynamicTarget, F32>;
using Bf16WeightsModel = Model<RuntimeDims, bf16_t, HwyDynamicTarget, F32>;
using HfBf16Model = Model<RuntimeDims, bf16_t, HwyDynamicTarget, HfBf16>;

class PyModel {
 private:
  struct Inputs {
    std::vector<std::vector<int>> ids;        // per prompt
    std::vector<std::vector<Tensor>> pixels;  // per prompt: its images, preprocessed
  };

  // Tokenizes the prompts and reads the images as the CLI does: a single prompt takes every
  // image; with several prompts each takes as many as it has <start_of_image> markers.
  Inputs inputs_of(const std::vector<std::string>& prompts, const std::vector<std::string>& images) const {
    Inputs in;
    const t5gemma2_cli::TokenizedPrompts tokenized = blame(Blame::kInput, [&] {
      check_takes_images(config_, images.size(), "images");
      const Tokenizer& tok = tokenizer();
      return t5gemma2_cli::tokenize_prompts(tok, config_, prompts, images.size(), config_.encoder.max_position_embeddings,
                                            t5gemma2_cli::kPositionsLimit);
    });
    in.ids = tokenized.ids;
    for (std::size_t n : tokenized.images_of) in.pixels.emplace_back(n);
    std::size_t next = 0;
    for (auto& per_prompt : in.pixels)
      for (Tensor& px : per_prompt) {
        const std::string& path = images[next++];
        px = blame(Blame::kFile, [&] { return preprocess_image(load_image(path), config_.vision.image_size); });
      }
    return in;
  }

  template <class M>
  std::vector<Tensor> image_features(const M& model, const std::vector<Tensor>& pixels) const {
    std::vector<Tensor> features;
    for (const Tensor& px : pixels) {
      check_signals();
      features.push_back(model.image_features(px));
    }
    return features;
  }

  // The encoder, stopping at the next progress report once Python has a signal pending.
  template <class M>
  Tensor encode_checked(const M& model, Tensor embeddings, const std::vector<uint8_t>& valid) const {
    Observer observe;
    observe.progress = [](const Progress&) { check_signals(); };
    check_signals();
    return model.encode_embeddings(std::move(embeddings), valid, observe);
  }

  // The tokenizer; a model folder without tokenizer.model reports it here, when text is used.
  const Tokenizer& tokenizer() const {
    if (!tokenizer_) {
      blame(Blame::kFile, [&] { return load_tokenizer(path_, config_); });  // throws, naming the file
      throw FileError(path_ + "/tokenizer.model: not present when the model was loaded");
    }
    return *tokenizer_;
  }

  // Generated tokens end at the first EOS; what follows is the batch's padding.
  void trim_padding(std::vector<int>& tokens) const {
    const auto eos = std::find_first_of(tokens.begin(), tokens.end(), config_.eos_token_ids.begin(), config_.eos_token_ids.end());
    if (eos != tokens.end()) tokens.erase(eos + 1, tokens.end());
  }

  // Applies this model's thread count and SIMD target (process-wide) and runs f(model).
  template <class F>
  auto with_model(F&& f) const {
    apply_settings();
    return std::visit([&](const auto& m) { return f(*m); }, model_);
  }
  void apply_settings() const {
    set_num_threads(threads_ > 0 ? threads_ : int(std::max(1u, std::thread::hardware_concurrency())));
    select_target(target_);
  }
  bool has_decoder() const {
    return std::visit([](const auto& m) { return m ? m->has_decoder() : true; }, model_);
  }


 public:
  PyModel(const py::object& path_like, const std::string& precision, std::optional<std::string> target, std::optional<int> threads,
          std::optional<long long> synthetic_seed, bool encoder_only)
      : path_(py::str(py::module_::import("os").attr("fspath")(path_like))),
        precision_(precision),
        target_(target.value_or("")),
        threads_(threads.value_or(0)) {
    const std::string& path = path_;
    if (precision != "f32" && precision != "bf16-weights" && precision != "hf-bf16")
      throw py::value_error("precision must be \"f32\", \"bf16-weights\" or \"hf-bf16\", not \"" + precision + "\"");
    if (threads && (*threads < 1 || *threads > 1024)) throw py::value_error("threads must be between 1 and 1024");
    if (synthetic_seed && (*synthetic_seed < 0 || *synthetic_seed > (1 << 30))) throw py::value_error("synthetic_seed must be between 0 and 2^30");
    config_ = blame(Blame::kFile, [&] { return load_model_config(path); });
    config_json_ = read_text_file(path + "/config.json");
    if (std::filesystem::exists(path + "/tokenizer.model"))  // else: ids in, ids out (dump, encode) only
      tokenizer_ = blame(Blame::kFile, [&] { return std::make_unique<Tokenizer>(load_tokenizer(path, config_)); });
    py::gil_scoped_release no_gil;
    std::lock_guard<std::mutex> one_at_a_time(compute_lock());
    blame(Blame::kInput, [&] { apply_settings(); return 0; });  // an unknown target: ValueError
    blame(Blame::kFile, [&] {
      const ModelParts parts{.decoder = !encoder_only, .vision = true};
      const auto load = [&](auto tag) {
        using M = typename decltype(tag)::type;
        model_ = synthetic_seed ? std::make_unique<M>(config_, synthetic_checkpoint(uint64_t(*synthetic_seed), /*with_vision=*/true), parts)
                                : std::make_unique<M>(path, parts);
      };
      if (precision == "f32") load(std::type_identity<F32Model>{});
      else if (precision == "bf16-weights") load(std::type_identity<Bf16WeightsModel>{});
      else load(std::type_identity<HfBf16Model>{});
      return 0;
    });
  }

  py::object config() const { return py::module_::import("json").attr("loads")(config_json_); }
  std::string target() const {
    return compute([&] {
      apply_settings();
      return std::string(HwyDynamicTarget::name());
    });
  }

  std::vector<int> tokenize(const std::string& text, bool add_bos) const { return tokenizer().encode(text, add_bos); }
  std::string detokenize(const std::vector<int>& ids, bool skip_special_tokens) const {
    return blame(Blame::kInput, [&] { return tokenizer().decode(ids, skip_special_tokens); });
  }

  py::object generate(const py::object& prompt, const std::optional<std::vector<std::string>>& images_or_none, std::optional<int> max_new_tokens,
                      std::optional<int> num_beams, std::optional<int> num_return_sequences, std::optional<double> length_penalty,
                      std::optional<py::object> early_stopping, std::optional<int> no_repeat_ngram_size,
                      std::optional<double> repetition_penalty, std::optional<int> min_new_tokens, bool do_sample, double temperature,
                      int top_k, double top_p, std::optional<uint64_t> seed) {
    const bool batch = !py::isinstance<py::str>(prompt);
    const std::vector<std::string> prompts = batch ? prompt.cast<std::vector<std::string>>() : std::vector<std::string>{prompt.cast<std::string>()};
    const std::vector<std::string> images = images_or_none.value_or(std::vector<std::string>{});
    if (prompts.empty()) throw py::value_error("generate: no prompt");
    t5gemma2_cli::GenerationOverrides given{max_new_tokens, num_beams, num_return_sequences, no_repeat_ngram_size, min_new_tokens,
                                            length_penalty, repetition_penalty, std::nullopt};
    if (early_stopping) given.early_stopping = early_stopping_of(*early_stopping);
    GenerationOptions o = t5gemma2_cli::generation_options(config_.generation, given);
    if (o.max_new_tokens < 1 || o.max_new_tokens > (1 << 20)) throw py::value_error("max_new_tokens must be between 1 and 2^20");
    if (o.beam.num_beams < 1 || o.beam.num_beams > 1024) throw py::value_error("num_beams must be between 1 and 1024");
    if (o.beam.num_return_sequences < 1 || o.beam.num_return_sequences > o.beam.num_beams)
      throw py::value_error("num_return_sequences must be between 1 and num_beams (" + std::to_string(o.beam.num_beams) + ")");
    if (!(o.processing.repetition_penalty > 0)) throw py::value_error("repetition_penalty must be > 0");
    if (o.processing.no_repeat_ngram_size < 0 || o.processing.min_new_tokens < 0)
      throw py::value_error("no_repeat_ngram_size and min_new_tokens must be >= 0");
    if (do_sample && !(temperature > 0)) throw py::value_error("temperature must be > 0 with do_sample=True");
    if (top_k < 0) throw py::value_error("top_k must be >= 0");
    if (!(top_p > 0 && top_p <= 1)) throw py::value_error("top_p must be in (0, 1]");
    if (do_sample && o.beam.num_beams > 1) throw py::value_error("do_sample with num_beams > 1 (beam sampling) is not supported");
    o.sampling = {.temperature = do_sample ? float(temperature) : 0.0f, .top_k = top_k, .top_p = float(top_p), .seed = seed.value_or(0)};
    o.on_token = [](std::size_t, int) { check_signals(); };
    const int dec_limit = config_.decoder.max_position_embeddings;
    if (dec_limit > 0 && o.max_new_tokens >= dec_limit)
      throw py::value_error("max_new_tokens " + std::to_string(o.max_new_tokens) + " exceeds the decoder's " + std::to_string(dec_limit) +
                            " positions (max_position_embeddings)");

    const Inputs in = inputs_of(prompts, images);
    std::vector<Generation> out = compute([&] {
      return with_model([&](const auto& model) {
        model.require_decoder();
        const PaddedBatch padded = pad_left(in.ids, config_.pad_token_id);
        std::vector<Tensor> encoded;
        for (std::size_t b = 0; b < prompts.size(); ++b)
          encoded.push_back(encode_checked(model, model.encoder_embeddings(padded.ids[b], image_features(model, in.pixels[b])), padded.valid[b]));
        return generate_from_encoded(model, encoded, padded.valid, o);
      });
    });
    // One list of hypotheses per prompt (num_return_sequences each; 1 without beams).
    const std::size_t per_prompt = o.beam.num_beams > 1 ? std::size_t(o.beam.num_return_sequences) : 1;
    py::list all;
    for (std::size_t p = 0; p < prompts.size(); ++p) {
      py::list hypotheses;
      for (std::size_t i = 0; i < per_prompt; ++i) {
        const Generation& g = out[p * per_prompt + i];
        std::vector<int> tokens(g.sequence.begin() + 1, g.sequence.end());  // without the decoder start
        trim_padding(tokens);
        py::dict h;
        h["text"] = tokenizer().decode(tokens, /*skip_special=*/true);
        h["tokens"] = tokens;
        h["score"] = o.beam.num_beams > 1 ? py::object(py::float_(g.score)) : py::object(py::none());
        hypotheses.append(h);
      }
      all.append(hypotheses);
    }
    return batch ? py::object(all) : py::object(all[0]);
  }

  py::object embed(const py::object& prompt_or_prompts, const std::optional<std::vector<std::vector<std::string>>>& images,
                   const std::string& pooling_name, bool normalize) {
    const bool batch = !py::isinstance<py::str>(prompt_or_prompts);
    const std::vector<std::string> prompts =
        batch ? prompt_or_prompts.cast<std::vector<std::string>>() : std::vector<std::string>{prompt_or_prompts.cast<std::string>()};
    if (prompts.empty()) throw py::value_error("embed: no prompt");
    const Pooling pooling = blame(Blame::kInput, [&] { return parse_pooling(pooling_name); });
    if (images && images->size() != prompts.size())
      throw py::value_error("embed: images must hold one list of paths per prompt (" + std::to_string(prompts.size()) + "), got " +
                            std::to_string(images->size()));
    // Each prompt with its own images: tokenized and its images read before any computation.
    std::vector<std::vector<int>> ids;
    std::vector<std::vector<Tensor>> pixels;
    for (std::size_t b = 0; b < prompts.size(); ++b) {
      const Inputs one = inputs_of({prompts[b]}, images ? (*images)[b] : std::vector<std::string>{});
      ids.push_back(one.ids[0]);
      pixels.push_back(one.pixels[0]);
    }
    std::vector<Tensor> vectors = compute([&] {
      return with_model([&](const auto& model) {
        return sentence_embeddings(
            model, prompts.size(), [&](std::size_t b) { return model.encoder_embeddings(ids[b], image_features(model, pixels[b])); },
            pooling, normalize, check_signals);
      });
    });
    if (pooling == Pooling::kNone) {
      py::list per_prompt;
      for (Tensor& v : vectors) per_prompt.append(hand_over(std::move(v)));
      return batch ? py::object(per_prompt) : per_prompt[0];
    }
    const int H = config_.encoder.hidden_size;
    std::vector<float> flat;
    flat.reserve(vectors.size() * std::size_t(H));
    for (const Tensor& v : vectors) flat.insert(flat.end(), v.data.begin(), v.data.end());
    return hand_over(std::move(flat), {py::ssize_t(vectors.size()), H});
  }

  py::array_t<float> encode(const py::object& input_ids, const py::object& attention_mask, const py::object& pixel_values) {
    const std::vector<int> ids = ids_of(input_ids, "input_ids");
    if (ids.empty()) throw py::value_error("input_ids is empty");
    std::vector<uint8_t> valid(ids.size(), 1);
    if (!attention_mask.is_none()) {
      const std::vector<int> mask = ids_of(attention_mask, "attention_mask");
      if (mask.size() != ids.size())
        throw py::value_error("attention_mask has " + std::to_string(mask.size()) + " values for " + std::to_string(ids.size()) + " tokens");
      for (std::size_t i = 0; i < ids.size(); ++i) valid[i] = mask[i] != 0;
    }
    std::vector<Tensor> pixels;
    if (!pixel_values.is_none()) {
      const auto px = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(pixel_values);
      const int size = config_.vision.image_size;
      if (!px || !(px.ndim() == 4 || px.ndim() == 3) || px.shape(px.ndim() - 3) != 3 || px.shape(px.ndim() - 2) != size ||
          px.shape(px.ndim() - 1) != size)
        throw py::value_error("pixel_values must be float [n, 3, " + std::to_string(size) + ", " + std::to_string(size) + "] for this model");
      const py::ssize_t n = px.ndim() == 4 ? px.shape(0) : 1, plane = py::ssize_t(size) * size;
      for (py::ssize_t i = 0; i < n; ++i) {
        Tensor t(3, int(plane));
        std::copy(px.data() + i * 3 * plane, px.data() + (i + 1) * 3 * plane, t.data.begin());
        pixels.push_back(std::move(t));
      }
    }
    return hand_over(compute([&] {
      return with_model([&](const auto& model) {
        check_takes_images(config_, pixels.size(), "pixel_values");
        return encode_checked(model, model.encoder_embeddings(ids, image_features(model, pixels)), valid);
      });
    }));
  }

  py::dict dump(const py::dict& inputs, int max_new_tokens) {
    if (max_new_tokens < 0 || max_new_tokens > (1 << 20)) throw py::value_error("max_new_tokens must be between 0 and 2^20");
    SafetensorsWriter w;  // copies each array: the dump tool's in-memory inputs file
    for (const auto& [key, value] : inputs) {
      const std::string name = py::str(key);
      const py::array any = py::array::ensure(value);
      if (!any) throw py::value_error("dump: '" + name + "' is not an array");
      std::vector<int64_t> shape(any.shape(), any.shape() + any.ndim());
      if (py::isinstance<py::array_t<float>>(any) || any.dtype().kind() == 'f') {
        const auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(any);
        w.add_f32(name, shape, a.data());
      } else if (any.dtype().kind() == 'i' || any.dtype().kind() == 'u' || any.dtype().kind() == 'b') {
        const auto a = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(any);
        w.add_i64(name, shape, a.data());
      } else {
        throw py::value_error("dump: '" + name + "' must hold integers or floats");
      }
    }
    const SafetensorsFile file(std::make_shared<MappedFile>("inputs", w.bytes()));
    ArrayMap out = compute([&] {
      return with_model([&](const auto& model) {
        ArrayMap arrays;
        check(run_cases(model, file, max_new_tokens, arrays), "dump: no known case (expected text.encoder_input_ids or mm.encoder_input_ids)");
        return arrays;
      });
    });
    py::dict result;
    for (auto& [name, array] : out) result[py::str(name)] = array_of(std::move(array));
    return result;
  }

  std::string repr() const {
    return "t5gemma2.Model('" + path_ + "', precision='" + precision_ + "', encoder_only=" + (has_decoder() ? "False" : "True") + ")";
  }

 private:
  std::string path_, precision_, target_, config_json_;
  int threads_ = 0;
  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::variant<std::unique_ptr<F32Model>, std::unique_ptr<Bf16WeightsModel>, std::unique_ptr<HfBf16Model>> model_;
};

}  // namespace

PYBIND11_MODULE(t5gemma2, m) {
  m.doc() = "T5Gemma 2 (text + SigLIP vision encoder-decoder) from the header-only C++ reference: numpy in, numpy out.";
  m.attr("__version__") = T5GEMMA2_VERSION_STRING;
  // Never destroyed: it must outlive the interpreter's finalization.
  static auto* error = new py::exception<FileError>(m, "Error", PyExc_OSError);
  error->doc() = "A file could not be read or is not what it claims (checkpoint, config.json, tokenizer, image). Subclass of OSError.";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FileError& e) {
      PyErr_SetString(error->ptr(), e.what());
    } catch (const Error& e) {  // not attributed to a file or an argument: the input as a whole
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.attr("demo_model") = t5gemma2_cli::demo_model_dir(t5gemma2_cli::object_file_of(reinterpret_cast<const void*>(&check_signals)),
                                                      T5GEMMA2_INSTALLED_MODEL, T5GEMMA2_DEFAULT_MODEL);
  m.def("read_safetensors", [](const std::string& path) {
          py::dict out;
          const SafetensorsFile f = blame(Blame::kFile, [&] { return SafetensorsFile(path); });
          for (const TensorEntry& t : f.tensors()) {
            const std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
            py::object a;
            if (t.dtype == DType::U8 || t.dtype == DType::BOOL)
              a = hand_over(std::vector<uint8_t>(t.data, t.data + t.numel()), shape);
            else if (t.dtype == DType::F64) {
              std::vector<double> v(std::size_t(t.numel()));
              std::memcpy(v.data(), t.data, v.size() * sizeof(double));
              a = hand_over(std::move(v), shape);
            } else if (t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F16)
              a = hand_over(to_f32_vector(t), shape);
            else
              a = hand_over(blame(Blame::kFile, [&] { return to_i64_vector(t); }), shape);
            out[py::str(t.name)] = a;
          }
          return out;
        }, py::arg("path"),
        "Every tensor of a .safetensors file as numpy: floats as float32 (bf16/f16 widened exactly; f64 kept),\n"
        "integers as int64, u8/bool as uint8. For goldens and dumps, without PyTorch.");
  m.def("available_targets", [] { return compute([] { return available_targets(); }); },
        "Names of the SIMD targets this CPU runs, best first, then 'scalar' (the reference). Results are identical on all.");
  keep_freed_memory();
  main_thread() = std::this_thread::get_id();
  m.def("_after_fork_in_child", &after_fork_in_child);
  py::module_::import("os").attr("register_at_fork")(py::arg("after_in_child") = m.attr("_after_fork_in_child"));

  py::class_<PyModel>(m, "Model", "A T5Gemma 2 checkpoint loaded for inference (T5Gemma2ForConditionalGeneration).")
      .def(py::init<const py::object&, const std::string&, std::optional<std::string>, std::optional<int>, std::optional<long long>, bool>(),
           py::arg("path"), py::kw_only(), py::arg("precision") = "f32", py::arg("target") = py::none(), py::arg("threads") = py::none(),
           py::arg("synthetic_seed") = py::none(), py::arg("encoder_only") = false,
           "Loads PATH (config.json, model.safetensors, tokenizer.model).\n\n"
           "precision: 'f32' (the reference), 'bf16-weights' (weights kept as bfloat16, f32 activations) or 'hf-bf16'\n"
           "(transformers' bfloat16 CPU run, bit for bit). target: a name of available_targets() (None: the best).\n"
           "threads: worker threads (None: all cores); results do not depend on it. synthetic_seed: generate the weights\n"
           "(synth-weights-v1) instead of reading model.safetensors. encoder_only: skip the decoder (embed, encode).")
      .def_property_readonly("config", &PyModel::config, "config.json as read (a dict).")
      .def_property_readonly("target", &PyModel::target, "The SIMD kernels this model runs on, e.g. 'AVX3_DL' or 'scalar'.")
      .def("tokenize", &PyModel::tokenize, py::arg("text"), py::kw_only(), py::arg("add_bos") = true,
           "Token ids of TEXT (Gemma 3's SentencePiece tokenizer, BOS first unless add_bos=False).")
      .def("detokenize", &PyModel::detokenize, py::arg("ids"), py::kw_only(), py::arg("skip_special_tokens") = false, "Text of token IDS.")
      .def("generate", &PyModel::generate, py::arg("prompt"), py::kw_only(), py::arg("images") = py::none(),
           py::arg("max_new_tokens") = py::none(), py::arg("num_beams") = py::none(), py::arg("num_return_sequences") = py::none(),
           py::arg("length_penalty") = py::none(), py::arg("early_stopping") = py::none(), py::arg("no_repeat_ngram_size") = py::none(),
           py::arg("repetition_penalty") = py::none(), py::arg("min_new_tokens") = py::none(), py::arg("do_sample") = false,
           py::arg("temperature") = 1.0, py::arg("top_k") = 0, py::arg("top_p") = 1.0, py::arg("seed") = py::none(),
           "Generates text for PROMPT (a str; a list of str runs a left-padded batch and returns one list per prompt).\n\n"
           "Returns num_return_sequences dicts {'text', 'tokens', 'score'}: tokens without the decoder start token, score HF's\n"
           "sequences_scores under beam search (None otherwise). Options left None take generation_config.json's values\n"
           "(max_new_tokens: 32 when it has none), as HF's generate(). images: paths; each <start_of_image> marker of the\n"
           "prompt takes the next image (a prompt without markers gets one per image in front).")
      .def("embed", &PyModel::embed, py::arg("prompts"), py::kw_only(), py::arg("images") = py::none(), py::arg("pooling") = "mean",
           py::arg("normalize") = false,
           "Sentence embeddings from the encoder: numpy float32 [n, H] for n prompts (a single str: [1, H]).\n\n"
           "pooling: 'mean' | 'first' | 'last' over each prompt's tokens, or 'none': a list of [tokens, H] arrays.\n"
           "normalize: divide each vector by its L2 norm. images: one list of paths per prompt.")
      .def("encode", &PyModel::encode, py::arg("input_ids"), py::arg("attention_mask") = py::none(), py::arg("pixel_values") = py::none(),
           "encoder.last_hidden_state [S, H] (float32) for token ids [S] (or [1, S]), with an optional attention mask [S]\n"
           "(0 = padding) and pixel_values [n, 3, size, size] for the image tokens.")
      .def("dump", &PyModel::dump, py::arg("inputs"), py::kw_only(), py::arg("max_new_tokens") = 8,
           "Runs golden-style INPUTS (a dict of arrays named as the goldens: text.encoder_input_ids, text.decoder_input_ids,\n"
           "mm.pixel_values, ...) and returns every named intermediate as t5gemma2-dump writes it (encoder.layer{i},\n"
           "logits, masks, gen.sequences, ...).")
      .def("__repr__", &PyModel::repr);
}
