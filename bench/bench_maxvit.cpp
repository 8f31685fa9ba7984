// MaxViT-T inference at 224x224 (eval mode, no autograd), batch 1 and 8, with the fused inference path
// (fused:1, what the engine runs) and without it (fused:0: the plain autograd ops, for A/B comparisons;
// add --benchmark_enable_random_interleaving=true --benchmark_repetitions=N on a busy machine), and the fused
// path with its GEMMs in bf16 (bf16:1, models::Precision::bf16; skipped on CPUs without AVX-512 BF16). Weights come from the checkpoint in
// $CAGE_BENCH_WEIGHTS (so bench/compare_maxvit.py can time PyTorch on the very same weights), else from
// torchvision's initialisation with seed 0; speed does not depend on the values.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>

#include "core/autograd.h"
#include "kernels/gemm_bf16.h"
#include "models/checkpoint.h"

namespace {

cage::models::MaxVit& model() {
  static std::unique_ptr<cage::models::MaxVit> m = [] {
    const char* path = std::getenv("CAGE_BENCH_WEIGHTS");
    if (path && *path) {
      cage::models::LoadedWeights w = cage::models::load_weights(path);
      auto net = std::make_unique<cage::models::MaxVit>(w.config);
      net->load_state_dict(w.state);
      return net;
    }
    auto net = std::make_unique<cage::models::MaxVit>(cage::models::maxvit_t_config());
    net->init_weights(0);
    return net;
  }();
  m->eval();
  return *m;
}

void BM_MaxVitForward(benchmark::State& state) {
  const int64_t batch = state.range(0);
  cage::models::set_fused_inference(state.range(1) != 0);
  const bool bf16 = state.range(2) != 0;
  if (bf16 && !cage::kernels::bf16_gemm_supported()) return state.SkipWithError("CPU without AVX-512 BF16");
  cage::models::set_inference_precision(bf16 ? cage::models::Precision::bf16 : cage::models::Precision::fp32);
  cage::Tensor x = cage::Tensor::full({batch, 224, 224, 3}, 0.5);
  cage::NoGradGuard no_grad;
  auto& net = model();
  double seconds = 0, fastest = 1e30;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(net.forward(x));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    seconds += s;
    fastest = std::min(fastest, s);
  }
  // The fastest single forward: on a machine shared with other jobs, the closest to an undisturbed run.
  state.counters["min_ms_per_image"] = 1e3 * fastest / static_cast<double>(batch);
  cage::models::set_inference_precision(cage::models::Precision::fp32);
  state.counters["ms_per_image"] = 1e3 * seconds / static_cast<double>(state.iterations() * batch);
  // 5.558 GMACs per image (torchvision's figure) = 11.1 GFLOP
  state.counters["GFLOP/s"] = benchmark::Counter(11.116e9 * static_cast<double>(batch),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_MaxVitForward)
    ->ArgsProduct({{1, 8}, {1, 0}, {0}})
    ->Args({1, 1, 1})
    ->Args({8, 1, 1})
    ->ArgNames({"batch", "fused", "bf16"})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace
