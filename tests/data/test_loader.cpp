// The loader: bitwise-identical batches for any number of workers, skipped samples replaced from the epoch order and
// counted, drop_last, per-epoch shuffles, a bounded prefetch queue and clean shutdown when the consumer stops early.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "core/error.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/loader.h"
#include "data/pipeline.h"
#include "tests/data/data_fixtures.h"

namespace cage::data {
namespace {

// Images made in memory: sample i is a pattern image (seed i), class i % classes, targets (i / 100, -i / 100);
// chosen indices come back missing or corrupt as a file-backed dataset would report them.
class MemoryDataset : public Dataset {
 public:
  MemoryDataset(int64_t n, std::set<int64_t> missing = {}, std::set<int64_t> corrupt = {}, int64_t odd_size = -1)
      : n_(n), missing_(std::move(missing)), corrupt_(std::move(corrupt)), odd_size_(odd_size) {}
  int64_t size() const override { return n_; }
  Sample get(int64_t i) const override {
    Sample s;
    s.label = label(i);
    s.targets = {static_cast<float>(i) / 100, -static_cast<float>(i) / 100};
    s.path = "mem/" + std::to_string(i) + ".jpg";
    s.source = "memory:" + std::to_string(i);
    if (missing_.count(i)) {
      s.skip = kSkipMissing;
      s.error = "no such file";
    } else if (corrupt_.count(i)) {
      s.skip = kSkipCorrupt;
      s.error = "bad JPEG";
    } else {
      s.image = test::pattern_image(i == odd_size_ ? 12 : 16, 16, i);
    }
    return s;
  }
  int64_t label(int64_t i) const override { return i % 3; }
  int64_t num_classes() const override { return 3; }
  int64_t num_targets() const override { return 2; }
  int64_t num_multi_labels() const override { return 0; }
  std::string name() const override { return "memory"; }

 private:
  int64_t n_;
  std::set<int64_t> missing_, corrupt_;
  int64_t odd_size_;
};

const char* kRandomSpec =
    "hflip(0.5) rotate(10) jitter(0.2,0.2,0.2,0.1) normalize(imagenet) erase(0.5,0.02,0.2,0.3,3.3)";

std::vector<Batch> run_epoch(Loader& loader, int64_t epoch) {
  std::vector<Batch> out;
  for (Batch& b : loader.epoch(epoch)) out.push_back(std::move(b));
  return out;
}

// Same shapes and the same bytes in every tensor, same indices.
::testing::AssertionResult same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << a.size() << " vs " << b.size() << " batches";
  auto same = [](const Tensor& x, const Tensor& y) {
    if (x.defined() != y.defined()) return false;
    if (!x.defined()) return true;
    return x.shape() == y.shape() && x.dtype() == y.dtype() &&
           std::memcmp(x.raw_data(), y.raw_data(), static_cast<size_t>(x.numel()) * dtype_size(x.dtype())) == 0;
  };
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].indices != b[k].indices) return ::testing::AssertionFailure() << "batch " << k << ": indices differ";
    if (!same(a[k].images, b[k].images)) return ::testing::AssertionFailure() << "batch " << k << ": images differ";
    if (!same(a[k].labels, b[k].labels) || !same(a[k].targets, b[k].targets) ||
        !same(a[k].multi_label, b[k].multi_label))
      return ::testing::AssertionFailure() << "batch " << k << ": labels differ";
  }
  return ::testing::AssertionSuccess();
}

TEST(Loader, BitwiseSameBatchesForAnyNumberOfWorkers) {
  MemoryDataset ds(37, {3, 20}, {11});
  Pipeline pipeline(kRandomSpec);
  std::vector<std::vector<Batch>> reference;
  {
    Loader serial(ds, &pipeline, {.batch_size = 5, .seed = 9, .workers = 0, .warn = false});
    reference = {run_epoch(serial, 0), run_epoch(serial, 1)};
  }
  ASSERT_EQ(reference[0].size(), 7u);
  for (int workers : {1, 2, 4}) {
    for (int prefetch : {1, 3}) {
      SCOPED_TRACE("workers " + std::to_string(workers) + ", prefetch " + std::to_string(prefetch));
      Loader loader(ds, &pipeline,
                    {.batch_size = 5, .seed = 9, .workers = workers, .prefetch = prefetch, .warn = false});
      EXPECT_TRUE(same_batches(run_epoch(loader, 0), reference[0]));
      EXPECT_TRUE(same_batches(run_epoch(loader, 1), reference[1]));
    }
  }
  // The seed matters: another seed, another epoch 0.
  Loader other(ds, &pipeline, {.batch_size = 5, .seed = 10, .workers = 2, .warn = false});
  EXPECT_FALSE(same_batches(run_epoch(other, 0), reference[0]));
}

