// t5gemma2 — splitting independent work across threads.
//
// parallel_for(n, fn) runs fn(begin, end) over contiguous chunks of [0, n), one per thread.
// It is used only where every output element is computed independently by the same code
// (the rows of a matmul), so the thread count never changes a result bit.
#pragma once

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "t5gemma2/version.hpp"

T5GEMMA2_NAMESPACE_BEGIN

namespace parallel_detail {
inline std::atomic<int>& thread_count() {
  static std::atomic<int> n{int(std::max(1u, std::thread::hardware_concurrency()))};
  return n;
}
}  // namespace parallel_detail

inline void set_num_threads(int n) { parallel_detail::thread_count() = std::max(1, n); }
inline int num_threads() { return parallel_detail::thread_count(); }

// Work below this many multiply-adds (~0.1 ms on one core) runs on the calling thread:
// starting threads would cost more.
inline constexpr long kMinParallelWork = 1L << 17;

template <class Fn>
inline void parallel_for(int n, long work, Fn&& fn) {
  const int threads = std::min(num_threads(), n);
  if (threads <= 1 || work < kMinParallelWork) {
    fn(0, n);
    return;
  }
  std::vector<std::thread> pool;
  const int chunk = (n + threads - 1) / threads;
  for (int t = 1; t < threads; ++t) {
    const int begin = t * chunk, end = std::min(n, begin + chunk);
    if (begin < end) pool.emplace_back([&fn, begin, end] { fn(begin, end); });
  }
  fn(0, std::min(n, chunk));
  for (auto& th : pool) th.join();
}

T5GEMMA2_NAMESPACE_END
