// Batch norm over NHWC rows: per-channel statistics over all (rows, C) rows, forward and backward.
//   forward (training): mean, var = biased batch variance over rows, invstd = 1 / sqrt(var + eps);
//            running = (1 - momentum) * running + momentum * (mean, unbiased var);  (eval: running stats)
//            y = x * a + shift, a = w * invstd, shift = b - mean * a
//   backward: gb = sum(gy), gw = sum(gy * xhat); gx = w * invstd * (gy - [gb / rows] - xhat * [gw / rows]),
//            the bracketed terms only in training.
// Versions: one. Deterministic column reductions in float64 without atomics, in two levels: a (32, 8) block owns
// 32 channels of one chunk of rows (each thread sums every 8th row of its column, then 8 partials are added in a
// fixed order in shared memory), and a finalize kernel (a thread per channel) adds the chunks in order. The chunk
// count depends only on the shape, so results do not depend on scheduling. Forward sums are shifted by the first
// row (var = (S2 - S1^2 / n) / n on x - x[0]) so one pass stays accurate when |mean| >> std. Per-channel
// coefficients (float) go to scratch; y and gx are then one element-wise pass with a (32, 8) block per tile.
// The CPU oracle is kernels/cpu/norm.cpp.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/batch_norm.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

constexpr int kCols = 32;       // channels per block (a warp's width: coalesced row segments)
constexpr int kRowGroups = 8;   // threadIdx.y
constexpr int64_t kMinRowsPerChunk = 256;
constexpr int64_t kMaxChunks = 128;
constexpr int64_t kMaxApplyRowBlocks = 2048;

int64_t chunk_count(int64_t rows) {
  const int64_t c = (rows + kMinRowsPerChunk - 1) / kMinRowsPerChunk;
  return c < 1 ? 1 : (c > kMaxChunks ? kMaxChunks : c);
}

// Adds the kRowGroups partials of each column in shared memory; thread row 0 gets the total.
__device__ __forceinline__ void column_total(double (*part)[kCols], double& v) {
  part[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  if (threadIdx.y == 0)
    for (int k = 1; k < kRowGroups; ++k) v += part[k][threadIdx.x];
}

// partial (chunks, 2, C): sums of d and d^2, d = x - x[row 0], over the chunk's rows.
__global__ void batch_norm_stats_partial_kernel(const float* x, double* partial, int64_t rows, int64_t C,
                                                int64_t rows_per_chunk) {
  __shared__ double part1[kRowGroups][kCols];
  __shared__ double part2[kRowGroups][kCols];
  const int64_t c = int64_t(blockIdx.x) * kCols + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  double s1 = 0.0, s2 = 0.0;
  if (c < C) {
    const double k = x[c];
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowGroups) {
      const double d = double(x[r * C + c]) - k;
      s1 += d;
      s2 += d * d;
    }
  }
  column_total(part1, s1);
  column_total(part2, s2);
  if (threadIdx.y == 0 && c < C) {
    partial[(int64_t(blockIdx.y) * 2 + 0) * C + c] = s1;
    partial[(int64_t(blockIdx.y) * 2 + 1) * C + c] = s2;
  }
}

