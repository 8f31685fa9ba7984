// Loader: batches of decoded, augmented samples, made ahead of the training loop by worker threads.
//
// Reproducibility. The order of an epoch is a Philox shuffle keyed by (seed, epoch); sample i of epoch e is
// augmented with its own stream Philox(seed, e * 2^32 + i). Workers take samples in any order, but a batch is
// assembled strictly in epoch order, so the batches are bitwise identical for any number of workers.
//
// Skipped samples (missing file, corrupt image, empty crop) are left out of the epoch's order: the batch is filled
// from the next samples in that order, every later sample moves up, and the last batch of the epoch is the one that
// gets shorter (or dropped with drop_last). Which samples are skipped depends only on the files, so this is as
// deterministic as the rest. Each kind of skip prints one warning line (with its first file) per loader; the
// counts of an epoch are in stats().
//
// Workers are std::threads of their own, not the compute pool (core/thread_pool.h): decoding must overlap the
// model's step, not compete for the same loop. They stop when the prefetch queue holds `prefetch` batches; a
// consumer that stops early (break out of an epoch, destroy the loader) never deadlocks: begin_epoch() and the
// destructor cancel the work in flight and join.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"

namespace cage::data {

class Pipeline;

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int workers = 2;    // threads that decode and transform; 0: the calling thread does the work inside next()
  int prefetch = 2;   // batches ready ahead of the consumer (>= 1)
  bool warn = true;   // print one warning line per kind of skipped sample
};

struct Batch {
  Tensor images;       // f32 (B, H, W, C): the pipeline's output, NHWC
  Tensor labels;       // i64 (B), when the dataset has classes
  Tensor targets;      // f32 (B, k), when it has continuous targets (V, A [, D])
  Tensor multi_label;  // f32 (B, 26), when it has multi-hot categories (EMOTIC)
  std::vector<int64_t> indices;  // the dataset index of each row
  int64_t epoch = 0;
  int64_t number = 0;  // position of the batch in its epoch
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

// Moves a batch's tensors to `device` (the loader always fills them on the CPU).
void to_device(Batch& b, Device device);

struct EpochStats {
  int64_t loaded = 0;      // samples delivered in batches (or in the dropped last partial batch)
  int64_t dropped_last = 0;  // samples of the final partial batch left out by drop_last
  SkipReport skipped;      // by reason
};

class Loader {
 public:
  // `dataset` and `pipeline` must outlive the loader. A null pipeline converts pixels to [0, 1] floats (ToTensor
  // without Normalize); then all images must share one size.
  Loader(const Dataset& dataset, const Pipeline* pipeline, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts epoch `epoch` (any order, any number of times: the epoch number alone fixes its contents), cancelling
  // an epoch still in progress.
  void begin_epoch(int64_t epoch);
  // The next batch of the current epoch; false when the epoch is done. An error in a worker (a pipeline that throws,
  // images of different sizes in one batch) is rethrown here.
  bool next(Batch& out);

  // for (Batch& b : loader.epoch(e)) { ... }
  class EpochRange;
  EpochRange epoch(int64_t epoch);

  // The sample order of an epoch (dataset indices), as the batches will follow it.
  std::vector<int64_t> order(int64_t epoch) const;
  // Batches of an epoch in which nothing is skipped.
  int64_t nominal_batches() const;
  // Counts of the current (or last) epoch, up to what has been assembled so far.
  EpochStats stats() const;
  const LoaderOptions& options() const { return options_; }

 private:
  struct Result {
    bool ready = false;
    FloatImage image;
    std::string skip, error, path, source;
    int64_t index = 0, label = -1;
    std::vector<float> targets, multi_label;
  };
  struct Staging;
  Batch make_batch();  // the staging rows as a batch; resets the staging state

  void worker_loop();
  // One unit of work under the lock (which it releases while working): true when something was done.
  bool work_step(std::unique_lock<std::mutex>& lock);
  Result process(int64_t index, int64_t epoch) const;
  void cancel_locked(std::unique_lock<std::mutex>& lock);
  bool can_assemble_locked() const;

  const Dataset& dataset_;
  const Pipeline* pipeline_;
  LoaderOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;  // any change of state: few threads, so one variable and notify_all
  std::vector<std::thread> threads_;
  bool stop_ = false;

  // State of the current epoch (guarded by mutex_).
  uint64_t generation_ = 0;  // bumped by begin_epoch: work of an older epoch is discarded
  bool active_ = false;
  int64_t epoch_ = 0, batch_number_ = 0;
  std::vector<int64_t> order_;
  int64_t next_claim_ = 0;   // next position of order_ to process
  int64_t cursor_ = 0;       // next position to assemble
  int64_t window_ = 0;       // positions processed ahead of the cursor, at most
  std::deque<Result> ring_;  // results for positions [cursor_, cursor_ + ring_.size())
  bool assembling_ = false, finished_ = false;
  int busy_ = 0;             // workers processing or assembling outside the lock
  std::unique_ptr<Staging> staging_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  EpochStats stats_;
  std::set<std::string> warned_;
};

class Loader::EpochRange {
 public:
  class iterator {
   public:
    iterator() = default;
    explicit iterator(Loader* l) : loader_(l) { advance(); }
    Batch& operator*() { return batch_; }
    Batch* operator->() { return &batch_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    bool operator!=(const iterator& o) const { return loader_ != o.loader_; }

   private:
    void advance() {
      if (!loader_->next(batch_)) loader_ = nullptr;
    }
    Loader* loader_ = nullptr;
    Batch batch_;
  };
  EpochRange(Loader* loader, int64_t epoch) : loader_(loader), epoch_(epoch) {}
  iterator begin() {
    loader_->begin_epoch(epoch_);
    return iterator(loader_);
  }
  iterator end() { return iterator(); }

 private:
  Loader* loader_;
  int64_t epoch_;
};

inline Loader::EpochRange Loader::epoch(int64_t epoch) { return EpochRange(this, epoch); }

}  // namespace cage::data
