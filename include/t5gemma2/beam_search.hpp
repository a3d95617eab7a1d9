// t5gemma2 — beam search with the semantics of HF generate() (transformers v5.0.0,
// GenerationMixin._beam_search), checked against it: same sequences, same sequences_scores.
//
// Each input keeps num_beams RUNNING hypotheses (beams) and num_beams KEPT finished ones. A step:
//   1. the decoder steps every running beam of every input as one batch (BatchDecoderSession,
//      inputs × num_beams rows; the beams of an input share its cross keys/values)
//   2. per beam: scores = processors(log_softmax(logits)) + the beam's running score   [num_beams·V]
//   3. candidates: the K = max(2, 1 + #EOS ids)·num_beams best (beam, token) pairs of the input —
//      enough that num_beams of them continue even if the best all end here
//   4. a candidate STOPS when its token is an EOS id or the sequence reaches max length
//   5. running beams := the num_beams best candidates, a stopping one pushed down by −1e9
//   6. of the first num_beams candidates, the stopping ones compete with the kept hypotheses on
//      score / (generated length)^length_penalty; the num_beams best stay kept
//   7. the decoder's self caches follow their beams (BatchDecoderSession::reorder)
// and the search stops when no input can still improve its kept hypotheses (early_stopping), or
// when every candidate stops (max length). The returned hypotheses are the kept ones, best first.
//
// HF masks with −1e9 offsets in f32 rather than with flags; we do the same arithmetic (f32,
// the same additions) so that every comparison, including the early-stopping heuristic, comes
// out as HF's. Equal scores rank by index (torch.topk leaves ties unspecified).
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "t5gemma2/generation_options.hpp"
#include "t5gemma2/decoder_session.hpp"
#include "t5gemma2/logits_processors.hpp"

T5GEMMA2_NAMESPACE_BEGIN

namespace beam_detail {

constexpr float kMasked = -1.0e9f;  // HF's "very large negative value"

// Indices of the k largest values, largest first; equal values in index order.
inline std::vector<int> top_k_indices(const std::vector<float>& v, int k) {
  std::vector<int> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min(k, int(v.size()));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) {
    const float x = v[std::size_t(a)], y = v[std::size_t(b)];
    return x > y || (x == y && a < b);
  });
  idx.resize(std::size_t(k));
  return idx;
}

struct Hypothesis {
  std::vector<int> tokens;  // decoder start + generated
  float score = 0.0f;       // running: Σ log p (+ masks); kept: Σ log p / length^penalty (+ masks)
  bool finished = false;    // kept slots: holds a finished hypothesis
};

// The search state of one input.
struct BeamEntry {
  std::vector<Hypothesis> running, kept;
  bool can_improve = true;  // HF's is_early_stop_heuristic_unsatisfied
};

}  // namespace beam_detail

inline void validate(const BeamSearchOptions& o) {
  check(o.num_beams >= 1, "num_beams must be >= 1");
  check(o.num_return_sequences >= 1 && o.num_return_sequences <= o.num_beams,
        "num_return_sequences must be between 1 and num_beams");
  check(std::isfinite(o.length_penalty), "length_penalty must be a finite number");
}