TEST(Loader, SkippedSamplesAreReplacedFromTheEpochOrderAndCounted) {
  MemoryDataset ds(37, {3, 20}, {11});
  for (bool drop_last : {false, true}) {
    SCOPED_TRACE(drop_last ? "drop_last" : "keep last");
    Loader loader(ds, nullptr, {.batch_size = 5, .drop_last = drop_last, .seed = 4, .workers = 2, .warn = false});
    std::vector<Batch> batches = run_epoch(loader, 3);
    std::vector<int64_t> expected;
    for (int64_t i : loader.order(3))
      if (i != 3 && i != 20 && i != 11) expected.push_back(i);
    ASSERT_EQ(expected.size(), 34u);
    ASSERT_EQ(batches.size(), drop_last ? 6u : 7u);  // 34 = 6 x 5 + 4
    std::vector<int64_t> got;
    for (size_t k = 0; k < batches.size(); ++k) {
      const Batch& b = batches[k];
      EXPECT_EQ(b.number, static_cast<int64_t>(k));
      EXPECT_EQ(b.epoch, 3);
      EXPECT_EQ(b.size(), k == 6 ? 4 : 5);
      EXPECT_EQ(b.images.shape(), (Shape{b.size(), 16, 16, 3}));
      EXPECT_EQ(b.labels.shape(), (Shape{b.size()}));
      EXPECT_EQ(b.labels.dtype(), DType::i64);
      EXPECT_EQ(b.targets.shape(), (Shape{b.size(), 2}));
      EXPECT_FALSE(b.multi_label.defined());
      for (int64_t r = 0; r < b.size(); ++r) {
        const int64_t i = b.indices[r];
        EXPECT_EQ(b.labels.data<int64_t>()[r], i % 3);
        EXPECT_EQ(b.targets.data<float>()[2 * r + 1], -static_cast<float>(i) / 100);
        // No pipeline: pixels / 255, so row r is sample i's pattern.
        EXPECT_EQ(b.images.data<float>()[r * 16 * 16 * 3 + (2 * 16 + 5) * 3 + 1],
                  static_cast<float>(test::pattern_value(i, 2, 5, 1)) / 255.0f);
      }
      got.insert(got.end(), b.indices.begin(), b.indices.end());
    }
    expected.resize(drop_last ? 30 : 34);
    EXPECT_EQ(got, expected);
    EpochStats stats = loader.stats();
    EXPECT_EQ(stats.loaded, 34);
    EXPECT_EQ(stats.dropped_last, drop_last ? 4 : 0);
    EXPECT_EQ(stats.skipped.count(kSkipMissing), 2);
    EXPECT_EQ(stats.skipped.count(kSkipCorrupt), 1);
    EXPECT_EQ(stats.skipped.total(), 3);
    EXPECT_EQ(stats.skipped.entries().at(kSkipCorrupt).first_file, "mem/11.jpg");
    EXPECT_EQ(loader.nominal_batches(), drop_last ? 7 : 8);
  }
}

