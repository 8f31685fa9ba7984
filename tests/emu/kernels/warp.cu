// Emulator test kernels: warp collectives. Shuffles in every mode and width, votes with divergent predicates and
// divergent masks, sm_80 warp reductions, __match_any_sync, and a partial warp.
#include "kernels/cuda/portable.cuh"
#include "emu/kernels/test_kernels.h"

namespace cage_test {
namespace {

constexpr unsigned k_full = 0xffffffffu;

__global__ void warp_shuffles_kernel(const int* in, int* out, int threads) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= threads) return;  // threads is a multiple of 32: whole warps leave together
  const int lane = threadIdx.x & 31;
  const int v = in[t];
  int s = v;  // butterfly: every lane ends with the warp's sum
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(k_full, s, o);
  int d = v;  // tree: lane 0 ends with the sum
  for (int o = 16; o > 0; o >>= 1) d += __shfl_down_sync(k_full, d, o);
  int u = v;  // inclusive scan
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(k_full, u, o);
    if (lane >= o) u += y;
  }
  const int b = __shfl_sync(k_full, v, 5);
  const int b8 = __shfl_sync(k_full, v, 2, 8);
  const int d16 = __shfl_down_sync(k_full, v, 3, 16);
  const float f = __shfl_xor_sync(k_full, 0.5f * float(v), 1);
  const int r = __reduce_add_sync(k_full, v);
  const unsigned m = __match_any_sync(k_full, v % 4);
  int* o = out + 9 * t;
  o[0] = s;
  o[1] = d;
  o[2] = u;
  o[3] = b;
  o[4] = b8;
  o[5] = d16;
  o[6] = int(2.0f * f);
  o[7] = r;
  o[8] = int(m);
}

__global__ void warp_votes_kernel(const int* in, unsigned* out, int threads) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= threads) return;
  const int lane = threadIdx.x & 31;
  const int v = in[t];
  const unsigned ballot = __ballot_sync(k_full, v > 10);
  const int any = __any_sync(k_full, v > 10);
  const int all = __all_sync(k_full, v > 0);
  unsigned odd = 0;
  if (lane & 1) odd = __ballot_sync(0xaaaaaaaau, v > 10);
  int half;
  if (lane < 16)
    half = __all_sync(0x0000ffffu, v > 5);
  else
    half = __any_sync(0xffff0000u, v > 50);
  __syncwarp();
  unsigned* o = out + 5 * t;
  o[0] = ballot;
  o[1] = unsigned(any);
  o[2] = unsigned(all);
  o[3] = odd;
  o[4] = unsigned(half);
}

__global__ void partial_warp_kernel(const int* in, int* out) {  // 48 threads: warp 1 has 16 lanes
  const int warp = threadIdx.x / 32;
  const int lanes = min(32, int(blockDim.x) - warp * 32);
  const unsigned mask = lanes == 32 ? k_full : (1u << lanes) - 1;
  const int v = in[threadIdx.x];
  out[2 * threadIdx.x] = __reduce_add_sync(mask, v);
  out[2 * threadIdx.x + 1] = __popc(__ballot_sync(mask, 1));
}

}  // namespace

void warp_shuffles(const int* in, int* out, int threads) {
  cage::launch(warp_shuffles_kernel, dim3((threads + 63) / 64), dim3(64), 0, 0, in, out, threads);
}
void warp_votes(const int* in, unsigned* out, int threads) {
  cage::launch(warp_votes_kernel, dim3((threads + 63) / 64), dim3(64), 0, 0, in, out, threads);
}
void partial_warp(const int* in, int* out) { cage::launch(partial_warp_kernel, dim3(1), dim3(48), 0, 0, in, out); }

}  // namespace cage_test
