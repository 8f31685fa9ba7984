// Data pipeline throughput on 224x224 JPEGs: decode alone, the paper's training augmentation alone
// (kPaperTrainSpec), both together in 1 and 2 threads (each thread runs its own decode + augment loop, as a DataLoader
// worker process does), and the Loader with 1 and 2 workers (adds batch assembly and the queue).
// The files come from $CAGE_BENCH_DATA_DIR (bench/data_throughput.py writes them there and times torchvision + PIL on
// the same files); without it, 64 smooth-noise JPEGs are generated in a temporary folder.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/philox.h"
#include "data/dataset.h"
#include "data/decode.h"
#include "data/loader.h"
#include "data/pipeline.h"

namespace {

namespace fs = std::filesystem;
using namespace cage;
using namespace cage::data;

// A photo-like test image: smooth colour fields plus mild noise, so the JPEG is about the size of AffectNet's.
Image synthetic_face(int64_t seed) {
  Image im(224, 224, 3);
  Philox rng(seed, 7);
  for (int64_t y = 0; y < 224; ++y)
    for (int64_t x = 0; x < 224; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        const int v = static_cast<int>((x * (c + 1) + y * (3 - c) + seed * 31) % 200 + rng.next_u32() % 24);
        im.row(y)[x * 3 + c] = static_cast<uint8_t>(std::min(v, 255));
      }
  return im;
}

const std::vector<std::string>& files() {
  static std::vector<std::string> list = [] {
    std::vector<std::string> out;
    const char* env = std::getenv("CAGE_BENCH_DATA_DIR");
    fs::path dir;
    if (env && *env) {
      dir = env;
    } else {
      dir = fs::temp_directory_path() / "cage_bench_data";
      fs::create_directories(dir);
      for (int i = 0; i < 64; ++i) {
        fs::path p = dir / (std::to_string(i) + ".jpg");
        if (!fs::exists(p)) encode_jpeg(synthetic_face(i), p.string(), 90);
      }
    }
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".jpg") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    if (out.empty()) std::abort();
    return out;
  }();
  return list;
}

const Pipeline& train_pipeline() {
  static Pipeline p(kPaperTrainSpec);
  return p;
}

// Per thread: image i, i + threads, ... of the list, round and round; items/s summed over threads (real time).
void BM_data_decode(benchmark::State& state) {
  const auto& list = files();
  size_t i = static_cast<size_t>(state.thread_index());
  for (auto _ : state) {
    benchmark::DoNotOptimize(decode_image(list[i % list.size()]).pixels.data());
    i += static_cast<size_t>(state.threads());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_data_decode)->Threads(1)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_data_augment(benchmark::State& state) {
  const Image im = decode_image(files()[0]);
  uint64_t i = static_cast<uint64_t>(state.thread_index()) << 40;
  for (auto _ : state) {
    Philox rng(1, i++);
    benchmark::DoNotOptimize(train_pipeline().apply(im, rng).values.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_data_augment)->Threads(1)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_data_decode_augment(benchmark::State& state) {
  const auto& list = files();
  size_t i = static_cast<size_t>(state.thread_index());
  for (auto _ : state) {
    Philox rng(1, i);
    Image im = decode_image(list[i % list.size()]);
    benchmark::DoNotOptimize(train_pipeline().apply(im, rng).values.data());
    i += static_cast<size_t>(state.threads());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_data_decode_augment)->Threads(1)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// One iteration is one epoch over the files, batches of 32, as training would consume them.
void BM_data_loader(benchmark::State& state) {
  RecordDataset ds("bench files", 1, 0, 0);
  for (const std::string& f : files()) {
    Record r;
    r.path = f;
    r.label = 0;
    ds.add(r);
  }
  Loader loader(ds, &train_pipeline(), {.batch_size = 32, .seed = 1, .workers = static_cast<int>(state.range(0))});
  int64_t epoch = 0, images = 0;
  for (auto _ : state) {
    for (Batch& b : loader.epoch(epoch++)) images += b.size();
  }
  state.SetItemsProcessed(images);
}
BENCHMARK(BM_data_loader)->ArgName("workers")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
