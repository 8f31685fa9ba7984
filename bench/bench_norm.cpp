// Training-mode BatchNorm + GELU, forward and backward through autograd: the fused op (nn::batch_norm2d_gelu)
// against the composition gelu(batch_norm2d(x)), at the largest MBConv shapes of the Fashion-MNIST MaxViT at
// batch 128 (conv_a's output, 16x16x128) and of MaxViT-T at batch 8 (stage 1's conv_a output, 56x56x256).
// Napkin math: the composition moves ~72 bytes per element (BatchNorm forward reads x three times and writes y,
// GELU reads y and writes its output, GELU's backward reads two and writes one, BatchNorm's backward reads two
// twice and writes one; writes count twice, read-for-ownership), the fused op ~48.
#include <benchmark/benchmark.h>

#include "nn/functional.h"

namespace {

void BM_BatchNormGelu(benchmark::State& state) {
  const bool fused = state.range(0) != 0;
  const cage::Shape shape = state.range(1) == 0 ? cage::Shape{128, 16, 16, 128} : cage::Shape{8, 56, 56, 256};
  const int64_t C = shape[3];
  cage::Tensor x = cage::Tensor::full(shape, 0.5), w = cage::Tensor::full({C}, 1.0), b = cage::Tensor::full({C}, 0.1);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 7919 % 1013) * 0.003 - 1.5);
  cage::Tensor g = cage::Tensor::full(shape, 0.01);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  cage::Tensor rm = cage::Tensor::zeros({C}), rv = cage::Tensor::full({C}, 1.0);
  for (auto _ : state) {
    for (cage::Tensor* t : {&x, &w, &b}) t->zero_grad();  // no accumulation pass
    cage::Tensor y = fused ? cage::nn::batch_norm2d_gelu(x, w, b, rm, rv, true, 0.1, 1e-5)
                           : cage::nn::gelu(cage::nn::batch_norm2d(x, w, b, rm, rv, true, 0.1, 1e-5));
    y.backward(g);
    benchmark::DoNotOptimize(x.grad().data<float>());
  }
  state.SetItemsProcessed(state.iterations() * x.numel());  // elements per second
}

}  // namespace

BENCHMARK(BM_BatchNormGelu)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"fused", "shape"})->Unit(benchmark::kMillisecond)
    ->UseRealTime();
