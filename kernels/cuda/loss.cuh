// Host launchers of the cross-entropy, MSE and BCE-with-logits CUDA kernels (kernels/cuda/loss.cu). float32
// contiguous device pointers; scalars (loss, gout) are single floats on the device; launch errors are left for
// cudaGetLastError(). Contracts: kernels/loss.h. The CCC loss has its own file (ccc_loss.cuh).
#pragma once
#include "kernels/cuda/host_api.cuh"

namespace cage::CAGE_GPU_NAMESPACE {

// Doubles of scratch the forward and backward launchers below need for n reduced terms.
int64_t loss_scratch(int64_t n);

// logits (N, K), labels int64 (N), weights (K) or nullptr. lse: double (N), each row's log-sum-exp.
// loss = sum_i w[y_i] nll_i / sum_i w[y_i] (NaN when N = 0 or the weights sum to 0, as on the CPU). A label outside
// [0, K) is never read through: its row's nll, and so the loss, is NaN (the caller checks labels beforehand).
// scratch: loss_scratch(N) doubles.
void cross_entropy_forward(const float* logits, const int64_t* labels, const float* weights, double* lse,
                           float* loss, int64_t N, int64_t K, double* scratch, cudaStream_t stream = 0);
// glogits (N, K) = gout w[y_i] / sum_j w[y_j] (softmax(logits_i) - onehot(y_i)); scratch: loss_scratch(N) doubles.
void cross_entropy_backward(const float* logits, const int64_t* labels, const float* weights, const double* lse,
                            const float* gout, float* glogits, int64_t N, int64_t K, double* scratch,
                            cudaStream_t stream = 0);

// loss = mean (pred - target)^2 over n; scratch: loss_scratch(n) doubles.
void mse_forward(const float* pred, const float* target, float* loss, int64_t n, double* scratch,
                 cudaStream_t stream = 0);
// gpred = 2 gout (pred - target) / n, gtarget = -gpred; either may be nullptr.
void mse_backward(const float* pred, const float* target, const float* gout, float* gpred, float* gtarget, int64_t n,
                  cudaStream_t stream = 0);

// logits, targets (n = rows * K), pos_weight (K) or nullptr. loss = mean of (1 - t) x + (1 + (pw - 1) t) softplus(-x).
void bce_with_logits_forward(const float* logits, const float* targets, const float* pos_weight, float* loss,
                             int64_t n, int64_t K, double* scratch, cudaStream_t stream = 0);
// glogits = gout/n ((1 - t) - (1 + (pw - 1) t) sigmoid(-x)); gtargets = gout/n ((pw - 1) softplus(-x) - x);
// either may be nullptr.
void bce_with_logits_backward(const float* logits, const float* targets, const float* pos_weight, const float* gout,
                              float* glogits, float* gtargets, int64_t n, int64_t K, cudaStream_t stream = 0);

}  // namespace cage::CAGE_GPU_NAMESPACE
