// Emulator test kernel: the classic shared-memory transpose through a 32 x 33 tile (the padding column avoids bank
// conflicts on a GPU), with (32, 8) threads per block and partial tiles at the edges.
#include "kernels/cuda/portable.cuh"
#include "emu/kernels/test_kernels.h"

namespace cage_test {
namespace {

constexpr int k_tile = 32, k_rows_per_pass = 8;

__global__ void transpose_kernel(const float* in, float* out, int rows, int cols) {  // in (rows, cols)
  __shared__ float tile[k_tile][k_tile + 1];
  int x = blockIdx.x * k_tile + threadIdx.x;  // column of in
  int y = blockIdx.y * k_tile + threadIdx.y;  // row of in
  for (int j = 0; j < k_tile; j += k_rows_per_pass)
    if (x < cols && y + j < rows) tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * cols + x];
  __syncthreads();
  x = blockIdx.y * k_tile + threadIdx.x;  // column of out = row of in
  y = blockIdx.x * k_tile + threadIdx.y;  // row of out = column of in
  for (int j = 0; j < k_tile; j += k_rows_per_pass)
    if (x < rows && y + j < cols) out[(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];
}

}  // namespace

void transpose(const float* in, float* out, int rows, int cols) {
  const dim3 grid((cols + k_tile - 1) / k_tile, (rows + k_tile - 1) / k_tile);
  cage::launch(transpose_kernel, grid, dim3(k_tile, k_rows_per_pass), 0, 0, in, out, rows, cols);
}

}  // namespace cage_test