// Beam search over a batch of encoder outputs E [S_b, H] with their padding rows. Returns
// num_return_sequences hypotheses per input, input-major (HF's flattened order), each with HF's
// sequences_scores value in `score`.
template <class Model>
inline std::vector<Generation> beam_search_from_encoded(const Model& model, const std::vector<Tensor>& encoder_outputs,
                                                        const std::vector<std::vector<uint8_t>>& encoder_valid,
                                                        const GenerationOptions& options) {
  using namespace beam_detail;
  const BeamSearchOptions& o = options.beam;
  validate(o);
  options.processing.validate();
  check(options.sampling.temperature <= 0.0f, "beam sampling (temperature > 0 with num_beams > 1) is not supported");
  check(options.use_cache, "beam search needs the KV cache (use_cache)");
  check(!options.keep_step_logits, "beam search does not keep per-step logits");
  check(options.max_new_tokens >= 1, "max_new_tokens must be >= 1");
  const ModelConfig& c = model.config();
  const std::vector<int>& eos = options.eos_ids.empty() ? c.eos_token_ids : options.eos_ids;
  check(!eos.empty(), "beam search needs at least one EOS id");
  const auto is_eos = [&](int t) { return std::find(eos.begin(), eos.end(), t) != eos.end(); };
  const int beams = o.num_beams;
  const int candidates = std::max(2, 1 + int(eos.size())) * beams;  // HF's beams_to_keep
  const int prompt_length = 1;                                      // the decoder start token
  const int max_length = prompt_length + options.max_new_tokens;
  const std::size_t batch = encoder_outputs.size();

  BatchDecoderSession<Model> session(model, encoder_outputs, encoder_valid, options.cross_kv_bf16, beams);
  std::vector<BeamEntry> entries(batch);
  for (BeamEntry& e : entries)
    for (int j = 0; j < beams; ++j) {
      // Only beam 0 starts live: the others would repeat its candidates.
      e.running.push_back({{c.decoder_start_token_id}, j == 0 ? 0.0f : kMasked, false});
      e.kept.push_back({{c.decoder_start_token_id}, kMasked, false});
    }

  for (int length = prompt_length;; ++length) {  // length: tokens in every running beam
    std::vector<int> last;
    for (const BeamEntry& e : entries)
      for (const Hypothesis& h : e.running) last.push_back(h.tokens.back());
    const std::vector<std::vector<float>> logits = session.step(last);  // [batch·beams][V]
    const int vocab = int(logits.front().size());
    std::vector<std::size_t> source(batch * std::size_t(beams));
    bool every_candidate_stops = true;
    for (std::size_t i = 0; i < batch; ++i) {
      BeamEntry& e = entries[i];
      // 2. scores of every (beam, token)                                          [beams·V]
      std::vector<float> total(std::size_t(beams) * std::size_t(vocab));
      for (int j = 0; j < beams; ++j) {
        const Hypothesis& h = e.running[std::size_t(j)];
        std::vector<float> lp = log_softmax(logits[i * std::size_t(beams) + std::size_t(j)]);
        if (options.processing.active()) process_scores(options.processing, h.tokens, prompt_length, eos, lp);
        for (int v = 0; v < vocab; ++v) total[std::size_t(j) * std::size_t(vocab) + std::size_t(v)] = lp[std::size_t(v)] + h.score;
      }
      // 3.-4. candidates
      const std::vector<int> top = top_k_indices(total, candidates);
      std::vector<Hypothesis> cand;
      std::vector<int> from;  // the running beam each candidate extends
      std::vector<uint8_t> stops;
      for (int flat : top) {
        const int j = flat / vocab, token = flat % vocab;
        Hypothesis h{e.running[std::size_t(j)].tokens, total[std::size_t(flat)], false};
        h.tokens.push_back(token);
        stops.push_back(is_eos(token) || int(h.tokens.size()) >= max_length);
        every_candidate_stops = every_candidate_stops && stops.back();
        from.push_back(j);
        cand.push_back(std::move(h));
      }
      // 5. the next running beams: the best candidates that do not stop
      std::vector<float> running_scores(cand.size());
      for (std::size_t k = 0; k < cand.size(); ++k) running_scores[k] = cand[k].score + (stops[k] ? kMasked : 0.0f);
      std::vector<Hypothesis> running;
      for (int k : top_k_indices(running_scores, beams)) {
        running.push_back({cand[std::size_t(k)].tokens, running_scores[std::size_t(k)], false});
        source[i * std::size_t(beams) + running.size() - 1] = i * std::size_t(beams) + std::size_t(from[std::size_t(k)]);
      }
      // 6. stopping candidates among the first `beams` compete with the kept hypotheses
      const float denominator = float(std::pow(double(length + 1 - prompt_length), o.length_penalty));
      const bool kept_full = o.early_stopping == EarlyStopping::kWhenFull &&
                             std::all_of(e.kept.begin(), e.kept.end(), [](const Hypothesis& h) { return h.finished; });
      std::vector<Hypothesis> merged = e.kept;
      for (std::size_t k = 0; k < cand.size(); ++k) {
        const bool just_finished = stops[k] && k < std::size_t(beams);
        float s = cand[k].score / denominator;
        s += kept_full ? kMasked : 0.0f;
        s += e.can_improve ? 0.0f : kMasked;
        s += just_finished ? 0.0f : kMasked;
        merged.push_back({std::move(cand[k].tokens), s, just_finished});
      }
      std::vector<float> merged_scores;
      for (const Hypothesis& h : merged) merged_scores.push_back(h.score);
      std::vector<Hypothesis> kept;
      for (int k : top_k_indices(merged_scores, beams)) kept.push_back(std::move(merged[std::size_t(k)]));
      e.kept = std::move(kept);
      e.running = std::move(running);
    }
    // 7. caches follow their beams
    session.reorder(source);

    // Can an input still improve? (HF's _check_early_stop_heuristic, at the new length)
    const int next_length = length + 1;
    bool any_can_improve = false, all_kept_finished = true;
    for (BeamEntry& e : entries) {
      const int best_length = (o.early_stopping == EarlyStopping::kNever && o.length_penalty > 0.0)
                                  ? max_length - prompt_length
                                  : next_length - prompt_length;
      const float best_possible = e.running.front().score / float(std::pow(double(best_length), o.length_penalty));
      float worst_kept = e.kept.front().score;
      for (const Hypothesis& h : e.kept) worst_kept = std::min(worst_kept, h.score);
      bool beats_one = false;
      for (const Hypothesis& h : e.kept) beats_one = beats_one || best_possible > (h.finished ? worst_kept : kMasked);
      e.can_improve = e.can_improve && beats_one;
      any_can_improve = any_can_improve || e.can_improve;
      for (const Hypothesis& h : e.kept) all_kept_finished = all_kept_finished && h.finished;
    }
    const bool full_stop = all_kept_finished && o.early_stopping == EarlyStopping::kWhenFull;
    if (!any_can_improve || full_stop || every_candidate_stops) break;
  }

  // The best num_return_sequences per input, padded like HF's output tensor.
  std::vector<Generation> out;
  std::size_t longest = 0;
  for (const BeamEntry& e : entries)
    for (int r = 0; r < o.num_return_sequences; ++r) {
      const Hypothesis& h = e.kept[std::size_t(r)];
      Generation g;
      g.sequence = h.tokens;
      g.finished = is_eos(h.tokens.back()) && h.tokens.size() > 1;
      g.score = h.score;
      longest = std::max(longest, g.sequence.size());
      out.push_back(std::move(g));
    }
  const int fill = c.pad_token_id != 0 ? c.pad_token_id : eos.front();
  for (Generation& g : out) g.sequence.resize(longest, fill);
  return out;
}

T5GEMMA2_NAMESPACE_END
