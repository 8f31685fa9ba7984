// cage::kernels::gemm<float> (OpenBLAS) at MaxViT-T-like shapes at batch 1: the 1x1 projections and MLP
// layers of each stage (M = pixels, K = width in, N = width out), plus a square 1024 for scale.
// FLOP counter: 2 M N K. BM_gemm_bf16: the same shapes through kernels/gemm_bf16.h (A rounded to bf16 on the
// fly, B packed once outside the loop, no epilogue); skipped without AVX-512 BF16. BM_gemm_train: the training
// step's three GEMMs of one 1x1 convolution in fp32 and bf16 mixed precision (below).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/philox.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"

namespace {

void BM_gemm_f32(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  cage::Philox rng(5);
  std::vector<float> a(M * K), b(K * N), c(M * N);
  for (float& x : a) x = rng.uniform() - 0.5f;
  for (float& x : b) x = rng.uniform() - 0.5f;
  for (auto _ : state) {
    cage::kernels::gemm<float>(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("M=" + std::to_string(M) + " K=" + std::to_string(K) + " N=" + std::to_string(N));
}

void BM_gemm_bf16(benchmark::State& state) {
  if (!cage::kernels::bf16_gemm_supported()) return state.SkipWithError("CPU without AVX-512 BF16");
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  cage::Philox rng(5);
  std::vector<float> a(M * K), b(K * N), c(M * N);
  for (float& x : a) x = rng.uniform() - 0.5f;
  for (float& x : b) x = rng.uniform() - 0.5f;
  cage::kernels::PackedBf16 packed = cage::kernels::pack_bf16(false, K, N, b.data(), N);
  for (auto _ : state) {
    cage::kernels::gemm_bf16_epilogue(M, a.data(), K, packed, nullptr, cage::kernels::Act::none, nullptr, 0, c.data(),
                                      N);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("M=" + std::to_string(M) + " K=" + std::to_string(K) + " N=" + std::to_string(N));
}

// Args: M, K, N at MaxViT-T's GEMM shapes (and a square one), the same list for both precisions.
void maxvit_gemm_shapes(benchmark::internal::Benchmark* b) {
  for (auto mkn : {std::vector<int64_t>{3136, 64, 256}, {3136, 256, 64}, {784, 128, 512}, {196, 256, 1024},
                   {49, 512, 2048}, {1024, 1024, 1024}})
    b->Args(mkn);
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}
BENCHMARK(BM_gemm_bf16)->Apply(maxvit_gemm_shapes);
BENCHMARK(BM_gemm_f32)->Apply(maxvit_gemm_shapes);

// The three GEMMs of a training step's 1x1 convolution (MaxViT-T stage 1 MBConv conv_c at batch 8: 25088 pixels,
// 256 -> 64 channels) through kernels::gemm<float>, as autograd calls it, in fp32 (OpenBLAS) and bf16 mixed
// precision (kernels::gemm_bf16: both operands rounded and packed per call). Args: which (0 forward y = x w,
// 1 input gradient gx = gy w^T, 2 weight gradient gw = x^T gy), bf16 (0/1).
void BM_gemm_train(benchmark::State& state) {
  const bool bf16 = state.range(1) != 0;
  if (bf16 && !cage::kernels::bf16_gemm_supported()) return state.SkipWithError("CPU without AVX-512 BF16");
  cage::kernels::GemmPrecisionScope scope(bf16 ? cage::kernels::GemmPrecision::bf16
                                               : cage::kernels::GemmPrecision::fp32);
  const int64_t P = 25088, Cin = 256, Cout = 64;
  cage::Philox rng(6);
  std::vector<float> x(P * Cin), w(Cin * Cout), gy(P * Cout), out(P * Cin);
  for (auto* v : {&x, &w, &gy})
    for (float& e : *v) e = rng.uniform() - 0.5f;
  const int which = static_cast<int>(state.range(0));
  for (auto _ : state) {
    if (which == 0)
      cage::kernels::gemm<float>(false, false, P, Cout, Cin, 1.0f, x.data(), Cin, w.data(), Cout, 0.0f, out.data(), Cout);
    else if (which == 1)
      cage::kernels::gemm<float>(false, true, P, Cin, Cout, 1.0f, gy.data(), Cout, w.data(), Cout, 0.0f, out.data(), Cin);
    else
      cage::kernels::gemm<float>(true, false, Cin, Cout, P, 1.0f, x.data(), Cin, gy.data(), Cout, 0.0f, out.data(), Cout);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * P * Cin * Cout, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(which == 0 ? "forward" : which == 1 ? "input gradient" : "weight gradient");
}
BENCHMARK(BM_gemm_train)->ArgsProduct({{0, 1, 2}, {0, 1}})->ArgNames({"which", "bf16"})->Unit(benchmark::kMicrosecond)->UseRealTime();

// Other bf16 GEMMs of a MaxViT-T training step (batch 8) through kernels::gemm<float>, where a single-threaded
// profile of the step found packing or the micro kernel's rate poor. Args: ta, tb, M, N, K (as gemm<float> sees
// them: weight gradients with their whole K, which gemm<float> splits in two halves).
void BM_gemm_train_bf16(benchmark::State& state) {
  if (!cage::kernels::bf16_gemm_supported()) return state.SkipWithError("CPU without AVX-512 BF16");
  cage::kernels::GemmPrecisionScope scope(cage::kernels::GemmPrecision::bf16);
  const bool ta = state.range(0) != 0, tb = state.range(1) != 0;
  const int64_t M = state.range(2), N = state.range(3), K = state.range(4);
  cage::Philox rng(7);
  std::vector<float> a(M * K), b(K * N), c(M * N);
  for (auto* v : {&a, &b})
    for (float& e : *v) e = rng.uniform() - 0.5f;
  for (auto _ : state) {
    cage::kernels::gemm<float>(ta, tb, M, N, K, 1.0f, a.data(), ta ? M : K, b.data(), tb ? K : N, 0.0f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate);
}
// Stage 2's first conv_a (64 -> 512 channels at 56x56, before the stride): forward, input and weight gradient;
// stage 3's conv_c (1024 -> 256 at 14x14): forward and weight gradient; stage 1's conv_c weight gradient;
// stage 4's MLP layers (nn::Linear, weight stored (out, in)): forward of fc1 and fc2; stage 3's first conv_a.
BENCHMARK(BM_gemm_train_bf16)
    ->Args({0, 0, 25088, 512, 64})
    ->Args({0, 1, 25088, 64, 512})
    ->Args({1, 0, 64, 512, 25088})
    ->Args({0, 0, 1568, 256, 1024})
    ->Args({1, 0, 1024, 256, 1568})
    ->Args({1, 0, 256, 64, 25088})
    ->Args({0, 1, 392, 2048, 512})
    ->Args({0, 1, 392, 512, 2048})
    ->Args({0, 0, 6272, 1024, 128})
    ->ArgNames({"ta", "tb", "M", "N", "K"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
