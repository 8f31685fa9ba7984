// CAGE's concordance correlation coefficient loss, forward and backward (kernels/cuda/ccc_loss.cuh).
//   forward:  one block reduces the five sums of (a, b) = (p - p[0], t - t[0]) in double: sum a, sum b, sum a^2,
//             sum b^2, sum ab. The shift by the first sample keeps the moments accurate when |mean| >> std, as in
//             the CPU kernel (kernels/cpu/loss.cpp). Thread 0 turns them into the unbiased (n - 1) moments
//             {mean_p, mean_t, var_p, var_t, cov, n} and loss = -2 cov / (var_p + var_t + (mean_p - mean_t)^2).
//   backward: closed-form gradients from the saved moments, no second reduction: with D the denominator and
//             u = 1 / (n - 1), gp_i = ca (t_i - mt) + cb (p_i - mp) + cc, gt_i = ca (p_i - mp) + cb (t_i - mt) - cc,
//             ca = -2 u g / D, cb = 4 u g cov / D^2, cc = 4 g cov (mp - mt) / (n D^2). A grid-stride kernel; thread 0
//             of each block computes the coefficients into shared memory.
// The reduction is one block of kReduceThreads: deterministic (fixed per-thread strides, fixed warp and block order)
// and enough for a loss over a batch; a multi-block first pass would only matter for millions of samples.
#include "kernels/cuda/portable.cuh"
#include "kernels/cuda/ccc_loss.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace cage::CAGE_GPU_NAMESPACE {
namespace {

constexpr int kReduceThreads = 256;
constexpr int kReduceWarps = kReduceThreads / 32;
constexpr int kGradThreads = 256;
constexpr int kMaxGradBlocks = 1024;

__global__ void ccc_forward_kernel(const float* pred, const float* target, double* moments, float* loss, int64_t n) {
  __shared__ double partial[5][kReduceWarps];
  const double kp = pred[0], kt = target[0];
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (int64_t i = threadIdx.x; i < n; i += kReduceThreads) {
    const double a = double(pred[i]) - kp, b = double(target[i]) - kt;
    sa += a;
    sb += b;
    saa += a * a;
    sbb += b * b;
    sab += a * b;
  }
  sa = warp_sum(sa);
  sb = warp_sum(sb);
  saa = warp_sum(saa);
  sbb = warp_sum(sbb);
  sab = warp_sum(sab);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    partial[0][warp] = sa;
    partial[1][warp] = sb;
    partial[2][warp] = saa;
    partial[3][warp] = sbb;
    partial[4][warp] = sab;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  double s[5] = {0, 0, 0, 0, 0};
  for (int k = 0; k < 5; ++k)
    for (int w = 0; w < kReduceWarps; ++w) s[k] += partial[k][w];
  const double dn = double(n);
  const double mp = kp + s[0] / dn, mt = kt + s[1] / dn;
  const double var_p = (s[2] - s[0] * s[0] / dn) / (dn - 1);
  const double var_t = (s[3] - s[1] * s[1] / dn) / (dn - 1);
  const double cov = (s[4] - s[0] * s[1] / dn) / (dn - 1);
  moments[0] = mp;
  moments[1] = mt;
  moments[2] = var_p;
  moments[3] = var_t;
  moments[4] = cov;
  moments[5] = dn;
  const double d = mp - mt;
  *loss = float(-2 * cov / (var_p + var_t + d * d));
}

__global__ void ccc_backward_kernel(const float* pred, const float* target, const double* moments, const float* gout,
                                    float* gpred, float* gtarget, int64_t n) {
  __shared__ double coef[5];  // ca, cb, cc, mp, mt
  if (threadIdx.x == 0) {
    const double g = *gout;
    const double mp = moments[0], mt = moments[1], cov = moments[4], dn = moments[5];
    const double diff = mp - mt, den = moments[2] + moments[3] + diff * diff, u = 1 / (dn - 1);
    coef[0] = -2 * u * g / den;
    coef[1] = 4 * u * g * cov / (den * den);
    coef[2] = 4 * g * cov * diff / (dn * den * den);
    coef[3] = mp;
    coef[4] = mt;
  }
  __syncthreads();
  const double ca = coef[0], cb = coef[1], cc = coef[2], mp = coef[3], mt = coef[4];
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double dp = double(pred[i]) - mp, dt = double(target[i]) - mt;
    if (gpred) gpred[i] = float(ca * dt + cb * dp + cc);
    if (gtarget) gtarget[i] = float(ca * dp + cb * dt - cc);
  }
}

}  // namespace

void ccc_forward(const float* pred, const float* target, double* moments, float* loss, int64_t n,
                 cudaStream_t stream) {
  if (n < 2) return;
  cage::launch(ccc_forward_kernel, dim3(1), dim3(kReduceThreads), 0, stream, pred, target, moments, loss, n);
}

void ccc_backward(const float* pred, const float* target, const double* moments, const float* gout, float* gpred,
                  float* gtarget, int64_t n, cudaStream_t stream) {
  if (n <= 0 || (!gpred && !gtarget)) return;
  const int64_t blocks = (n + kGradThreads - 1) / kGradThreads;
  cage::launch(ccc_backward_kernel, dim3(static_cast<unsigned>(blocks < kMaxGradBlocks ? blocks : kMaxGradBlocks)),
               dim3(kGradThreads), 0, stream, pred, target, moments, gout, gpred, gtarget, n);
}

}  // namespace cage::CAGE_GPU_NAMESPACE
