// One training step (forward + backward + AdamW) of MaxViT-T at 224x224, batch 8, and of the Fashion-MNIST
// MaxViT (input 32, 0.75 M parameters) at batch 128, with cross-entropy on random labels. Weights from
// torchvision's initialisation (seed 0): speed does not depend on the values. bf16:1 runs the step in bf16 mixed
// precision (kernels::set_gemm_precision: GEMM and attention-product operands in bf16, fp32 accumulation and
// everything else fp32); skipped on CPUs without AVX-512 BF16.
#include <benchmark/benchmark.h>

#include <chrono>

#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "models/maxvit.h"
#include "nn/functional.h"
#include "train/optim.h"

namespace {

void train_steps(benchmark::State& state, const cage::models::MaxVitConfig& config, int64_t batch) {
  const bool bf16 = state.range(1) != 0;
  if (bf16 && !cage::kernels::bf16_gemm_supported()) return state.SkipWithError("CPU without AVX-512 BF16");
  cage::kernels::GemmPrecisionScope scope(bf16 ? cage::kernels::GemmPrecision::bf16
                                              : cage::kernels::GemmPrecision::fp32);
  cage::models::MaxVit model(config);
  model.init_weights(0);
  model.train();
  cage::Philox rng(0, 2);
  model.rng = &rng;
  cage::train::AdamWOptions o;
  o.lr = 1e-4;
  cage::train::AdamW opt(model.parameters(), o);
  const int64_t s = config.input_size;
  cage::Tensor x = cage::Tensor::full({batch, s, s, config.in_channels}, 0.25);
  std::vector<int64_t> labels(batch);
  for (int64_t i = 0; i < batch; ++i) labels[i] = i % config.num_classes;
  cage::Tensor y = cage::Tensor::from_vector(labels, {batch});
  auto step = [&] {
    cage::Tensor loss = cage::nn::cross_entropy(model.forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  step();  // warm-up: the first step fills the allocator's pool and the optimizer state
  double seconds = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  state.counters["ms_per_step"] = 1e3 * seconds / static_cast<double>(state.iterations());
  state.counters["images_per_s"] = static_cast<double>(state.iterations() * batch) / seconds;
}

void BM_TrainStepMaxVitT(benchmark::State& state) {
  cage::models::MaxVitConfig c = cage::models::maxvit_t_config(10);
  c.stochastic_depth_prob = 0.0;  // the same work every step
  train_steps(state, c, state.range(0));
}
BENCHMARK(BM_TrainStepMaxVitT)
    ->ArgsProduct({{8}, {0, 1}})
    ->ArgNames({"batch", "bf16"})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

// An RGB stem, as torchvision's MaxVit has: the comparison with PyTorch runs the same network.
void BM_TrainStepFashion(benchmark::State& state) {
  train_steps(state, cage::models::fashion_mnist_config(3), state.range(0));
}
BENCHMARK(BM_TrainStepFashion)
    ->ArgsProduct({{128}, {0, 1}})
    ->ArgNames({"batch", "bf16"})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

}  // namespace
