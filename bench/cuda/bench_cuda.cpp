// CUDA variants of the attention, depthwise (and its BatchNorm + GELU fusion), squeeze-excitation and norm
// microbenchmarks, at MaxViT-T's stage shapes. They run the kernels:: entry points on device tensors, so they time
// the same CUDA kernels the model uses. Each reports GB/s and
// TFLOP/s from the napkin counts (napkin.h; printed as GB=x/s, TFLOP=y/s) and, for a known GPU, the share of its
// DRAM bandwidth and FP32 peak (%DRAM_peak, %FP32_peak).
//   cage_bench_cuda                 on the GPU (batch 128); without one every benchmark is skipped with the reason
//   CAGE_BENCH_DEVICE=emu cage_bench_cuda --benchmark_filter=...   the same code on the emulator (batch 1; slow)
//   cage_bench_cuda --napkin [B]    prints the napkin tables of docs/kernels.md for batch B (default 128)
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/philox.h"
#include "kernels/attention.h"
#include "kernels/conv.h"
#include "kernels/device.h"
#include "kernels/norm.h"
#include "kernels/se.h"
#include "napkin.h"

namespace {

using cage::Device;
using cage::DType;
using cage::Tensor;
namespace nb = cage::bench;

Device g_device = Device::cuda;
std::string g_unavailable;  // why the device cannot run, or empty
int64_t g_batch = 128;

Tensor random(const cage::Shape& shape, uint64_t seed, float scale = 1.0f) {
  Tensor t = Tensor::empty(shape, DType::f32);
  cage::Philox rng(seed);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = scale * (2 * rng.uniform() - 1);
  return t.to(g_device);
}
Tensor empty(const cage::Shape& shape, DType dt = DType::f32) { return Tensor::empty(shape, dt, g_device); }

// Times `body` per iteration (device synchronised), and sets the bandwidth and throughput counters from `w`.
template <typename F>
void run(benchmark::State& state, const nb::Work& w, F&& body) {
  if (!g_unavailable.empty()) {
    state.SkipWithError(g_unavailable.c_str());
    return;
  }
  body();  // warm-up: allocator caches, first-launch costs
  cage::kernels::synchronize(g_device);
  for (auto _ : state) {
    body();
    cage::kernels::synchronize(g_device);
  }
  state.counters["GB"] = benchmark::Counter(w.bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["TFLOP"] = benchmark::Counter(w.flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
  const std::string name = cage::kernels::describe_device(g_device);
  for (const nb::Device& d : nb::known_devices())
    if (name.find(d.match) != std::string::npos) {
      state.counters["%DRAM_peak"] = benchmark::Counter(100 * w.bytes / (d.dram_gbs * 1e9),
                                                   benchmark::Counter::kIsIterationInvariantRate);
      state.counters["%FP32_peak"] = benchmark::Counter(100 * w.flops / (d.fp32_tflops * 1e12),
                                                   benchmark::Counter::kIsIterationInvariantRate);
    }
  state.SetLabel(std::string(cage::device_name(g_device)) + " " + w.shape);
}

const nb::Stage& stage(const benchmark::State& s) { return nb::maxvit_t_stages()[s.range(0)]; }

void BM_attention(benchmark::State& state) {
  if (!g_unavailable.empty()) return run(state, {}, [] {});
  const nb::Stage& s = stage(state);
  const bool backward = state.range(2);
  cage::kernels::RelposAttentionParams p;
  p.kind = state.range(1) ? cage::kernels::AttentionPartition::grid : cage::kernels::AttentionPartition::window;
  p.partition = nb::kPartition;
  p.heads = s.heads;
  p.scale = 1.0 / std::sqrt(32.0);
  Tensor qkv = random({g_batch, s.size, s.size, 3 * s.channels}, 1, 2.0f);
  Tensor table = random({(2 * nb::kPartition - 1) * (2 * nb::kPartition - 1), s.heads}, 2);
  Tensor out = empty({g_batch, s.size, s.size, s.channels}), gout = random(out.shape(), 3);
  Tensor gqkv = empty(qkv.shape()), gtable = empty(table.shape());
  nb::Work w = backward ? nb::attention_backward(g_batch, s) : nb::attention_forward(g_batch, s);
  w.shape = std::string(state.range(1) ? "grid " : "window ") + std::to_string(s.size) + "x" +
            std::to_string(s.size) + "x" + std::to_string(s.channels);
  run(state, w, [&] {
    if (backward) cage::kernels::relpos_attention_backward(qkv, table, gout, p, gqkv, gtable);
    else cage::kernels::relpos_attention_forward(qkv, table, p, out);
  });
}

void BM_depthwise(benchmark::State& state) {
  if (!g_unavailable.empty()) return run(state, {}, [] {});
  const nb::Stage& s = stage(state);
  const int stride = static_cast<int>(state.range(1));
  const bool backward = state.range(2);
  const int64_t c = 4 * s.channels, in = s.size * stride;
  Tensor x = random({g_batch, in, in, c}, 4), wt = random({3, 3, 1, c}, 5, 0.3f), b = random({c}, 6);
  cage::kernels::Conv2dShape sh = cage::kernels::conv2d_shape(x.shape(), wt.shape(), stride, 1, c);
  Tensor y = empty({g_batch, sh.Ho, sh.Wo, c}), gy = random(y.shape(), 7), gx = empty(x.shape()), gw = empty(wt.shape());
  nb::Work w = backward ? nb::depthwise_backward(g_batch, s, stride) : nb::depthwise_forward(g_batch, s, stride);
  w.shape = std::to_string(in) + "x" + std::to_string(in) + "x" + std::to_string(c) + " s" + std::to_string(stride);
  run(state, w, [&] {
    if (backward) cage::kernels::depthwise_conv2d_backward(sh, x, wt, gy, gx, gw);
    else cage::kernels::depthwise_conv2d_forward(sh, x, wt, b, y);
  });
}

// The inference fusion: depthwise conv + eval BatchNorm + GELU in one pass (napkin: the forward's bytes alone).
void BM_depthwise_bn_gelu(benchmark::State& state) {
  if (!g_unavailable.empty()) return run(state, {}, [] {});
  const nb::Stage& s = stage(state);
  const int stride = static_cast<int>(state.range(1));
  const int64_t c = 4 * s.channels, in = s.size * stride;
  Tensor x = random({g_batch, in, in, c}, 4), wt = random({3, 3, 1, c}, 5, 0.3f);
  Tensor scale = random({c}, 6), shift = random({c}, 7);
  cage::kernels::Conv2dShape sh = cage::kernels::conv2d_shape(x.shape(), wt.shape(), stride, 1, c);
  Tensor y = empty({g_batch, sh.Ho, sh.Wo, c});
  nb::Work w = nb::depthwise_forward(g_batch, s, stride);
  w.shape = std::to_string(in) + "x" + std::to_string(in) + "x" + std::to_string(c) + " s" + std::to_string(stride) +
            " +BN+GELU";
  run(state, w, [&] { cage::kernels::depthwise_conv2d_bn_gelu_forward(sh, x, wt, Tensor(), scale, shift, y); });
}

void BM_squeeze_excitation(benchmark::State& state) {
  if (!g_unavailable.empty()) return run(state, {}, [] {});
  const nb::Stage& s = stage(state);
  const int64_t c = 4 * s.channels, r = s.channels / 4;
  Tensor x = random({g_batch, s.size, s.size, c}, 8), w1 = random({1, 1, c, r}, 9, 0.1f), b1 = random({r}, 10);
  Tensor w2 = random({1, 1, r, c}, 11, 0.1f), b2 = random({c}, 12), y = empty(x.shape());
  nb::Work w = nb::squeeze_excitation_forward(g_batch, s);
  w.shape = std::to_string(s.size) + "x" + std::to_string(s.size) + "x" + std::to_string(c) + " -> " + std::to_string(r);
  run(state, w, [&] { cage::kernels::squeeze_excitation_forward(x, w1, b1, w2, b2, y); });
}

void BM_layer_norm(benchmark::State& state) {
  if (!g_unavailable.empty()) return run(state, {}, [] {});
  const nb::Stage& s = stage(state);
  const bool backward = state.range(1);
  const int64_t rows = g_batch * s.size * s.size;
  Tensor x = random({rows, s.channels}, 8), wt = random({s.channels}, 9), b = random({s.channels}, 10);
  Tensor y = empty(x.shape()), mean = empty({rows}, DType::f64), invstd = empty({rows}, DType::f64);
  Tensor gy = random(x.shape(), 11), gx = empty(x.shape()), gw = empty({s.channels}), gb = empty({s.channels});
  cage::kernels::layer_norm_forward(x, wt, b, 1e-5, y, mean, invstd);
  nb::Work w = backward ? nb::layer_norm_backward(g_batch, s) : nb::layer_norm_forward(g_batch, s);
  w.shape = std::to_string(rows) + " rows x " + std::to_string(s.channels);
  run(state, w, [&] {
    if (backward) cage::kernels::layer_norm_backward(x, wt, mean, invstd, gy, gx, gw, gb);
    else cage::kernels::layer_norm_forward(x, wt, b, 1e-5, y, mean, invstd);
  });
}

void BM_batch_norm(benchmark::State& state) {
  if (!g_unavailable.empty()) return run(state, {}, [] {});
  const nb::Stage& s = stage(state);
  const bool backward = state.range(1);
  const int64_t c = 4 * s.channels;
  Tensor x = random({g_batch, s.size, s.size, c}, 12), wt = random({c}, 13), b = random({c}, 14);
  Tensor rm = random({c}, 15), rv = Tensor::full({c}, 1.0, DType::f32, g_device);
  Tensor y = empty(x.shape()), mean = empty({c}, DType::f64), invstd = empty({c}, DType::f64);
  Tensor gy = random(x.shape(), 16), gx = empty(x.shape()), gw = empty({c}), gb = empty({c});
  cage::kernels::batch_norm_forward(x, wt, b, rm, rv, true, 0.1, 1e-3, y, mean, invstd);
  nb::Work w = backward ? nb::batch_norm_backward(g_batch, s) : nb::batch_norm_forward(g_batch, s);
  w.shape = std::to_string(s.size) + "x" + std::to_string(s.size) + "x" + std::to_string(c) + " training";
  run(state, w, [&] {
    if (backward) cage::kernels::batch_norm_backward(x, wt, mean, invstd, gy, true, gx, gw, gb);
    else cage::kernels::batch_norm_forward(x, wt, b, rm, rv, true, 0.1, 1e-3, y, mean, invstd);
  });
}

// Args: stage (0..3), window/grid, forward/backward.
BENCHMARK(BM_attention)->ArgsProduct({{0, 1, 2, 3}, {0, 1}, {0, 1}})->UseRealTime()->Unit(benchmark::kMicrosecond);
// Args: stage, stride (2: a stage's first layer), forward/backward.
BENCHMARK(BM_depthwise)->ArgsProduct({{0, 1, 2, 3}, {1, 2}, {0, 1}})->UseRealTime()->Unit(benchmark::kMicrosecond);
// Args: stage, stride.
BENCHMARK(BM_depthwise_bn_gelu)->ArgsProduct({{0, 1, 2, 3}, {1, 2}})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_squeeze_excitation)->DenseRange(0, 3)->UseRealTime()->Unit(benchmark::kMicrosecond);
// Args: stage, forward/backward.
BENCHMARK(BM_layer_norm)->ArgsProduct({{0, 1, 2, 3}, {0, 1}})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_batch_norm)->ArgsProduct({{0, 1, 2, 3}, {0, 1}})->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--napkin") == 0) {
    nb::print_napkin(argc >= 3 ? std::atoll(argv[2]) : 128);
    return 0;
  }
  const char* dev = std::getenv("CAGE_BENCH_DEVICE");
  g_device = cage::parse_device(dev ? dev : "cuda");
  g_batch = g_device == Device::cuda ? 128 : 1;
  if (const char* b = std::getenv("CAGE_BENCH_BATCH")) g_batch = std::atoll(b);
  std::string why;
  if (g_device == Device::cpu) g_unavailable = "CAGE_BENCH_DEVICE=cpu: the CPU kernels are in cage_bench";
  else if (!cage::kernels::try_use_device(g_device, &why)) g_unavailable = std::string(dev ? dev : "cuda") + ": " + why;
  std::printf("cage_bench_cuda: %s, batch %lld\n",
              g_unavailable.empty() ? cage::kernels::describe_device(g_device).c_str() : g_unavailable.c_str(),
              static_cast<long long>(g_batch));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
