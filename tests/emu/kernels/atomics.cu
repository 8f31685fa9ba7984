// Emulator test kernels: atomics from many blocks at once (exact counts), a probe that shows whether blocks really
// run concurrently, and a one-thread kernel that logs the order in which launches ran.
#include "kernels/cuda/portable.cuh"
#include "emu/kernels/test_kernels.h"

namespace cage_test {
namespace {

__global__ void histogram_kernel(const int* in, int n, int* bins, int nbins) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    atomicAdd(&bins[in[i] % nbins], 1);
}

__global__ void atomic_mix_kernel(int n, atomic_results* r) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(&r->fsum, 1.0f);
  atomicAdd(&r->usum, (unsigned long long)i);
  atomicMax(&r->imax, i);
  atomicMin(&r->imin, -i);
  int old = r->cas_counter, assumed;  // +2 through a compare-and-swap loop
  do {
    assumed = old;
    old = atomicCAS(&r->cas_counter, assumed, assumed + 2);
  } while (old != assumed);
  const int previous = atomicExch(&r->exch_slot, i);  // every id but the last one comes back exactly once
  atomicAdd(&r->exch_sum, (unsigned long long)previous);
}

__global__ void concurrency_probe_kernel(int* active, int* max_active, long long spin_limit) {
  const int now = atomicAdd(active, 1) + 1;
  atomicMax(max_active, now);
  for (long long i = 0; i < spin_limit; ++i)
    if (atomicAdd(max_active, 0) >= 2) break;  // another block was inside at the same time
  atomicSub(active, 1);
}

__global__ void append_id_kernel(int* log, int* counter, int id) { log[atomicAdd(counter, 1)] = id; }

}  // namespace

void histogram(const int* in, int n, int* bins, int nbins, int blocks, int threads) {
  cage::launch(histogram_kernel, dim3(blocks), dim3(threads), 0, 0, in, n, bins, nbins);
}
void atomic_mix(int n, atomic_results* r) {
  cage::launch(atomic_mix_kernel, dim3((n + 255) / 256), dim3(256), 0, 0, n, r);
}
void concurrency_probe(int blocks, int* active, int* max_active, long long spin_limit) {
  cage::launch(concurrency_probe_kernel, dim3(blocks), dim3(1), 0, 0, active, max_active, spin_limit);
}
void append_id(int* log, int* counter, int id, cudaStream_t stream) {
  cage::launch(append_id_kernel, dim3(1), dim3(1), 0, stream, log, counter, id);
}

}  // namespace cage_test
