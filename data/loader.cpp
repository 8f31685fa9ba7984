// The loader's machinery: positions of the epoch order are claimed by workers (at most window_ ahead of the
// assembly cursor), processed outside the lock, and their results kept in a ring until the cursor reaches them;
// one worker at a time appends the result at the cursor to the batch being staged, so rows land in epoch order
// whoever computed them. A full batch goes to the ready queue, which holds at most `prefetch` batches.
#include "data/loader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "data/pipeline.h"

namespace cage::data {

struct Loader::Staging {
  Tensor images;  // (batch_size, H, W, C), filled up to `filled`
  int64_t height = 0, width = 0, channels = 0, filled = 0;
  std::vector<int64_t> labels, indices;
  std::vector<float> targets, multi_label;
};

namespace {
const char* skip_phrase(const std::string& reason) {
  if (reason == kSkipMissing) return "missing image file";
  if (reason == kSkipCorrupt) return "corrupt image";
  if (reason == kSkipEmptyCrop) return "crop box outside the image";
  return reason.c_str();
}
}  // namespace

Loader::Loader(const Dataset& dataset, const Pipeline* pipeline, LoaderOptions options)
    : dataset_(dataset), pipeline_(pipeline), options_(options) {
  CAGE_CHECK(options_.batch_size >= 1, "loader: batch size ", options_.batch_size);
  CAGE_CHECK(options_.workers >= 0, "loader: ", options_.workers, " workers");
  CAGE_CHECK(options_.prefetch >= 1, "loader: prefetch ", options_.prefetch, " (at least 1 batch)");
  // Sample streams are epoch * 2^32 + index: an index must fit in 32 bits.
  CAGE_CHECK(dataset_.size() < (int64_t(1) << 32), dataset_.name(), ": ", dataset_.size(), " samples, at most 2^32");
  // A few samples in flight per worker keep every worker busy while one slow image holds the cursor back; more would
  // only hold memory (a 224x224x3 float image is 600 KB), the ready queue is where batches are buffered.
  window_ = std::max(4 * options_.workers, 4);
  for (int w = 0; w < options_.workers; ++w) threads_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    stop_ = true;
    ++generation_;
    active_ = false;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

std::vector<int64_t> Loader::order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(dataset_.size()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  if (options_.shuffle) {
    Philox rng(options_.seed, kStreamShuffle + static_cast<uint64_t>(epoch));
    philox_shuffle(order, rng);
  }
  return order;
}

int64_t Loader::nominal_batches() const {
  const int64_t n = dataset_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

EpochStats Loader::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Loader::cancel_locked(std::unique_lock<std::mutex>& lock) {
  ++generation_;
  active_ = false;
  // Workers outside the lock hold pointers into the staging batch or are about to store a result: let them land.
  cv_.wait(lock, [this] { return busy_ == 0; });
  order_.clear();
  ring_.clear();
  ready_.clear();
  staging_.reset();
  error_ = nullptr;
  assembling_ = finished_ = false;
  cursor_ = next_claim_ = batch_number_ = 0;
  stats_ = EpochStats();
}

void Loader::begin_epoch(int64_t epoch) {
  CAGE_CHECK(epoch >= 0 && epoch < (int64_t(1) << 31), "loader: epoch ", epoch, " outside [0, 2^31)");
  std::vector<int64_t> order = this->order(epoch);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    cancel_locked(lock);
    epoch_ = epoch;
    order_ = std::move(order);
    active_ = true;
  }
  cv_.notify_all();
}

bool Loader::next(Batch& out) {
  std::unique_lock<std::mutex> lock(mutex_);
  CAGE_CHECK(active_, "loader: next() without begin_epoch()");
  for (;;) {
    if (error_) {
      std::exception_ptr e = error_;
      lock.unlock();
      std::rethrow_exception(e);
    }
    if (!ready_.empty()) {
      out = std::move(ready_.front());
      ready_.pop_front();
      lock.unlock();
      cv_.notify_all();  // room in the queue: the assembler may go on
      return true;
    }
    if (finished_) return false;
    if (options_.workers == 0) {
      // The calling thread is the only worker: a step is always possible until the epoch is finished.
      CAGE_CHECK(work_step(lock), "loader: no progress possible (internal error)");
    } else {
      cv_.wait(lock);
    }
  }
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_)
    if (!work_step(lock)) cv_.wait(lock);
}

bool Loader::can_assemble_locked() const {
  if (assembling_ || static_cast<int>(ready_.size()) >= options_.prefetch) return false;
  return cursor_ == static_cast<int64_t>(order_.size()) || (!ring_.empty() && ring_.front().ready);
}

Loader::Result Loader::process(int64_t index, int64_t epoch) const {
  Sample s = dataset_.get(index);
  Result r;
  r.index = index;
  r.label = s.label;
  r.targets = std::move(s.targets);
  r.multi_label = std::move(s.multi_label);
  r.path = std::move(s.path);
  r.source = std::move(s.source);
  if (!s.ok()) {
    r.skip = std::move(s.skip);
    r.error = std::move(s.error);
    return r;
  }
  if (pipeline_) {
    Philox rng(options_.seed, (static_cast<uint64_t>(epoch) << 32) + static_cast<uint64_t>(index));
    r.image = pipeline_->apply(s.image, rng);
  } else {
    const Image& im = s.image;
    r.image = FloatImage(im.height, im.width, im.channels);
    for (size_t k = 0; k < im.pixels.size(); ++k) r.image.values[k] = static_cast<float>(im.pixels[k]) / 255.0f;
  }
  return r;
}

bool Loader::work_step(std::unique_lock<std::mutex>& lock) {
  if (stop_ || !active_ || finished_ || error_) return false;
  const int64_t n = static_cast<int64_t>(order_.size());

  if (can_assemble_locked()) {
    if (cursor_ == n) {  // every position assembled: the last, partial batch
      if (staging_ && staging_->filled > 0) {
        if (options_.drop_last) {
          stats_.dropped_last = staging_->filled;
        } else {
          ready_.push_back(make_batch());
        }
      }
      staging_.reset();
      finished_ = true;
      cv_.notify_all();
      return true;
    }
    Result r = std::move(ring_.front());
    ring_.pop_front();
    ++cursor_;
    if (!r.skip.empty()) {
      if (stats_.skipped.add(r.skip, r.path, r.error) && warned_.insert(r.skip).second && options_.warn)
        std::fprintf(stderr,
                     "warning: skipping samples with a %s, counted in the loader's stats; the first: %s (%s): %s\n",
                     skip_phrase(r.skip), r.path.c_str(), r.source.c_str(), r.error.c_str());
      cv_.notify_all();
      return true;
    }
    // Copy into the staging batch outside the lock; assembling_ keeps other workers off the staging state.
    assembling_ = true;
    ++busy_;
    if (!staging_) {
      staging_ = std::make_unique<Staging>();
      staging_->height = r.image.height;
      staging_->width = r.image.width;
      staging_->channels = r.image.channels;
    }
    Staging* s = staging_.get();
    lock.unlock();
    std::exception_ptr failure;
    try {
      CAGE_CHECK(r.image.height == s->height && r.image.width == s->width && r.image.channels == s->channels,
                 dataset_.name(), ": sample ", r.index, " (", r.source, ") is ", r.image.height, "x", r.image.width,
                 "x", r.image.channels, " after the pipeline, the batch's first is ", s->height, "x", s->width, "x",
                 s->channels, ": the pipeline must produce one size (resize or crop)");
      if (!s->images.defined()) {
        // Pinned (page-locked) host memory plugs in here once batches are copied to a CUDA device: allocate the staging
        // tensor from a pinned pool so the host-to-device copy can be asynchronous.
        s->images = Tensor::empty({options_.batch_size, s->height, s->width, s->channels}, DType::f32);
      }
      const size_t row = r.image.values.size();
      std::memcpy(s->images.data<float>() + s->filled * static_cast<int64_t>(row), r.image.values.data(),
                  row * sizeof(float));
      s->labels.push_back(r.label);
      s->indices.push_back(r.index);
      s->targets.insert(s->targets.end(), r.targets.begin(), r.targets.end());
      s->multi_label.insert(s->multi_label.end(), r.multi_label.begin(), r.multi_label.end());
      ++s->filled;
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    --busy_;
    assembling_ = false;
    if (failure) {
      if (!error_) error_ = failure;
    } else {
      ++stats_.loaded;
      if (s->filled == options_.batch_size) ready_.push_back(make_batch());
    }
    cv_.notify_all();
    return true;
  }

  if (next_claim_ < n && next_claim_ - cursor_ < window_) {
    const int64_t pos = next_claim_++;
    const int64_t index = order_[pos], epoch = epoch_;
    const uint64_t generation = generation_;
    ring_.emplace_back();
    ++busy_;
    lock.unlock();
    Result r;
    std::exception_ptr failure;
    try {
      r = process(index, epoch);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    --busy_;
    if (generation == generation_) {
      if (failure) {
        if (!error_) error_ = failure;
      } else {
        r.ready = true;
        ring_[pos - cursor_] = std::move(r);
      }
    }
    cv_.notify_all();
    return true;
  }
  return false;
}

Batch Loader::make_batch() {
  Staging& s = *staging_;
  const int64_t b = s.filled;
  const Dataset& ds = dataset_;
  Batch out;
  out.images = b == s.images.size(0) ? s.images : s.images.slice(0, 0, b).contiguous();
  if (ds.num_classes() > 0) out.labels = Tensor::from_vector(s.labels, {b});
  if (ds.num_targets() > 0) out.targets = Tensor::from_vector(s.targets, {b, ds.num_targets()});
  if (ds.num_multi_labels() > 0) out.multi_label = Tensor::from_vector(s.multi_label, {b, ds.num_multi_labels()});
  out.indices = std::move(s.indices);
  out.epoch = epoch_;
  out.number = batch_number_++;
  staging_.reset();
  return out;
}

void to_device(Batch& b, Device device) {
  for (Tensor* t : {&b.images, &b.labels, &b.targets, &b.multi_label})
    if (t->defined()) *t = t->to(device);
}

}  // namespace cage::data