TEST(Loader, EachEpochReshufflesAndReaugments) {
  MemoryDataset ds(40);
  Pipeline pipeline(kRandomSpec);
  Loader loader(ds, &pipeline, {.batch_size = 40, .seed = 1, .workers = 2, .warn = false});
  std::vector<int64_t> o0 = loader.order(0), o1 = loader.order(1);
  EXPECT_NE(o0, o1);
  EXPECT_EQ(o0, loader.order(0));
  std::vector<int64_t> sorted = o1;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 40; ++i) ASSERT_EQ(sorted[i], i) << "an order is a permutation";

  std::vector<Batch> e0 = run_epoch(loader, 0), e1 = run_epoch(loader, 1);
  ASSERT_EQ(e0.size(), 1u);
  EXPECT_EQ(e0[0].indices, o0);
  EXPECT_EQ(e1[0].indices, o1);
  // Sample 7 in both epochs: same source pixels, different augmentation.
  const int64_t row = 16 * 16 * 3;
  auto find = [](const Batch& b, int64_t i) {
    return std::find(b.indices.begin(), b.indices.end(), i) - b.indices.begin();
  };
  const float* a = e0[0].images.data<float>() + find(e0[0], 7) * row;
  const float* b = e1[0].images.data<float>() + find(e1[0], 7) * row;
  EXPECT_NE(std::memcmp(a, b, row * sizeof(float)), 0);

  Loader ordered(ds, nullptr, {.batch_size = 16, .shuffle = false, .workers = 1});
  std::vector<Batch> plain = run_epoch(ordered, 5);
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_EQ(plain[2].indices, (std::vector<int64_t>{32, 33, 34, 35, 36, 37, 38, 39}));
}

TEST(Loader, PrefetchQueueIsBounded) {
  MemoryDataset ds(500);
  Loader loader(ds, nullptr, {.batch_size = 4, .seed = 2, .workers = 3, .prefetch = 2});
  loader.begin_epoch(0);
  // Nobody consumes: the workers must stop once two batches (8 samples) are ready.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (loader.stats().loaded < 8 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(loader.stats().loaded, 8);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (loader.stats().loaded < 12 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(loader.stats().loaded, 12);
}

TEST(Loader, ConsumerStoppingEarlyNeverDeadlocks) {
  MemoryDataset ds(300, {5}, {6});
  Pipeline pipeline(kRandomSpec);
  for (int workers : {0, 1, 4}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    auto loader = std::make_unique<Loader>(
        ds, &pipeline, LoaderOptions{.batch_size = 3, .seed = 5, .workers = workers, .prefetch = 1, .warn = false});
    int taken = 0;
    for (Batch& b : loader->epoch(0)) {
      EXPECT_EQ(b.size(), 3);
      if (++taken == 2) break;
    }
    // Restarting mid-epoch gives the same batches as a fresh loader.
    std::vector<Batch> restarted = run_epoch(*loader, 1);
    Loader fresh(ds, &pipeline, {.batch_size = 3, .seed = 5, .workers = 2, .warn = false});
    EXPECT_TRUE(same_batches(restarted, run_epoch(fresh, 1)));
    loader->begin_epoch(2);
    Batch b;
    ASSERT_TRUE(loader->next(b));
    loader.reset();  // workers busy with a full queue: the destructor must cancel and join
  }
}

