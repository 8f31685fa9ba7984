// The stem's dense 3x3 convolutions in training, forward + backward through autograd (im2col + GEMM, then the
// weight gradient from the columns and the input gradient by col2im): Fashion-MNIST MaxViT at batch 128
// (16x16x32 -> 32) and MaxViT-T at batch 8 (112x112x64 -> 64).
#include <benchmark/benchmark.h>

#include "nn/functional.h"

namespace {

void BM_Conv3x3Train(benchmark::State& state) {
  const bool fashion = state.range(0) == 0;
  const int64_t N = fashion ? 128 : 8, HW = fashion ? 16 : 112, C = fashion ? 32 : 64;
  cage::Tensor x = cage::Tensor::full({N, HW, HW, C}, 0.5), w = cage::Tensor::full({3, 3, C, C}, 0.01),
               b = cage::Tensor::full({C}, 0.1), g = cage::Tensor::full({N, HW, HW, C}, 0.01);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 7919 % 1013) * 0.003 - 1.5);
  for (cage::Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
  cage::nn::Conv2dOptions o;
  o.stride = 1;
  o.padding = 1;
  for (auto _ : state) {
    for (cage::Tensor* t : {&x, &w, &b}) t->zero_grad();
    cage::Tensor y = cage::nn::conv2d(x, w, b, o);
    y.backward(g);
    benchmark::DoNotOptimize(x.grad().data<float>());
  }
}

}  // namespace

BENCHMARK(BM_Conv3x3Train)->Arg(0)->Arg(1)->ArgName("maxvit_t")->Unit(benchmark::kMillisecond)->UseRealTime();
