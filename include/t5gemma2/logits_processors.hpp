// t5gemma2 — the score processors of HF generate() that we support, and log-softmax.
//
// HF applies these "logits processors" to the scores of the next token before choosing it: to
// the raw logits for greedy and sampling, to the log-probabilities for beam search (so a
// repetition penalty acts on log-probabilities there). The order is HF's:
//
//   repetition_penalty   every token already in the decoder sequence (decoder start included):
//                        s < 0 ? s·penalty : s / penalty              (RepetitionPenaltyLogitsProcessor)
//   no_repeat_ngram_size n: a token that would complete an n-gram already in the sequence
//                        gets −∞                                       (NoRepeatNGramLogitsProcessor)
//   min_new_tokens       EOS ids get −∞ while fewer than min_new_tokens tokens were generated
//                                                                      (MinNewTokensLengthLogitsProcessor)
// All arithmetic in f32, as torch does it on f32 scores.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "t5gemma2/error.hpp"

T5GEMMA2_NAMESPACE_BEGIN

struct LogitsProcessing {
  float repetition_penalty = 1.0f;  // 1: off; > 1 discourages repeats, < 1 encourages them
  int no_repeat_ngram_size = 0;     // 0: off
  int min_new_tokens = 0;           // 0: off

  bool active() const { return repetition_penalty != 1.0f || no_repeat_ngram_size > 0 || min_new_tokens > 0; }
  void validate() const {
    check(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f, "repetition_penalty must be a positive number");
    check(no_repeat_ngram_size >= 0, "no_repeat_ngram_size must be >= 0");
    check(min_new_tokens >= 0, "min_new_tokens must be >= 0");
  }
};

// Applies the processors to scores [V] of the token after `sequence` (decoder start + the tokens
// generated so far; `prompt_length` of them — 1, the decoder start — are not "new").
inline void process_scores(const LogitsProcessing& p, const std::vector<int>& sequence, int prompt_length,
                           const std::vector<int>& eos_ids, std::vector<float>& scores) {
  const float minus_inf = -std::numeric_limits<float>::infinity();
  const int vocab = int(scores.size());
  const auto in_vocab = [&](int t) { return t >= 0 && t < vocab; };
  if (p.repetition_penalty != 1.0f) {
    std::vector<int> seen = sequence;  // each token once, however often it occurs
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int t : seen) {
      if (!in_vocab(t)) continue;
      float& s = scores[std::size_t(t)];
      s = s < 0.0f ? s * p.repetition_penalty : s / p.repetition_penalty;
    }
  }
  const int n = p.no_repeat_ngram_size, len = int(sequence.size());
  if (n > 0 && len + 1 >= n) {
    // The last n-1 tokens, followed by t, must not repeat an n-gram at any earlier start i.
    const int suffix = len - (n - 1);
    for (int i = 0; i + n <= len; ++i) {
      if (!std::equal(sequence.begin() + i, sequence.begin() + i + n - 1, sequence.begin() + suffix)) continue;
      const int banned = sequence[std::size_t(i + n - 1)];
      if (in_vocab(banned)) scores[std::size_t(banned)] = minus_inf;
    }
  }
  if (p.min_new_tokens > 0 && len - prompt_length < p.min_new_tokens)
    for (int e : eos_ids)
      if (in_vocab(e)) scores[std::size_t(e)] = minus_inf;
}

// log_softmax in f32 like torch's CPU kernel: m = max, lse = log Σ exp(x − m), out = x − m − lse
// (the sum accumulated in double here; torch sums f32 lanes — the two differ by an ulp at most).
inline std::vector<float> log_softmax(const std::vector<float>& logits) {
  float m = -std::numeric_limits<float>::infinity();
  for (float x : logits) m = std::max(m, x);
  double sum = 0.0;
  for (float x : logits) sum += std::exp(double(x - m));
  const float lse = float(std::log(sum));
  std::vector<float> out(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = (logits[i] - m) - lse;
  return out;
}

T5GEMMA2_NAMESPACE_END
