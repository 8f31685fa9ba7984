// Napkin math of the CUDA kernels at MaxViT-T's shapes: the bytes each kernel must move through DRAM at least
// (every input read once, every output written once; small tables and weights that stay in cache are counted once)
// and the FLOPs it performs, so that a measured time can be read as a fraction of what the device allows.
// The same numbers feed the CUDA benchmarks' counters and the tables of docs/kernels.md (--napkin).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cage::bench {

struct Device {
  const char* name;
  const char* match;    // found in cudaDeviceProp::name of such a GPU
  double dram_gbs;      // DRAM bandwidth, GB/s
  double fp32_tflops;   // FP32 CUDA-core (non-tensor) peak, TFLOP/s
};
// H100 SXM5 80 GB: 3.35 TB/s HBM3, 67 TFLOP/s FP32. RTX 4090: 1.008 TB/s GDDR6X, 82.6 TFLOP/s FP32.
inline const std::vector<Device>& known_devices() {
  static const std::vector<Device> d = {{"H100 SXM", "H100", 3350, 67.0}, {"RTX 4090", "4090", 1008, 82.6}};
  return d;
}

// MaxViT-T at 224x224: per stage the map size, channels and heads (head dim 32), partition P = 7.
struct Stage {
  int64_t size, channels, heads;
};
inline const std::vector<Stage>& maxvit_t_stages() {
  static const std::vector<Stage> s = {{56, 64, 2}, {28, 128, 4}, {14, 256, 8}, {7, 512, 16}};
  return s;
}
constexpr int64_t kPartition = 7;

struct Work {
  std::string kernel, shape;
  double bytes, flops;
};

// Fused relative-position attention over a B x S x S x C map (qkv 3C channels in, C out). Forward: read qkv, write
// out; 4 N^2 D per (group, head) for QK^T and AV plus ~5 N^2 for bias, exp, max, sum, scale. Backward: read qkv and
// gout, write gqkv (probabilities recomputed): the forward's QK^T again plus four products (dV, dA, dQ, dK).
inline Work attention_forward(int64_t B, const Stage& s) {
  const double n = kPartition * kPartition, groups = B * (s.size / kPartition) * (s.size / kPartition);
  const double d = static_cast<double>(s.channels) / s.heads, pixels = double(B) * s.size * s.size;
  return {"attention_forward", "", 4.0 * pixels * (3 + 1) * s.channels,
          groups * s.heads * (4 * n * n * d + 5 * n * n)};
}
inline Work attention_backward(int64_t B, const Stage& s) {
  const double n = kPartition * kPartition, groups = B * (s.size / kPartition) * (s.size / kPartition);
  const double d = static_cast<double>(s.channels) / s.heads, pixels = double(B) * s.size * s.size;
  return {"attention_backward", "", 4.0 * pixels * (3 + 1 + 3) * s.channels,
          groups * s.heads * (10 * n * n * d + 10 * n * n)};
}

// Depthwise 3x3 over the MBConv's expanded width 4C (stride 2 in a stage's first layer: the input is 2S x 2S).
// Forward: read x, write y, 9 multiply-adds per output. Backward: read x and gy, write gx (9 MACs per input
// element) and the weight gradient (9 MACs per output element).
inline Work depthwise_forward(int64_t B, const Stage& s, int stride) {
  const double c = 4.0 * s.channels, out = double(B) * s.size * s.size * c, in = out * stride * stride;
  return {"depthwise_forward", "", 4.0 * (in + out), 2.0 * 9 * out};
}
inline Work depthwise_backward(int64_t B, const Stage& s, int stride) {
  const double c = 4.0 * s.channels, out = double(B) * s.size * s.size * c, in = out * stride * stride;
  return {"depthwise_backward", "", 4.0 * (in + out + in), 2.0 * 9 * out * 2};
}

// Layer norm over rows of C (the attention and MLP blocks' norms): read x, write y (+ mean/invstd per row).
// Backward: read x, gy, write gx; weight/bias gradients are per-block partials (small).
inline Work layer_norm_forward(int64_t B, const Stage& s) {
  const double rows = double(B) * s.size * s.size;
  return {"layer_norm_forward", "", 4.0 * rows * (2 * s.channels + 2), rows * s.channels * 8.0};
}
inline Work layer_norm_backward(int64_t B, const Stage& s) {
  const double rows = double(B) * s.size * s.size;
  return {"layer_norm_backward", "", 4.0 * rows * (3 * s.channels + 2), rows * s.channels * 12.0};
}

// Batch norm (training) over the expanded width 4C: statistics pass reads x, the normalising pass reads x and
// writes y (x twice unless it stays in L2). Backward: two reads of x and gy, one write of gx.
inline Work batch_norm_forward(int64_t B, const Stage& s) {
  const double e = double(B) * s.size * s.size * 4 * s.channels;
  return {"batch_norm_forward", "", 4.0 * e * 3, e * 7.0};
}
inline Work batch_norm_backward(int64_t B, const Stage& s) {
  const double e = double(B) * s.size * s.size * 4 * s.channels;
  return {"batch_norm_backward", "", 4.0 * e * 5, e * 9.0};
}

// Squeeze-excitation on the expanded width 4C, squeezed to C / 4 (torchvision: int(out_channels * 0.25)): read x
// twice (pool, then scale) and write y; the two small FCs are 2 * 2 * 4C * C/4 FLOPs per image.
inline Work squeeze_excitation_forward(int64_t B, const Stage& s) {
  const double e = double(B) * s.size * s.size * 4 * s.channels;
  return {"squeeze_excitation_forward", "", 4.0 * e * 3, e * 2.0 + B * 4.0 * (4 * s.channels) * (s.channels / 4)};
}

// Fused AdamW over MaxViT-T's 30.9 M parameters: read param, grad, m, v; write param, m, v. ~14 FLOPs an element.
inline Work adamw(double params = 30.92e6) { return {"adamw", "30.9 M parameters", 4.0 * params * 7, params * 14}; }
// Fused CCC loss over N predictions: one reduction pass (read pred, target), one gradient pass (read, write).
inline Work ccc(double n) { return {"ccc_loss forward+backward", "", 4.0 * n * 2 * 2 + 4.0 * n * 2, n * 20.0}; }

// Every row of docs/kernels.md at batch B.
std::vector<Work> maxvit_t_kernels(int64_t B);
// Prints the Markdown tables (time floor and bound per device) for batch B.
void print_napkin(int64_t B);

}  // namespace cage::bench
