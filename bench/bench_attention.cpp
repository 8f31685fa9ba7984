// Fused relative-position attention (kernels/attention.h) at MaxViT-T's four stage shapes, batch 1,
// P = 7, window and grid, forward and forward + backward, float32, in fp32 and under GemmPrecision::bf16 (the
// bf16-product kernels of kernels/fused_bf16.h; skipped on CPUs without AVX-512 BF16).
// FLOP counter: forward 4 N^2 D per (group, head) (QK^T and AV); forward + backward counts 3x that (the
// usual 2x for the backward's four products), not the probabilities the backward recomputes.
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>

#include "core/philox.h"
#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"

namespace {

using cage::DType;
using cage::Tensor;
using cage::kernels::AttentionPartition;

struct Stage {
  int64_t size, channels, heads;
};
constexpr Stage kStages[] = {{56, 64, 2}, {28, 128, 4}, {14, 256, 8}, {7, 512, 16}};
constexpr int64_t kP = 7;

Tensor random(const cage::Shape& shape, uint64_t seed, float scale) {
  Tensor t = Tensor::empty(shape, DType::f32);
  cage::Philox rng(seed);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = scale * (2 * rng.uniform() - 1);
  return t;
}

struct Setup {
  cage::kernels::RelposAttentionParams p;
  Tensor qkv, table, out, gout, gqkv, gtable;
  double forward_flops;
};

Setup setup(const benchmark::State& state) {
  const Stage& s = kStages[state.range(0)];
  Setup u;
  u.p.kind = state.range(1) ? AttentionPartition::grid : AttentionPartition::window;
  u.p.partition = kP;
  u.p.heads = s.heads;
  u.p.scale = 1.0 / std::sqrt(static_cast<double>(s.channels));
  u.qkv = random({1, s.size, s.size, 3 * s.channels}, 1, 2.0f);
  u.table = random({(2 * kP - 1) * (2 * kP - 1), s.heads}, 2, 1.0f);
  u.out = Tensor::empty({1, s.size, s.size, s.channels});
  u.gout = random({1, s.size, s.size, s.channels}, 3, 1.0f);
  u.gqkv = Tensor::empty(u.qkv.shape());
  u.gtable = Tensor::empty(u.table.shape());
  double n = kP * kP, groups = (s.size / kP) * (s.size / kP), d = s.channels / s.heads;
  u.forward_flops = 4 * n * n * d * s.heads * groups;
  return u;
}

void label(benchmark::State& state) {
  const Stage& s = kStages[state.range(0)];
  state.SetLabel(std::string(state.range(1) ? "grid " : "window ") + std::to_string(s.size) + "x" +
                 std::to_string(s.size) + "x" + std::to_string(s.channels) + "/" + std::to_string(s.heads) +
                 (state.range(2) ? " bf16" : " fp32"));
}

cage::kernels::GemmPrecision precision(const benchmark::State& state) {
  return state.range(2) ? cage::kernels::GemmPrecision::bf16 : cage::kernels::GemmPrecision::fp32;
}

void BM_attention_forward(benchmark::State& state) {
  if (state.range(2) && !cage::kernels::bf16_gemm_supported()) return state.SkipWithError("no AVX-512 BF16");
  cage::kernels::GemmPrecisionScope scope(precision(state));
  Setup u = setup(state);
  for (auto _ : state) {
    cage::kernels::relpos_attention_forward(u.qkv, u.table, u.p, u.out);
    benchmark::DoNotOptimize(u.out.data<float>());
  }
  state.counters["FLOP/s"] = benchmark::Counter(u.forward_flops, benchmark::Counter::kIsIterationInvariantRate);
  label(state);
}

void BM_attention_forward_backward(benchmark::State& state) {
  if (state.range(2) && !cage::kernels::bf16_gemm_supported()) return state.SkipWithError("no AVX-512 BF16");
  cage::kernels::GemmPrecisionScope scope(precision(state));
  Setup u = setup(state);
  for (auto _ : state) {
    cage::kernels::relpos_attention_forward(u.qkv, u.table, u.p, u.out);
    cage::kernels::relpos_attention_backward(u.qkv, u.table, u.gout, u.p, u.gqkv, u.gtable);
    benchmark::DoNotOptimize(u.gqkv.data<float>());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(3 * u.forward_flops, benchmark::Counter::kIsIterationInvariantRate);
  label(state);
}

// Args: stage index (0..3), partition (0 window, 1 grid), precision (0 fp32, 1 bf16).
// Real time: the work runs on the thread pool, not only on the benchmark's thread.
BENCHMARK(BM_attention_forward)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_attention_forward_backward)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
