// t5gemma2 — what generate_from_encoded() takes and returns (generate.hpp, beam_search.hpp).
//
// The options mirror HF's GenerationConfig fields of the same names. Supported: max_new_tokens,
// eos_token_id (several ids), greedy, sampling (temperature, top_k, top_p; our own seeded
// random stream), beam search (num_beams, length_penalty, early_stopping True/False/"never",
// num_return_sequences) and the processors repetition_penalty, no_repeat_ngram_size,
// min_new_tokens. Not supported: beam sampling (do_sample with num_beams > 1), group/diverse
// and constrained beam search, bad_words_ids, sequence_bias, forced BOS/EOS, suppress_tokens,
// min_length/max_length (use the *_new_tokens forms), typical/epsilon/eta/min_p sampling,
// assisted decoding, stop strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "t5gemma2/logits_processors.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct SamplingOptions {
  float temperature = 0.0f;  // <= 0: greedy
  int top_k = 0;             // 0: no top-k filter
  float top_p = 1.0f;        // 1: no nucleus filter
  uint64_t seed = 0;
};

// HF's early_stopping: when a batch entry's beam search may stop.
enum class EarlyStopping {
  kHeuristic,  // False (HF's default): stop once no running beam can, by a heuristic, beat the worst kept one
  kWhenFull,   // True: stop as soon as num_beams finished hypotheses are kept
  kNever,      // "never": the canonical beam search, stop only when no beam can improve at all
};

struct BeamSearchOptions {
  int num_beams = 1;             // 1: no beam search (greedy or sampling)
  double length_penalty = 1.0;  // hypothesis score = Σ log p / (generated length ^ length_penalty)
  EarlyStopping early_stopping = EarlyStopping::kHeuristic;
  int num_return_sequences = 1;  // best hypotheses returned per input, <= num_beams
};

struct GenerationOptions {
  int max_new_tokens = 32;
  SamplingOptions sampling;
  BeamSearchOptions beam;
  LogitsProcessing processing;  // repetition penalty, no-repeat n-grams, min new tokens
  std::vector<int> eos_ids;     // empty: the model config's
  bool use_cache = true;        // false: recompute the whole decoder every step (a check; not with beams)
  bool keep_step_logits = false;  // not with beams
  // Keep the decoder's cross keys/values as bf16: half the bytes per step on long inputs, not
  // bit-exact with the reference (decoder.hpp: all_cross_keys_values). Off by default.
  bool cross_kv_bf16 = false;
  // Called for every generated token of sample b (not for the PAD of finished samples). Beam
  // search cannot stream (a hypothesis is only known at the end) and does not call it.
  std::function<void(std::size_t b, int token)> on_token;
};

struct Generation {
  // Decoder start + generated tokens. Greedy/sampling: PAD after EOS up to the batch's longest.
  // Beam search: like HF, padded to the longest returned hypothesis with pad_token_id — or with
  // the first EOS id when pad_token_id is 0 (HF's `pad_token_id or eos_token_id[0]`).
  std::vector<int> sequence;
  std::vector<std::vector<float>> step_logits;  // [steps][V] when keep_step_logits
  bool finished = false;                        // an EOS was produced
  float score = 0.0f;                           // beam search: HF's sequences_scores
};

T5GEMMA2_NAMESPACE_END
