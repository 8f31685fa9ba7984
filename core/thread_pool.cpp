#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace cage {

namespace {

thread_local bool t_inside_loop = false;

// Before a thread blocks on a condition variable it polls `ready` for up to spin_time(): the loops of one
// forward pass follow each other within microseconds, and waking a blocked thread takes tens of microseconds
// (more on a VM, whose idle vCPU halts), during which the other threads wait for it at the loop's end. Bounded,
// so an idle pool costs nothing after it. CAGE_POOL_SPIN_US overrides the default of 100 (0: block at once).
std::chrono::microseconds spin_time() {
  static const std::chrono::microseconds t = [] {
    const char* env = std::getenv("CAGE_POOL_SPIN_US");
    if (env && *env) {
      char* end = nullptr;
      long us = std::strtol(env, &end, 10);
      if (*end != '\0' || us < 0 || us > 1000000) fail("CAGE_POOL_SPIN_US='", env, "': expected 0..1000000");
      return std::chrono::microseconds(us);
    }
    return std::chrono::microseconds(100);
  }();
  return t;
}

template <typename F>
void spin_until(F ready) {
  const auto limit = spin_time();
  if (limit.count() == 0) return;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (ready()) return;
    // Yield rather than pause: when the cores are oversubscribed (another job, a data loader), a paused spinner
    // holds its core for the whole spin while the thread it waits for may be queued behind it on that core; with
    // the cores idle, sched_yield returns at once.
    std::this_thread::yield();
    if (i % 16 == 0 && std::chrono::steady_clock::now() - start > limit) return;
  }
}

int threads_from_env() {
  const char* env = std::getenv("CAGE_NUM_THREADS");
  if (env && *env) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (*end != '\0' || n < 1 || n > 1024) fail("CAGE_NUM_THREADS='", env, "': expected an integer in 1..1024");
    return static_cast<int>(n);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

class Pool {
 public:
  explicit Pool(int n) { start(n); }
  ~Pool() { stop(); }

  int size() const { return size_; }

  void resize(int n) {
    CAGE_CHECK(n >= 1, "thread count must be at least 1, got ", n);
    stop();
    start(n);
  }

  void run(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
    int64_t n = end - begin;
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    int64_t max_chunks = (n + grain - 1) / grain;
    // A few chunks per thread balance uneven work without much scheduling overhead.
    int64_t chunks = std::min<int64_t>(max_chunks, int64_t(size_) * 4);
    if (size_ == 1 || chunks <= 1 || t_inside_loop) {
      bool was = t_inside_loop;
      t_inside_loop = true;
      body(begin, end);
      t_inside_loop = was;
      return;
    }
    std::unique_lock<std::mutex> run_lock(run_mu_);  // one loop at a time from outside threads
    Job job;
    job.begin = begin;
    job.end = end;
    job.chunks = chunks;
    job.body = &body;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      ++generation_;
    }
    cv_.notify_all();
    work(job);
    spin_until([&] { return job.finished.load() == job.chunks && job.active.load() == 0; });
    {
      std::unique_lock<std::mutex> lock(mu_);
      done_cv_.wait(lock, [&] { return job.finished == job.chunks && job.active == 0; });
      job_ = nullptr;
    }
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  struct Job {
    int64_t begin = 0, end = 0, chunks = 0;
    const std::function<void(int64_t, int64_t)>* body = nullptr;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> finished{0};  // written under mu_ (read without it while spinning)
    std::atomic<int> active{0};        // workers inside work(), written under mu_
    std::exception_ptr error;
  };

  void work(Job& job) {
    bool was = t_inside_loop;
    t_inside_loop = true;
    int64_t n = job.end - job.begin;
    int64_t done_here = 0;
    for (;;) {
      int64_t c = job.next.fetch_add(1);
      if (c >= job.chunks) break;
      int64_t a = job.begin + n * c / job.chunks, b = job.begin + n * (c + 1) / job.chunks;
      try {
        (*job.body)(a, b);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!job.error) job.error = std::current_exception();
      }
      ++done_here;
    }
    t_inside_loop = was;
    std::lock_guard<std::mutex> lock(mu_);
    job.finished += done_here;
    if (job.finished == job.chunks) done_cv_.notify_all();
  }

  void worker_main() {
    uint64_t seen = 0;
    for (;;) {
      Job* job = nullptr;
      spin_until([&] { return stopping_.load() || generation_.load() != seen; });
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || (job_ && generation_ != seen); });
        if (stopping_) return;
        seen = generation_;
        job = job_;
        ++job->active;
      }
      work(*job);
      std::lock_guard<std::mutex> lock(mu_);
      --job->active;
      if (job->active == 0) done_cv_.notify_all();
    }
  }

  void start(int n) {
    size_ = n;
    stopping_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { worker_main(); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int size_ = 1;
  std::mutex run_mu_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  Job* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};  // written under mu_ (read without it while spinning)
  std::atomic<bool> stopping_{false};     // likewise
  std::vector<std::thread> workers_;
};

Pool& pool() {
  static Pool* p = new Pool(threads_from_env());  // intentionally leaked: workers outlive static teardown
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  pool().run(begin, end, grain, body);
}

}  // namespace cage
