#include "napkin.h"

#include <algorithm>
#include <cstdio>

namespace cage::bench {

std::vector<Work> maxvit_t_kernels(int64_t B) {
  std::vector<Work> w;
  for (const Stage& s : maxvit_t_stages()) {
    const std::string shape = std::to_string(B) + "x" + std::to_string(s.size) + "x" + std::to_string(s.size) + "x";
    auto add = [&](Work k, const std::string& sh) {
      k.shape = sh;
      w.push_back(k);
    };
    add(attention_forward(B, s), shape + std::to_string(3 * s.channels) + ", " + std::to_string(s.heads) + " heads");
    add(attention_backward(B, s), shape + std::to_string(3 * s.channels) + ", " + std::to_string(s.heads) + " heads");
    add(depthwise_forward(B, s, 2), shape + std::to_string(4 * s.channels) + ", stride 2");
    add(depthwise_forward(B, s, 1), shape + std::to_string(4 * s.channels) + ", stride 1");
    add(depthwise_backward(B, s, 1), shape + std::to_string(4 * s.channels) + ", stride 1");
    add(batch_norm_forward(B, s), shape + std::to_string(4 * s.channels));
    add(batch_norm_backward(B, s), shape + std::to_string(4 * s.channels));
    add(layer_norm_forward(B, s), shape + std::to_string(s.channels));
    add(layer_norm_backward(B, s), shape + std::to_string(s.channels));
    add(squeeze_excitation_forward(B, s), shape + std::to_string(4 * s.channels));
  }
  w.push_back(adamw());
  Work c = ccc(static_cast<double>(B));
  c.shape = std::to_string(B) + " predictions";
  w.push_back(c);
  return w;
}

void print_napkin(int64_t B) {
  std::printf("Napkin math at MaxViT-T's shapes, batch %lld, float32. Floor = max(bytes / DRAM bandwidth, FLOPs / FP32 "
              "peak); the bound is whichever term is larger. Intensity in FLOP per DRAM byte.\n\n",
              static_cast<long long>(B));
  std::printf("| kernel | shape (N x H x W x C) | MB moved | GFLOP | FLOP/B |");
  for (const Device& d : known_devices()) std::printf(" %s floor (us) | %s bound |", d.name, d.name);
  std::printf("\n|---|---|---|---|---|");
  for (size_t i = 0; i < known_devices().size(); ++i) std::printf("---|---|");
  std::printf("\n");
  for (const Work& w : maxvit_t_kernels(B)) {
    std::printf("| %s | %s | %.1f | %.3f | %.1f |", w.kernel.c_str(), w.shape.c_str(), w.bytes / 1e6, w.flops / 1e9,
                w.flops / w.bytes);
    for (const Device& d : known_devices()) {
      const double t_mem = w.bytes / (d.dram_gbs * 1e9), t_flop = w.flops / (d.fp32_tflops * 1e12);
      std::printf(" %.1f | %s |", 1e6 * std::max(t_mem, t_flop), t_mem >= t_flop ? "memory" : "compute");
    }
    std::printf("\n");
  }
  std::printf("\nRidge points (FLOP/B where the bound flips):");
  for (const Device& d : known_devices()) std::printf(" %s %.0f;", d.name, d.fp32_tflops * 1e3 / d.dram_gbs);
  std::printf("\n");
}

}  // namespace cage::bench