TEST(Loader, ErrorsReachTheConsumer) {
  MemoryDataset ds(10, {}, {}, 6);  // sample 6 is 12x16: cannot share a batch without a resize
  Loader loader(ds, nullptr, {.batch_size = 10, .shuffle = false, .workers = 2});
  loader.begin_epoch(0);
  Batch b;
  try {
    loader.next(b);
    FAIL() << "images of two sizes were batched";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 6"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("one size"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Loader(ds, nullptr, {.batch_size = 0}), Error);
  Loader idle(ds, nullptr, {});
  EXPECT_THROW(idle.next(b), Error);  // no begin_epoch
}

// End to end on files: AffectNet-style JPEGs through the paper's training augmentation.
TEST(Loader, AffectNetFilesThroughThePaperPipeline) {
  test::TempDir dir;
  std::string csv = "number,exp,val,aro\n";
  for (int n = 0; n < 12; ++n) {
    if (n == 4) test::write_corrupt_jpeg(dir / "images/4.jpg");
    else if (n != 9) test::write_jpeg(dir / ("images/" + std::to_string(n) + ".jpg"), test::smooth_image(224, 224, n));
    csv += std::to_string(n) + "," + std::to_string(n % 8) + ",0.5,-0.5\n";
  }
  test::write_text(dir / "train.csv", csv);
  RecordDataset ds = read_affectnet_csv(dir / "train.csv", dir / "images");
  Pipeline pipeline(kPaperTrainSpec);
  std::vector<Batch> reference;
  for (int workers : {1, 2}) {
    Loader loader(ds, &pipeline, {.batch_size = 4, .seed = 3, .workers = workers, .warn = workers == 1});
    std::vector<Batch> batches = run_epoch(loader, 0);
    ASSERT_EQ(batches.size(), 3u);  // 10 usable: 4 + 4 + 2
    EXPECT_EQ(batches[0].images.shape(), (Shape{4, 224, 224, 3}));
    EXPECT_EQ(batches[2].images.shape(), (Shape{2, 224, 224, 3}));
    EXPECT_EQ(batches[1].targets.shape(), (Shape{4, 2}));
    EpochStats stats = loader.stats();
    EXPECT_EQ(stats.loaded, 10);
    EXPECT_EQ(stats.skipped.count(kSkipMissing), 1);
    EXPECT_EQ(stats.skipped.count(kSkipCorrupt), 1);
    EXPECT_NE(stats.skipped.summary().find("9.jpg"), std::string::npos) << stats.skipped.summary();
    if (workers == 1) reference = std::move(batches);
    else EXPECT_TRUE(same_batches(batches, reference));
  }
}

TEST(Loader, FashionMnistGreyBatches) {
  if (!test::fs::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  FashionMnistDataset ds(kFashionMnistDir, "t10k");
  Loader loader(ds, nullptr, {.batch_size = 128, .drop_last = true, .seed = 1, .workers = 2});
  std::vector<int64_t> seen(10, 0);
  int64_t batches = 0;
  for (Batch& b : loader.epoch(0)) {
    ++batches;
    ASSERT_EQ(b.images.shape(), (Shape{128, 28, 28, 1}));
    for (int64_t r = 0; r < 128; ++r) {
      ASSERT_EQ(b.labels.data<int64_t>()[r], ds.label(b.indices[r]));
      ++seen[b.labels.data<int64_t>()[r]];
    }
  }
  EXPECT_EQ(batches, 78);  // 10000 / 128, the last 16 dropped
  EXPECT_EQ(loader.stats().dropped_last, 16);
  int64_t total = 0;
  for (int64_t s : seen) total += s;
  EXPECT_EQ(total, 78 * 128);
}

TEST(Loader, EmoticBatchesCarryMultiHotAndThreeTargets) {
  test::TempDir dir;
  test::write_jpeg(dir / "imgs/a/p.jpg", test::smooth_image(120, 90, 1));
  test::write_text(dir / "emotic.csv",
                   "Index,Folder,Filename,Image Size,BBox,Categorical_Labels,Continuous_Labels,Gender,Age\n"
                   "0,a,p.jpg,x,\"[10, 10, 60, 110]\",\"['Fear']\",\"[10, 1, 5.5]\",M,A\n"
                   "1,a,p.jpg,x,\"[0, 0, 90, 30]\",\"['Pain', 'Sadness']\",\"[3, 4, 5]\",M,A\n");
  RecordDataset ds = read_emotic_csv(dir / "emotic.csv", dir / "imgs");
  Pipeline pipeline(kPaperEvalSpec);
  Loader loader(ds, &pipeline, {.batch_size = 2, .shuffle = false, .workers = 1});
  std::vector<Batch> batches = run_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  const Batch& b = batches[0];
  EXPECT_EQ(b.images.shape(), (Shape{2, 224, 224, 3}));
  EXPECT_FALSE(b.labels.defined());
  ASSERT_EQ(b.multi_label.shape(), (Shape{2, 26}));
  ASSERT_EQ(b.targets.shape(), (Shape{2, 3}));
  const float* m = b.multi_label.data<float>();
  EXPECT_EQ(m[15], 1.0f);                 // Fear
  EXPECT_EQ(m[26 + 17] + m[26 + 20], 2.0f);  // Pain, Sadness
  float hot = 0;
  for (int k = 0; k < 52; ++k) hot += m[k];
  EXPECT_EQ(hot, 3.0f);
  EXPECT_FLOAT_EQ(b.targets.data<float>()[0], 1.0f);
  EXPECT_FLOAT_EQ(b.targets.data<float>()[1], -1.0f);
  EXPECT_FLOAT_EQ(b.targets.data<float>()[3], -5.0f / 9.0f);
}

}  // namespace
}  // namespace cage::data
