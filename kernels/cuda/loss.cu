// Cross-entropy, MSE and BCE-with-logits losses, forward and backward (kernels/cuda/loss.cuh). As in the CPU oracle
// (kernels/cpu/loss.cpp), per-element terms are evaluated in double and reductions accumulate in double; every sum
// goes through det_sum.cuh (fixed chunks, fixed order), so the loss is the same on every run and device. Upstream
// gradients are read on the device: nothing here waits for the host.
//   cross_entropy forward:  a warp per row finds max and sum exp in double -> lse and nll (scratch); then
//                           num = sum w[y] nll and den = sum w[y] in two fixed-order sums, loss = num / den.
//   cross_entropy backward: den again (one small sum), then a thread per logit.
//   mse, bce:               forward one fixed-order sum of the terms; backward a thread per element.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/loss.cuh"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/det_sum.cuh"

#include <cmath>

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

// softplus(-x) = log(1 + exp(-x)) and sigmoid(-x) = 1 / (1 + exp(x)), stable for either sign (as the CPU).
__device__ __forceinline__ double softplus_neg(double x) { return fmax(-x, 0.0) + log1p(exp(-fabs(x))); }
__device__ __forceinline__ double sigmoid_neg(double x) {
  if (x >= 0) {
    const double e = exp(-x);
    return e / (1 + e);
  }
  return 1 / (1 + exp(x));
}

// ---- cross-entropy ----

// lse[i] = log sum_j exp(x_ij); nll[i] = lse[i] - x_{i, y_i} (NaN for a label outside [0, K)). A warp per row.
__global__ void cross_entropy_rows_kernel(const float* logits, const int64_t* labels, double* lse, double* nll,
                                          int64_t N, int64_t K) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t i = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; i < N; i += warps) {
    const float* row = logits + i * K;
    double m = -INFINITY;
    for (int64_t j = lane; j < K; j += 32) m = fmax(m, double(row[j]));
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) m = fmax(m, __shfl_xor_sync(0xffffffffu, m, offset));
    double s = 0;
    for (int64_t j = lane; j < K; j += 32) s += exp(double(row[j]) - m);
    s = warp_sum(s);
    if (lane == 0) {
      const double l = m + log(s);
      const int64_t y = labels[i];
      lse[i] = l;
      nll[i] = y >= 0 && y < K ? l - double(row[y]) : NAN;
    }
  }
}

// w[y_i] (1 without weights); NaN for a label outside [0, K), so it cannot pass unnoticed.
__device__ __forceinline__ double label_weight(const int64_t* labels, const float* weights, int64_t K, int64_t i) {
  const int64_t y = labels[i];
  if (y < 0 || y >= K) return NAN;
  return weights ? double(weights[y]) : 1.0;
}

struct weighted_nll_term {
  const int64_t* labels;
  const float* weights;
  const double* nll;
  int64_t K;
  __device__ __forceinline__ double operator()(int64_t i) const { return label_weight(labels, weights, K, i) * nll[i]; }
};
struct weight_term {
  const int64_t* labels;
  const float* weights;
  int64_t K;
  __device__ __forceinline__ double operator()(int64_t i) const { return label_weight(labels, weights, K, i); }
};
struct store_double {
  double* dst;
  __device__ __forceinline__ void operator()(double s) const { *dst = s; }
};
// loss = num / den, num stored by an earlier launch on the same stream.
struct store_ratio {
  const double* num;
  float* loss;
  __device__ __forceinline__ void operator()(double den) const { *loss = float(*num / den); }
};

__global__ void cross_entropy_grad_kernel(const float* logits, const int64_t* labels, const float* weights,
                                          const double* lse, const float* gout, const double* den, float* glogits,
                                          int64_t N, int64_t K) {
  const double g = *gout, d = *den;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < N * K; e += step) {
    const int64_t i = e / K, j = e - i * K;
    const int64_t y = labels[i];
    const double s = g * label_weight(labels, weights, K, i) / d;
    const double p = exp(double(logits[e]) - lse[i]);
    glogits[e] = float(j == y ? s * (p - 1.0) : s * p);
  }
}

// ---- MSE and BCE ----

