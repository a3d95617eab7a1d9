// t5gemma2 — text generation (docs/model.md §5): encode once, then one decoder step per new token.
//
//   greedy      argmax of the logits, ties -> the lowest id
//   sampling    logits / temperature -> keep the top_k largest -> keep the smallest prefix of
//               the sorted distribution whose mass reaches top_p -> softmax -> draw with a
//               seeded mt19937_64 (reproducible run to run; not PyTorch's random stream)
//   processors  repetition penalty, no-repeat n-grams, min new tokens act on the logits first
//               (logits_processors.hpp), as in HF
//   beams       num_beams > 1: beam search (beam_search.hpp)
//   stop        at any EOS id (generation_config.json's list when it has one, else config.json's) or max_new_tokens
// A batch runs in lock-step like HF's generate: a finished sequence is fed PAD and emits PAD
// until every sequence has finished.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <vector>

#include "t5gemma2/beam_search.hpp"
#include "t5gemma2/generation_options.hpp"
#include "t5gemma2/decoder_session.hpp"
#include "t5gemma2/logits_processors.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// argmax, ties to the lowest index.
inline int argmax(const std::vector<float>& logits) {
  int best = 0;
  for (int i = 1; i < int(logits.size()); ++i)
    if (logits[std::size_t(i)] > logits[std::size_t(best)]) best = i;
  return best;
}

// Draws a token from logits with temperature, top-k and top-p. The scaled logits are doubles:
// with a tiny temperature (1e-40) f32 would overflow to ±inf and the draw turn into NaNs; in
// double the distribution becomes the one-hot of the argmax, as it should.
inline int sample_token(const std::vector<float>& logits, const SamplingOptions& o, std::mt19937_64& rng) {
  check(std::isfinite(o.temperature), "temperature must be a finite number");
  if (o.temperature <= 0.0f) return argmax(logits);
  std::vector<int> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[std::size_t(a)] > logits[std::size_t(b)]; });
  std::size_t keep = order.size();
  if (o.top_k > 0) keep = std::min(keep, std::size_t(o.top_k));
  const double t = double(o.temperature);
  const double max_logit = double(logits[std::size_t(order[0])]) / t;
  std::vector<double> p(keep);
  double total = 0;
  for (std::size_t i = 0; i < keep; ++i) total += p[i] = std::exp(double(logits[std::size_t(order[i])]) / t - max_logit);
  if (o.top_p < 1.0f) {
    double mass = 0;
    std::size_t n = 0;
    while (n < keep && (n == 0 || mass < o.top_p * total)) mass += p[n++];
    keep = n;
    total = mass;
  }
  double u = std::uniform_real_distribution<double>(0.0, total)(rng);
  for (std::size_t i = 0; i < keep; ++i) {
    if (u < p[i]) return order[i];
    u -= p[i];
  }
  return order[keep - 1];
}

// Generates for a batch of encoder outputs E [S_b, H] and their padding rows (inputs padded by
// the caller as the tokenizer pads them; images already merged before encoding). With
// options.beam.num_beams > 1 this is beam search and returns num_return_sequences per input.
template <class Model>
inline std::vector<Generation> generate_from_encoded(const Model& model, const std::vector<Tensor>& encoder_outputs,
                                                     const std::vector<std::vector<uint8_t>>& encoder_valid,
                                                     const GenerationOptions& options) {
  if (options.beam.num_beams > 1) return beam_search_from_encoded(model, encoder_outputs, encoder_valid, options);
  options.processing.validate();
  const ModelConfig& c = model.config();
  const std::vector<int>& eos = options.eos_ids.empty() ? c.eos_token_ids : options.eos_ids;
  const auto is_eos = [&](int t) { return std::find(eos.begin(), eos.end(), t) != eos.end(); };
  const std::size_t batch = encoder_outputs.size();
  std::vector<Generation> out(batch);
  // With the KV cache, all sequences step together: one matrix product per layer for the batch.
  std::optional<BatchDecoderSession<Model>> session;
  if (options.use_cache) session.emplace(model, encoder_outputs, encoder_valid, options.cross_kv_bf16);
  for (std::size_t b = 0; b < batch; ++b) out[b].sequence.push_back(c.decoder_start_token_id);
  std::mt19937_64 rng(options.sampling.seed);
  for (int step = 0; step < options.max_new_tokens; ++step) {
    bool all_finished = true;
    std::vector<std::vector<float>> step_logits;
    if (options.use_cache) {
      std::vector<int> last(batch);
      for (std::size_t b = 0; b < batch; ++b) last[b] = out[b].sequence.back();
      step_logits = session->step(last);
    }
    for (std::size_t b = 0; b < batch; ++b) {
      Generation& g = out[b];
      std::vector<float> logits;
      if (options.use_cache) {
        logits = std::move(step_logits[b]);
      } else {
        const Tensor h = model.decode(g.sequence, encoder_outputs[b], encoder_valid[b]);
        const Tensor all = model.logits(h);
        logits.assign(all.row(all.rows - 1), all.row(all.rows - 1) + all.cols);
      }
      int token = c.pad_token_id;
      if (!g.finished) {
        if (options.processing.active()) {
          std::vector<float> scores = logits;  // the raw logits stay for keep_step_logits
          process_scores(options.processing, g.sequence, /*prompt_length=*/1, eos, scores);
          token = sample_token(scores, options.sampling, rng);
        } else {
          token = sample_token(logits, options.sampling, rng);
        }
      }
      if (options.keep_step_logits) g.step_logits.push_back(std::move(logits));
      g.sequence.push_back(token);
      if (!g.finished) {
        if (options.on_token) options.on_token(b, token);
        g.finished = is_eos(token);
      }
      all_finished = all_finished && g.finished;
    }
    if (all_finished) break;
  }
  return out;
}

T5GEMMA2_NAMESPACE_END