// A thread per channel: statistics (from the partials or the running stats), running update, coefficients.
// coef (2, C) floats: a, shift.
__global__ void batch_norm_stats_finalize_kernel(const float* x, const double* partial, int64_t chunks,
                                                 const float* weight, const float* bias, float* running_mean,
                                                 float* running_var, bool training, double momentum, double eps,
                                                 double* mean, double* invstd, float* coef, int64_t rows, int64_t C) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double m, is;
  if (training) {
    double s1 = 0.0, s2 = 0.0;
    for (int64_t k = 0; k < chunks; ++k) {
      s1 += partial[(k * 2 + 0) * C + c];
      s2 += partial[(k * 2 + 1) * C + c];
    }
    const double n = double(rows);
    const double shifted_mean = s1 / n;
    double m2 = s2 - s1 * shifted_mean;  // sum of squared deviations
    if (m2 < 0.0) m2 = 0.0;
    m = double(x[c]) + shifted_mean;
    is = 1.0 / sqrt(m2 / n + eps);
    if (running_mean) running_mean[c] = float((1.0 - momentum) * running_mean[c] + momentum * m);
    if (running_var) running_var[c] = float((1.0 - momentum) * running_var[c] + momentum * m2 / (n - 1.0));
  } else {
    m = running_mean[c];
    is = 1.0 / sqrt(double(running_var[c]) + eps);
  }
  mean[c] = m;
  invstd[c] = is;
  const double a = (weight ? double(weight[c]) : 1.0) * is;
  coef[c] = float(a);
  coef[C + c] = float((bias ? double(bias[c]) : 0.0) - m * a);
}

__global__ void batch_norm_apply_kernel(const float* x, const float* coef, float* y, int64_t rows, int64_t C) {
  const int64_t c = int64_t(blockIdx.x) * kCols + threadIdx.x;
  if (c >= C) return;
  const float a = coef[c], shift = coef[C + c];
  const int64_t step = int64_t(gridDim.y) * kRowGroups;
  for (int64_t r = int64_t(blockIdx.y) * kRowGroups + threadIdx.y; r < rows; r += step)
    y[r * C + c] = x[r * C + c] * a + shift;
}

// partial (chunks, 2, C): sums of gy and gy * xhat over the chunk's rows.
__global__ void batch_norm_backward_partial_kernel(const float* x, const double* mean, const double* invstd,
                                                   const float* gy, double* partial, int64_t rows, int64_t C,
                                                   int64_t rows_per_chunk) {
  __shared__ double part1[kRowGroups][kCols];
  __shared__ double part2[kRowGroups][kCols];
  const int64_t c = int64_t(blockIdx.x) * kCols + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  double sg = 0.0, sgx = 0.0;
  if (c < C) {
    const double m = mean[c], is = invstd[c];
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowGroups) {
      const double g = gy[r * C + c];
      sg += g;
      sgx += g * ((double(x[r * C + c]) - m) * is);
    }
  }
  column_total(part1, sg);
  column_total(part2, sgx);
  if (threadIdx.y == 0 && c < C) {
    partial[(int64_t(blockIdx.y) * 2 + 0) * C + c] = sg;
    partial[(int64_t(blockIdx.y) * 2 + 1) * C + c] = sgx;
  }
}

// A thread per channel: gw, gb and the gx coefficients coef (5, C) floats: k, m1, m2, mean, invstd.
__global__ void batch_norm_backward_finalize_kernel(const double* partial, int64_t chunks, const float* weight,
                                                    const double* mean, const double* invstd, bool training,
                                                    float* gw, float* gb, float* coef, int64_t rows, int64_t C) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sg = 0.0, sgx = 0.0;
  if (partial)
    for (int64_t k = 0; k < chunks; ++k) {
      sg += partial[(k * 2 + 0) * C + c];
      sgx += partial[(k * 2 + 1) * C + c];
    }
  if (gw) gw[c] = float(sgx);
  if (gb) gb[c] = float(sg);
  if (!coef) return;
  coef[c] = float((weight ? double(weight[c]) : 1.0) * invstd[c]);
  coef[C + c] = training ? float(sg / double(rows)) : 0.0f;
  coef[2 * C + c] = training ? float(sgx / double(rows)) : 0.0f;
  coef[3 * C + c] = float(mean[c]);
  coef[4 * C + c] = float(invstd[c]);
}

