// The core's arithmetic peak, for the napkin math of docs/performance.md: one thread issuing only independent
// fp32 FMAs (vfmadd, 16 lanes x 2 FLOP) or bf16 dot products (vdpbf16ps, 16 lanes x 2 pairs x 2 FLOP) on 12
// accumulators, enough to cover the instructions' latency. FLOP/s is per core; run two copies at once to see
// whether both cores hold it (they did here: 117 and 234 GFLOP/s each). BM_peak_bf16 is skipped without
// AVX-512 BF16.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include "kernels/gemm_bf16.h"

// GCC 12 reports the undefined pass-through operand inside _mm512_reduce_add_ps as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

constexpr int kAcc = 12;
constexpr int64_t kSteps = 1 << 20;

__attribute__((target("avx512f"))) float fma_loop(int64_t steps) {
  __m512 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_setzero_ps();
  __m512 a = _mm512_set1_ps(1.0001f);
  const __m512 b = _mm512_set1_ps(0.9999f);
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_fmadd_ps(a, b, acc[i]);
    __asm__ volatile("" : "+v"(a));  // a is "changed": the loop cannot be folded
  }
  for (int i = 1; i < kAcc; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) float dot_loop(int64_t steps) {
  __m512 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_setzero_ps();
  __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80);  // pairs of bf16 1.0
  const __m512bh b = a;
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    __asm__ volatile("" : "+v"(a));
  }
  for (int i = 1; i < kAcc; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  return _mm512_reduce_add_ps(acc[0]);
}

void BM_peak_fp32_fma(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(fma_loop(kSteps));
  state.counters["FLOP/s"] = benchmark::Counter(kSteps * kAcc * 32.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_peak_fp32_fma);

void BM_peak_bf16_dot(benchmark::State& state) {
  if (!cage::kernels::bf16_gemm_supported()) return state.SkipWithError("CPU without AVX-512 BF16");
  for (auto _ : state) benchmark::DoNotOptimize(dot_loop(kSteps));
  state.counters["FLOP/s"] = benchmark::Counter(kSteps * kAcc * 64.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_peak_bf16_dot);

}  // namespace