struct squared_error_term {
  const float* pred;
  const float* target;
  __device__ __forceinline__ double operator()(int64_t i) const {
    const double d = double(pred[i]) - double(target[i]);
    return d * d;
  }
};
struct bce_term {
  const float* x;
  const float* t;
  const float* pw;
  int64_t K;
  __device__ __forceinline__ double operator()(int64_t i) const {
    const double xi = x[i], ti = t[i];
    const double lw = pw ? 1 + (double(pw[i % K]) - 1) * ti : 1.0;
    return (1 - ti) * xi + lw * softplus_neg(xi);
  }
};
struct store_mean {
  float* loss;
  double n;
  __device__ __forceinline__ void operator()(double s) const { *loss = float(s / n); }
};

__global__ void mse_backward_kernel(const float* pred, const float* target, const float* gout, float* gpred,
                                    float* gtarget, int64_t n) {
  const double c = 2 * double(*gout) / double(n);
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const double v = c * (double(pred[i]) - double(target[i]));
    if (gpred) gpred[i] = float(v);
    if (gtarget) gtarget[i] = float(-v);
  }
}

__global__ void bce_backward_kernel(const float* x, const float* t, const float* pw, const float* gout,
                                    float* glogits, float* gtargets, int64_t n, int64_t K) {
  const double c = double(*gout) / double(n);
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const double xi = x[i], ti = t[i], pwi = pw ? double(pw[i % K]) : 1.0;
    if (glogits) glogits[i] = float(c * ((1 - ti) - (1 + (pwi - 1) * ti) * sigmoid_neg(xi)));
    if (gtargets) gtargets[i] = float(c * ((pwi - 1) * softplus_neg(xi) - xi));
  }
}

}  // namespace

// Partials of one det_sum, plus two slots (num and den of cross-entropy) and the nll row (N).
int64_t loss_scratch(int64_t n) { return det_sum::blocks(n) + 2 + (n > 0 ? n : 0); }

void cross_entropy_forward(const float* logits, const int64_t* labels, const float* weights, double* lse,
                           float* loss, int64_t N, int64_t K, double* scratch, cudaStream_t stream) {
  double* num = scratch;
  double* nll = scratch + 1;
  double* partial = nll + N;
  if (N > 0) {
    const int64_t rows_per_block = kThreads / 32, b = (N + rows_per_block - 1) / rows_per_block;
    cage::launch(cross_entropy_rows_kernel, dim3(unsigned(b < kMaxBlocks ? b : kMaxBlocks)), dim3(kThreads), 0,
                 stream, logits, labels, lse, nll, N, K);
  }
  det_sum::run(weighted_nll_term{labels, weights, nll, K}, N, partial, store_double{num}, stream);
  det_sum::run(weight_term{labels, weights, K}, N, partial, store_ratio{num, loss}, stream);
}

void cross_entropy_backward(const float* logits, const int64_t* labels, const float* weights, const double* lse,
                            const float* gout, float* glogits, int64_t N, int64_t K, double* scratch,
                            cudaStream_t stream) {
  if (N * K <= 0) return;
  double* den = scratch;
  det_sum::run(weight_term{labels, weights, K}, N, scratch + 1, store_double{den}, stream);
  cage::launch(cross_entropy_grad_kernel, dim3(blocks_for(N * K)), dim3(kThreads), 0, stream, logits, labels, weights,
               lse, gout, static_cast<const double*>(den), glogits, N, K);
}

void mse_forward(const float* pred, const float* target, float* loss, int64_t n, double* scratch,
                 cudaStream_t stream) {
  det_sum::run(squared_error_term{pred, target}, n, scratch, store_mean{loss, double(n)}, stream);
}

void mse_backward(const float* pred, const float* target, const float* gout, float* gpred, float* gtarget, int64_t n,
                  cudaStream_t stream) {
  if (n <= 0 || (!gpred && !gtarget)) return;
  cage::launch(mse_backward_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, pred, target, gout, gpred,
               gtarget, n);
}

void bce_with_logits_forward(const float* logits, const float* targets, const float* pos_weight, float* loss,
                             int64_t n, int64_t K, double* scratch, cudaStream_t stream) {
  det_sum::run(bce_term{logits, targets, pos_weight, K}, n, scratch, store_mean{loss, double(n)}, stream);
}

void bce_with_logits_backward(const float* logits, const float* targets, const float* pos_weight, const float* gout,
                              float* glogits, float* gtargets, int64_t n, int64_t K, cudaStream_t stream) {
  if (n <= 0 || (!glogits && !gtargets)) return;
  cage::launch(bce_backward_kernel, dim3(blocks_for(n)), dim3(kThreads), 0, stream, logits, targets, pos_weight, gout,
               glogits, gtargets, n, K);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
