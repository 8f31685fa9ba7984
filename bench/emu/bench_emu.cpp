// What an emulated launch costs: grids of 1024 blocks x 256 threads (and one tiny launch) for kernels without
// barriers, with one barrier, with a shared-memory tree reduction and with warp shuffles; serial and parallel.
// Counters: per-CUDA-thread time and fiber switches per launch.
#include <benchmark/benchmark.h>

#include "bench/emu/bench_emu_kernels.h"
#include "core/thread_pool.h"
#include "kernels/emu/cuda_runtime_emu.h"
#include "kernels/emu/emu.h"

namespace {

void bm_emu_launch(benchmark::State& state) {
  const auto kernel = static_cast<cage_bench::bench_kernel>(state.range(0));
  const int blocks = int(state.range(1)), threads = int(state.range(2));
  cage::emu::set_serial(state.range(3) != 0);
  const size_t n = size_t(blocks) * threads;
  float *in = nullptr, *out = nullptr;
  cudaMalloc(&in, n * sizeof(float));
  cudaMalloc(&out, n * sizeof(float));
  cudaMemset(in, 0, n * sizeof(float));
  cage_bench::launch_bench_kernel(kernel, blocks, threads, in, out);  // warm the fiber pools
  const uint64_t switches = cage::emu::stats().fiber_switches;
  for (auto _ : state) {
    cage_bench::launch_bench_kernel(kernel, blocks, threads, in, out);
    benchmark::DoNotOptimize(out);
  }
  if (cudaGetLastError() != cudaSuccess) state.SkipWithError("launch failed");
  state.counters["ns_per_thread"] = benchmark::Counter(double(n) * state.iterations(),
                                                       benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["switches"] = double(cage::emu::stats().fiber_switches - switches) / double(state.iterations());
  state.counters["pool"] = cage::num_threads();
  cudaFree(in);
  cudaFree(out);
  cage::emu::set_serial(false);
}

void launch_args(benchmark::internal::Benchmark* b) {
  for (int serial : {0, 1})
    for (int k = 0; k < 4; ++k) b->Args({k, 1024, 256, serial});
  b->Args({0, 1, 32, 0});  // the fixed cost of one launch
  b->Args({2, 1, 256, 0});
  b->ArgNames({"kernel", "blocks", "threads", "serial"})->Unit(benchmark::kMillisecond);
}
BENCHMARK(bm_emu_launch)->Apply(launch_args);

}  // namespace