__global__ void batch_norm_backward_input_kernel(const float* x, const float* gy, const float* coef, float* gx,
                                                 int64_t rows, int64_t C) {
  const int64_t c = int64_t(blockIdx.x) * kCols + threadIdx.x;
  if (c >= C) return;
  const float k = coef[c], m1 = coef[C + c], m2 = coef[2 * C + c], mu = coef[3 * C + c], is = coef[4 * C + c];
  const int64_t step = int64_t(gridDim.y) * kRowGroups;
  for (int64_t r = int64_t(blockIdx.y) * kRowGroups + threadIdx.y; r < rows; r += step) {
    const float xhat = (x[r * C + c] - mu) * is;
    gx[r * C + c] = k * (gy[r * C + c] - m1 - xhat * m2);
  }
}

unsigned col_blocks(int64_t C) { return static_cast<unsigned>((C + kCols - 1) / kCols); }
unsigned channel_blocks(int64_t C) { return static_cast<unsigned>((C + 255) / 256); }
dim3 apply_grid(int64_t rows, int64_t C) {
  int64_t rb = (rows + kRowGroups - 1) / kRowGroups;
  if (rb > kMaxApplyRowBlocks) rb = kMaxApplyRowBlocks;
  return dim3(col_blocks(C), static_cast<unsigned>(rb < 1 ? 1 : rb));
}

}  // namespace

int64_t batch_norm_scratch_doubles(int64_t rows, int64_t C) { return chunk_count(rows) * 2 * C + 3 * C; }

void batch_norm_forward(const float* x, const float* weight, const float* bias, float* running_mean,
                        float* running_var, bool training, double momentum, double eps, float* y, double* mean,
                        double* invstd, double* scratch, int64_t rows, int64_t C, cudaStream_t stream) {
  if (C <= 0) return;
  const int64_t chunks = chunk_count(rows);
  const int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
  float* coef = reinterpret_cast<float*>(scratch + chunks * 2 * C);  // (2, C)
  if (training)
    cage::launch(batch_norm_stats_partial_kernel, dim3(col_blocks(C), static_cast<unsigned>(chunks)),
                 dim3(kCols, kRowGroups), 0, stream, x, scratch, rows, C, rows_per_chunk);
  cage::launch(batch_norm_stats_finalize_kernel, dim3(channel_blocks(C)), dim3(256), 0, stream, x,
               static_cast<const double*>(scratch), chunks, weight, bias, running_mean, running_var, training,
               momentum, eps, mean, invstd, coef, rows, C);
  if (rows > 0)
    cage::launch(batch_norm_apply_kernel, apply_grid(rows, C), dim3(kCols, kRowGroups), 0, stream, x,
                 static_cast<const float*>(coef), y, rows, C);
}

void batch_norm_backward(const float* x, const float* weight, const double* mean, const double* invstd,
                         const float* gy, bool training, float* gx, float* gw, float* gb, double* scratch,
                         int64_t rows, int64_t C, cudaStream_t stream) {
  if (C <= 0) return;
  const int64_t chunks = chunk_count(rows);
  const int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
  float* coef = gx ? reinterpret_cast<float*>(scratch + chunks * 2 * C) : nullptr;  // (5, C)
  const bool sums = gw || gb || (gx && training);
  if (sums && rows > 0)
    cage::launch(batch_norm_backward_partial_kernel, dim3(col_blocks(C), static_cast<unsigned>(chunks)),
                 dim3(kCols, kRowGroups), 0, stream, x, mean, invstd, gy, scratch, rows, C, rows_per_chunk);
  const double* partial = sums && rows > 0 ? scratch : nullptr;
  if (sums || gx)
    cage::launch(batch_norm_backward_finalize_kernel, dim3(channel_blocks(C)), dim3(256), 0, stream, partial,
                 chunks, weight, mean, invstd, training, gw, gb, coef, rows, C);
  if (gx && rows > 0)
    cage::launch(batch_norm_backward_input_kernel, apply_grid(rows, C), dim3(kCols, kRowGroups), 0, stream, x, gy,
                 static_cast<const float*>(coef), gx, rows, C);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
