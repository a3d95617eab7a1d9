// t5gemma2 — splitting independent work across a persistent pool of threads.
//
// parallel_for(n, work, fn) runs fn(begin, end) over contiguous chunks of [0, n), one chunk per
// thread, the calling thread taking the first. It is used only where every output is computed
// independently by the same code (the output features of a matmul, the query rows of
// attention, the rows of a norm, blocks of an elementwise operation), never inside a
// reduction, so the thread count never changes a result bit.
//
// The workers are started once (on first use, or when set_num_threads changes the count). Between
// calls they poll for up to set_spin_microseconds()'s value (default 50 µs: a decode step makes ~130 calls
// in a row) and then sleep on a futex (std::atomic::wait): a call costs about a microsecond when
// the workers are polling and a few when they sleep, not the tens of microseconds of starting
// threads. If the system refuses a thread, the pool runs with the threads it got.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "t5gemma2/version.hpp"

T5GEMMA2_NAMESPACE_BEGIN

namespace parallel_detail {

inline std::atomic<int>& spin_us() {
  static std::atomic<int> us{50};
  return us;
}

// Waits until a.load() != old: polls for up to spin_us() microseconds, then sleeps.
template <class T>
inline void wait_for_change(const std::atomic<T>& a, T old) {
  const int budget = spin_us().load(std::memory_order_relaxed);
  if (budget > 0) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(budget);
    for (int i = 0;; ++i) {
      if (a.load() != old) return;
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) break;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
  a.wait(old);
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 1; i < threads; ++i) {
      try {
        workers_.emplace_back([this, i] { work(i); });
      } catch (const std::system_error&) {
        break;  // fewer threads than asked: the split below adapts
      }
    }
  }
  ~ThreadPool() {
    stop_.store(true);
    generation_.fetch_add(1);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Runs task(i) for i in [0, tasks) with tasks ≤ size(): task 0 on the caller, task i on
  // worker i. Returns when every worker has seen this call (so none still reads its state);
  // rethrows the first exception of a task.
  template <class Task>
  void run(int tasks, Task& task) {
    std::lock_guard<std::mutex> one_call_at_a_time(call_);
    task_ = &task;
    invoke_ = [](void* t, int i) { (*static_cast<Task*>(t))(i); };
    tasks_ = tasks;
    error_ = nullptr;
    pending_.store(int(workers_.size()));
    generation_.fetch_add(1);
    generation_.notify_all();
    try {
      task(0);
    } catch (...) {
      record_error();
    }
    for (int left = pending_.load(); left != 0; left = pending_.load()) wait_for_change(pending_, left);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(int index) {
    uint64_t seen = 0;
    for (;;) {
      wait_for_change(generation_, seen);
      seen = generation_.load();
      if (stop_.load()) return;
      if (index < tasks_) {
        try {
          invoke_(task_, index);
        } catch (...) {
          record_error();
        }
      }
      if (pending_.fetch_sub(1) == 1) pending_.notify_one();
    }
  }
  void record_error() {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (!error_) error_ = std::current_exception();
  }

  std::vector<std::thread> workers_;
  std::mutex call_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  void* task_ = nullptr;
  void (*invoke_)(void*, int) = nullptr;
  int tasks_ = 0;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

inline std::atomic<int>& thread_count() {
  static std::atomic<int> n{int(std::max(1u, std::thread::hardware_concurrency()))};
  return n;
}

struct PoolState {
  std::mutex m;
  std::unique_ptr<ThreadPool> p;
};
inline PoolState& pool_state() {
  static PoolState s;
  return s;
}

// The pool of the current thread count (rebuilt when the count changes).
inline ThreadPool& pool() {
  PoolState& s = pool_state();
  std::lock_guard<std::mutex> lock(s.m);
  if (!s.p || s.p->size() != thread_count()) {
    s.p.reset();
    s.p = std::make_unique<ThreadPool>(thread_count());
    if (s.p->size() != thread_count()) thread_count() = s.p->size();  // the system gave fewer
  }
  return *s.p;
}

// Nested parallel_for calls (a task that itself splits) run inline.
inline bool& inside_task() {
  thread_local bool inside = false;
  return inside;
}

}  // namespace parallel_detail

// For the child of a fork(): it has only the thread that forked, so the pool's workers do not
// exist there and a call would wait for them forever. Call this first thing in the child (the
// Python module does, through os.register_at_fork): the parent's pool is forgotten — leaked, as
// its threads cannot be joined — its lock is made new (another thread may have held it at the
// fork), and the next parallel_for starts a new pool.
inline void forget_thread_pool_after_fork() {
  parallel_detail::PoolState& s = parallel_detail::pool_state();
  (void)s.p.release();
  new (&s.m) std::mutex();
}

// Threads used by parallel_for (default: the hardware threads). Results do not depend on it.
inline void set_num_threads(int n) { parallel_detail::thread_count() = std::max(1, n); }
inline int num_threads() { return parallel_detail::thread_count(); }

// How long idle workers (and a caller waiting for them) poll before they sleep; 0 = sleep at
// once (kinder to a machine shared with other jobs). Results do not depend on it.
inline void set_spin_microseconds(int us) { parallel_detail::spin_us() = std::max(0, us); }

// Work below this many multiply-adds (~20 µs on one core) runs on the calling thread.
inline constexpr long kMinParallelWork = 1L << 16;

template <class Fn>
inline void parallel_for(int n, long work, Fn&& fn) {
  int threads = std::min(num_threads(), n);
  if (threads <= 1 || work < kMinParallelWork || parallel_detail::inside_task()) {
    fn(0, n);
    return;
  }
  parallel_detail::ThreadPool& pool = parallel_detail::pool();
  threads = std::min(threads, pool.size());
  const int chunk = (n + threads - 1) / threads;
  auto task = [&](int i) {
    const int begin = i * chunk, end = std::min(n, begin + chunk);
    if (begin >= end) return;
    parallel_detail::inside_task() = true;
    struct Reset {
      ~Reset() { parallel_detail::inside_task() = false; }
    } reset;
    fn(begin, end);
  };
  pool.run(threads, task);
}

// fn(begin, end) over the elements [0, n) of an elementwise operation, in blocks of 4,096
// elements spread over the threads; `cost`: the work of one element in multiply-adds. Each
// element is computed by the same code wherever a block starts, so no bit depends on the split.
template <class Fn>
inline void parallel_elementwise(std::size_t n, long cost, Fn&& fn) {
  constexpr std::size_t kBlock = 4096;
  const int blocks = int((n + kBlock - 1) / kBlock);
  parallel_for(blocks, long(n) * cost, [&](int b0, int b1) {
    fn(std::size_t(b0) * kBlock, std::min(n, std::size_t(b1) * kBlock));
  });
}

T5GEMMA2_NAMESPACE_END
