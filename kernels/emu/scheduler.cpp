// The block scheduler of the CUDA emulator. An OS thread runs one block at a time; the block's CUDA threads run on
// cooperative fibers (Boost.Context, fcontext) that switch only at barriers and warp collectives. Fibers and their
// stacks belong to the OS thread and serve every later block and launch. A fiber is tied to a CUDA thread only while
// that thread is blocked: a fiber whose thread exits starts the next unstarted thread of the block itself, so a kernel
// without barriers runs a whole block on one fiber, and a kernel with __syncthreads needs one fiber per thread.
// A fiber that blocks switches straight to the next runnable one (one context switch per blocking call); the
// scheduler's own context only creates fibers, detects deadlocks and ends the block.
// Order is deterministic: threads start in linear order, released threads resume in linear order.
#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <sstream>
#include <vector>

#include "kernels/emu/scheduler.h"

// AddressSanitizer must be told about every stack switch, or it mistakes a fiber's frames for stale memory. Weak
// references: in a binary without ASan they are null and the library needs no instrumented build of its own.
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, size_t size) __attribute__((weak));
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, size_t* size_old)
    __attribute__((weak));
}

inline namespace cage_cuda_emu {
namespace detail {
namespace {

void asan_start(void** save, const void* bottom, size_t size) {
  if (__sanitizer_start_switch_fiber) __sanitizer_start_switch_fiber(save, bottom, size);
}
void asan_finish(void* save, const void** bottom, size_t* size) {
  if (__sanitizer_finish_switch_fiber) __sanitizer_finish_switch_fiber(save, bottom, size);
}

size_t stack_bytes() {
  static const size_t bytes = [] {
    const char* env = std::getenv("CAGE_EMU_STACK_KB");
    long kb = env && *env ? std::strtol(env, nullptr, 10) : 64;
    if (kb < 16) kb = 16;
    return size_t(kb) * 1024;
  }();
  return bytes;
}

std::atomic<uint64_t> g_fibers_created{0}, g_fiber_switches{0};

struct abort_thread {};  // unwinds one CUDA thread of a failed block back to its fiber's base

enum : uint8_t { st_unstarted, st_running, st_ready, st_barrier, st_warp, st_done };

struct warp_state {
  uint32_t existing, exited, arrived;
};

std::string format_idx(uint3 v) {
  std::ostringstream os;
  os << '(' << v.x << ',' << v.y << ',' << v.z << ')';
  return os.str();
}

class executor {
 public:
  static executor& local() {
    thread_local executor ex;
    return ex;
  }
  ~executor() {
    stopping_ = true;  // every fiber is idle between blocks; resumed now, its loop ends and its function returns
    for (auto& f : fibers_)
      if (f->ctx) switch_to(f.get());
  }

  bool busy() const { return job_ != nullptr; }
  void run_blocks(block_job& job, int64_t first, int64_t last);

  int barrier(int op, int predicate);
  uint64_t collective(int op, unsigned mask, uint64_t value, int param, int width);
  unsigned active_mask() {
    const warp_state& w = warps_[current().thread >> 5];
    return w.existing & ~w.exited;
  }
  void* dynamic_shared() { return dynamic_shared_; }
  [[noreturn]] void trap() {
    fail_block(cudaErrorLaunchFailure, "__trap() in thread " + format_idx(threadIdx));
    throw abort_thread{};
  }

 private:
  struct fiber_rec {
    boost::context::fiber ctx;
    const void* stack_bottom = nullptr;
    size_t stack_size = 0;
    void* fake_stack = nullptr;  // ASan's fake stack of this fiber while it is switched out
    int index = 0;
    int thread = -1;  // the CUDA thread on this fiber, -1 when idle
    bool abort = false;
  };
  // protected_fixedsize_stack (a guard page below each stack, so an overflow faults instead of corrupting a
  // neighbour) that also tells the fiber where its stack is, for AddressSanitizer.
  struct recording_stack {
    fiber_rec* rec;
    boost::context::protected_fixedsize_stack inner;
    boost::context::stack_context allocate() {
      boost::context::stack_context sc = inner.allocate();
      rec->stack_bottom = static_cast<char*>(sc.sp) - sc.size;
      rec->stack_size = sc.size;
      return sc;
    }
    void deallocate(boost::context::stack_context& sc) noexcept { inner.deallocate(sc); }
  };
  struct thread_rec {
    uint8_t status;
    int fiber;
  };

  fiber_rec& current() {
    if (!current_) {
      std::fprintf(stderr, "cage emu: a device-only function (__syncthreads, warp intrinsic) was called outside a kernel\n");
      std::abort();
    }
    return *current_;
  }
  fiber_rec* new_fiber();
  boost::context::fiber fiber_main(fiber_rec& me, boost::context::fiber&& scheduler);
  void run_block(int64_t block);
  void run_thread();
  fiber_rec* pick_next();
  void switch_to(fiber_rec* to);
  void landed(boost::context::fiber&& from_continuation);
  void wait(fiber_rec& me);
  void make_ready(int t) {
    threads_[t].status = st_ready;
    ready_.push_back(t);
  }
  void thread_exited(int t);
  void release_barrier(int except);
  bool try_complete(int w, int lane, int self);
  void fail_block(cudaError_t e, const std::string& why);
  std::string deadlock_message() const;

  std::vector<std::unique_ptr<fiber_rec>> fibers_;
  std::vector<fiber_rec*> idle_;
  boost::context::fiber scheduler_;  // the scheduler's continuation, valid while a fiber runs
  const void* main_stack_bottom_ = nullptr;
  size_t main_stack_size_ = 0;
  void* main_fake_stack_ = nullptr;
  fiber_rec* current_ = nullptr;  // the running fiber; null while the scheduler runs
  fiber_rec* from_ = nullptr;     // the context that made the last switch (null: the scheduler)
  bool stopping_ = false;
  uint64_t switches_ = 0;

  // The launch and block being run.
  block_job* job_ = nullptr;
  void* dynamic_shared_ = nullptr;
  int nthreads_ = 0;
  std::vector<uint3> thread_idx_;
  std::vector<thread_rec> threads_;
  std::vector<lane_io> io_;
  std::vector<warp_state> warps_;
  std::vector<int> ready_;
  size_t ready_head_ = 0;
  int next_ = 0, done_ = 0;
  int barrier_arrived_ = 0, barrier_count_ = 0, barrier_and_ = 1, barrier_or_ = 0;
  int result_count_ = 0, result_and_ = 0, result_or_ = 0;
  bool block_failed_ = false;
  cudaError_t block_error_ = cudaSuccess;
  std::string block_message_;
};

executor::fiber_rec* executor::new_fiber() {
  auto owned = std::make_unique<fiber_rec>();
  fiber_rec* rec = owned.get();
  rec->index = static_cast<int>(fibers_.size());
  rec->ctx = boost::context::fiber(
      std::allocator_arg, recording_stack{rec, boost::context::protected_fixedsize_stack(stack_bytes())},
      [this, rec](boost::context::fiber&& caller) { return fiber_main(*rec, std::move(caller)); });
  fibers_.push_back(std::move(owned));
  g_fibers_created.fetch_add(1, std::memory_order_relaxed);
  return rec;
}

boost::context::fiber executor::fiber_main(fiber_rec& me, boost::context::fiber&& caller) {
  landed(std::move(caller));
  while (!stopping_) {
    while (!block_failed_ && next_ < nthreads_) {
      const int t = next_++;
      me.thread = t;
      threads_[t] = {st_running, me.index};
      threadIdx = thread_idx_[t];
      run_thread();
      thread_exited(t);
    }
    me.thread = -1;
    idle_.push_back(&me);
    switch_to(pick_next());
  }
  // Only the scheduler resumes a fiber to stop it; this fiber's stack goes away with the switch back.
  from_ = &me;
  current_ = nullptr;
  asan_start(nullptr, main_stack_bottom_, main_stack_size_);
  return std::move(scheduler_);
}

void executor::run_thread() {
  try {
    job_->request->invoke(job_->request->closure);
  } catch (const boost::context::detail::forced_unwind&) {
    throw;
  } catch (const abort_thread&) {
  } catch (const std::exception& e) {
    fail_block(cudaErrorLaunchFailure, "thread " + format_idx(threadIdx) + " threw: " + e.what());
  } catch (...) {
    fail_block(cudaErrorLaunchFailure, "thread " + format_idx(threadIdx) + " threw an unknown exception");
  }
}

// The next context to run: a released thread, else an idle fiber for the next unstarted thread, else (null) the
// scheduler, which creates fibers, ends the block or finds a deadlock.
executor::fiber_rec* executor::pick_next() {
  if (ready_head_ < ready_.size()) {
    const int t = ready_[ready_head_++];
    if (ready_head_ == ready_.size()) ready_.clear(), ready_head_ = 0;
    fiber_rec* f = fibers_[threads_[t].fiber].get();
    f->abort = block_failed_;
    threads_[t].status = st_running;
    threadIdx = thread_idx_[t];
    return f;
  }
  if (!block_failed_ && next_ < nthreads_ && !idle_.empty()) {
    fiber_rec* f = idle_.back();
    idle_.pop_back();
    return f;
  }
  return nullptr;
}

// Suspends the running context (a fiber, or the scheduler when current_ is null) and runs `to` (a fiber, or the
// scheduler when null); returns when some context switches back.
void executor::switch_to(fiber_rec* to) {
  fiber_rec* self = current_;
  from_ = self;
  current_ = to;
  ++switches_;
  void** fake = self ? &self->fake_stack : &main_fake_stack_;
  if (to)
    asan_start(fake, to->stack_bottom, to->stack_size);
  else
    asan_start(fake, main_stack_bottom_, main_stack_size_);
  boost::context::fiber back = std::move(to ? to->ctx : scheduler_).resume();
  landed(std::move(back));
}

// Runs first in a context that has just been switched to: the context that switched away is suspended, and the
// continuation that resumes it is handed over here.
void executor::landed(boost::context::fiber&& from_continuation) {
  const void* bottom = nullptr;
  size_t size = 0;
  asan_finish(current_ ? current_->fake_stack : main_fake_stack_, &bottom, &size);
  if (!from_) main_stack_bottom_ = bottom, main_stack_size_ = size;
  (from_ ? from_->ctx : scheduler_) = std::move(from_continuation);
}

void executor::wait(fiber_rec& me) {
  switch_to(pick_next());
  if (me.abort) {
    me.abort = false;
    throw abort_thread{};
  }
}

void executor::run_blocks(block_job& job, int64_t first, int64_t last) {
  const launch_request& r = *job.request;
  job_ = &job;
  nthreads_ = static_cast<int>(job.threads_per_block);
  thread_idx_.resize(nthreads_);
  for (int t = 0; t < nthreads_; ++t)
    thread_idx_[t] = uint3{t % r.block.x, (t / r.block.x) % r.block.y, t / (r.block.x * r.block.y)};
  threads_.resize(nthreads_);
  io_.resize(nthreads_);
  warps_.resize((nthreads_ + 31) / 32);
  blockDim = r.block;
  gridDim = r.grid;
  // Exactly the requested size, fresh per run, so that AddressSanitizer sees an access past its end.
  dynamic_shared_ = ::operator new(r.shared_bytes, std::align_val_t(128));
  switches_ = 0;
  for (int64_t b = first; b < last && !job.failed.load(std::memory_order_relaxed); ++b) run_block(b);
  ::operator delete(dynamic_shared_, std::align_val_t(128));
  dynamic_shared_ = nullptr;
  g_fiber_switches.fetch_add(switches_, std::memory_order_relaxed);
  job_ = nullptr;
}

void executor::run_block(int64_t block) {
  const dim3 g = job_->request->grid;
  blockIdx = uint3{unsigned(block % g.x), unsigned(block / g.x % g.y), unsigned(block / (int64_t(g.x) * g.y))};
  for (int t = 0; t < nthreads_; ++t) threads_[t] = {st_unstarted, -1};
  for (size_t w = 0; w < warps_.size(); ++w) {
    const int lanes = std::min(32, nthreads_ - int(w) * 32);
    warps_[w] = {lanes == 32 ? ~0u : (1u << lanes) - 1, 0, 0};
  }
  next_ = done_ = 0;
  barrier_arrived_ = barrier_count_ = barrier_or_ = 0;
  barrier_and_ = 1;
  ready_.clear();
  ready_head_ = 0;
  block_failed_ = false;
  for (;;) {
    fiber_rec* f = pick_next();
    if (!f && !block_failed_ && next_ < nthreads_) {
      try {
        f = new_fiber();
      } catch (const std::exception& e) {
        fail_block(cudaErrorLaunchOutOfResources,
                   std::string("cannot create another fiber stack (") + e.what() + "); lower CAGE_EMU_STACK_KB");
        continue;
      }
    }
    if (f) {
      switch_to(f);
    } else if (done_ == nthreads_) {
      break;
    } else {
      // Nothing can run, yet threads wait: a barrier or collective that not every thread reaches.
      if (!block_failed_) fail_block(cudaErrorLaunchFailure, deadlock_message());
      for (int t = 0; t < nthreads_; ++t)
        if (threads_[t].status == st_barrier || threads_[t].status == st_warp) make_ready(t);
    }
  }
  if (block_failed_)
    job_->fail(block_error_, "block " + format_idx(blockIdx) + " of grid " + format_idx(gridDim) + ", block size " +
                                 format_idx(blockDim) + ": " + block_message_);
}

void executor::fail_block(cudaError_t e, const std::string& why) {
  if (!block_failed_) {
    block_failed_ = true;
    block_error_ = e;
    block_message_ = why;
  }
  done_ += nthreads_ - next_;  // threads that never start count as exited
  next_ = nthreads_;
}

std::string executor::deadlock_message() const {
  int at_barrier = 0, at_warp = 0, first_barrier = -1, first_warp = -1;
  for (int t = 0; t < nthreads_; ++t) {
    if (threads_[t].status == st_barrier && at_barrier++ == 0) first_barrier = t;
    if (threads_[t].status == st_warp && at_warp++ == 0) first_warp = t;
  }
  std::ostringstream os;
  os << "deadlock: " << at_barrier << " thread(s) wait at __syncthreads";
  if (first_barrier >= 0) os << " (first " << format_idx(thread_idx_[first_barrier]) << ")";
  os << " and " << at_warp << " at a warp collective";
  if (first_warp >= 0) os << " (first " << format_idx(thread_idx_[first_warp]) << ")";
  os << ", " << done_ << " exited; a barrier or collective is not reached by every thread it names";
  return os.str();
}

void executor::thread_exited(int t) {
  threads_[t].status = st_done;
  ++done_;
  warp_state& w = warps_[t >> 5];
  w.exited |= 1u << (t & 31);
  // Exited threads count as arrived at barriers and leave warp collectives, as on the hardware.
  if (barrier_arrived_ > 0 && barrier_arrived_ + done_ >= nthreads_) release_barrier(-1);
  for (uint32_t pending = w.arrived; pending; pending &= pending - 1) {
    const int lane = __builtin_ctz(pending);
    if (w.arrived >> lane & 1) try_complete(t >> 5, lane, -1);
  }
}

void executor::release_barrier(int except) {
  result_count_ = barrier_count_;
  result_and_ = barrier_and_;
  result_or_ = barrier_or_;
  barrier_arrived_ = barrier_count_ = barrier_or_ = 0;
  barrier_and_ = 1;
  for (int t = 0; t < nthreads_; ++t)
    if (t != except && threads_[t].status == st_barrier) make_ready(t);
}

int executor::barrier(int op, int predicate) {
  fiber_rec& me = current();
  const int t = me.thread;
  barrier_count_ += predicate != 0;
  barrier_and_ &= predicate != 0;
  barrier_or_ |= predicate != 0;
  threads_[t].status = st_barrier;
  if (++barrier_arrived_ + done_ >= nthreads_) {
    release_barrier(t);  // the last thread to arrive goes straight on
    threads_[t].status = st_running;
    if (block_failed_) throw abort_thread{};
  } else {
    wait(me);
  }
  return op == 0 ? result_count_ : op == 1 ? result_and_ : result_or_;
}

uint64_t executor::collective(int op, unsigned mask, uint64_t value, int param, int width) {
  fiber_rec& me = current();
  const int t = me.thread, lane = t & 31, w = t >> 5;
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    fail_block(cudaErrorLaunchFailure, "warp shuffle width " + std::to_string(width) + " is not a power of two <= 32");
    throw abort_thread{};
  }
  if (!(mask >> lane & 1)) {
    fail_block(cudaErrorLaunchFailure, "thread " + format_idx(threadIdx) + " (lane " + std::to_string(lane) +
                                           ") called a warp collective whose mask excludes it");
    throw abort_thread{};
  }
  lane_io& io = io_[t];
  io.value = value;
  io.mask = mask;
  io.param = param;
  io.op = op;
  io.width = width;
  warps_[w].arrived |= 1u << lane;
  if (try_complete(w, lane, t)) {
    if (block_failed_) throw abort_thread{};
  } else {
    threads_[t].status = st_warp;
    wait(me);
  }
  return io.result;
}

// Completes the collective that `lane` waits in once every live lane of its mask has arrived; lanes that have exited
// (or do not exist in a partial warp) are left out.
bool executor::try_complete(int w, int lane, int self) {
  warp_state& ws = warps_[w];
  const int base = w * 32;
  const lane_io& lead = io_[base + lane];
  const uint32_t group = lead.mask & ws.existing & ~ws.exited;
  if ((ws.arrived & group) != group) return false;
  bool agree = true;
  for (uint32_t m = group; m; m &= m - 1) {
    const lane_io& o = io_[base + __builtin_ctz(m)];
    agree &= o.op == lead.op && o.mask == lead.mask && o.width == lead.width;
  }
  if (agree) {
    compute_collective(&io_[base], group, lead.op);
  } else {
    std::ostringstream os;
    os << "warp " << w << ": lanes met in different warp collectives or with different masks (lane " << lane
       << " mask 0x" << std::hex << lead.mask << ")";
    fail_block(cudaErrorLaunchFailure, os.str());
  }
  ws.arrived &= ~group;
  for (uint32_t m = group; m; m &= m - 1) {
    const int t = base + __builtin_ctz(m);
    if (t != self && threads_[t].status == st_warp) make_ready(t);
  }
  return true;
}

}  // namespace

void run_blocks(block_job& job, int64_t first, int64_t last) { executor::local().run_blocks(job, first, last); }
bool inside_kernel() { return executor::local().busy(); }
scheduler_stats get_scheduler_stats() {
  return {g_fibers_created.load(std::memory_order_relaxed), g_fiber_switches.load(std::memory_order_relaxed)};
}

// The device-side entry points declared in device_emu.h.
void block_barrier() { executor::local().barrier(0, 0); }
int block_barrier_reduce(int op, int predicate) { return executor::local().barrier(op, predicate); }
uint64_t warp_collective(int op, unsigned mask, uint64_t value, int param, int width) {
  return executor::local().collective(op, mask, value, param, width);
}
unsigned warp_active_mask() { return executor::local().active_mask(); }
void* dynamic_shared_memory() { return executor::local().dynamic_shared(); }
void trap() { executor::local().trap(); }

}  // namespace detail
}  // namespace cage_cuda_emu

// AddressSanitizer calls this before printing a report: name the emulated thread that made the access, as
// compute-sanitizer would (the report's stack then shows the kernel's source line).
extern "C" void __asan_on_error() {
  using namespace cage_cuda_emu;
  if (!detail::inside_kernel()) return;
  std::fprintf(stderr, "cage emu: the access reported below was made by thread (%u,%u,%u) of block (%u,%u,%u) "
               "(grid (%u,%u,%u), block size (%u,%u,%u))\n", threadIdx.x, threadIdx.y, threadIdx.z, blockIdx.x,
               blockIdx.y, blockIdx.z, gridDim.x, gridDim.y, gridDim.z, blockDim.x, blockDim.y, blockDim.z);
}
