// Shared pieces of MaxViT's CPU inference fast path (eval mode, no autograd, float32 input on the CPU), used by
// models/maxvit.cpp: BatchNorm folded into the neighbouring convolutions, bias / GELU / residual adds fused into
// the GEMMs (kernels/fused.h), and the GEMMs in the selected precision (fp32, or bf16 with weights packed once:
// kernels/gemm_bf16.h). Folded and packed weights are cached under a key of the parameter generation and the
// source tensors' storages, so any change of the parameters rebuilds them.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "kernels/fused.h"
#include "kernels/gemm_bf16.h"
#include "models/maxvit.h"
#include "nn/layers.h"

namespace cage::models {

// A GEMM weight packed to bf16 for the bf16 path, with the fold_key of the tensor it was packed from.
struct PackedCache {
  std::vector<uintptr_t> key;
  kernels::PackedBf16 packed;
};

// Whether `m` runs the fast path on `x`: fused inference on, eval mode, no autograd, float32 on the CPU.
bool fused_inference(const nn::Module& m, const Tensor& x);
// What a folded cache was built from: the parameter generation, then the storages of its source tensors (a
// tensor replaced wholesale, e.g. moved to another device and back, has a new storage even when nothing bumped
// the generation).
std::vector<uintptr_t> fold_key(std::initializer_list<const Tensor*> sources);
// BatchNorm in eval mode as y = x * scale + shift, in double.
void bn_affine(const nn::BatchNorm2d& bn, std::vector<double>& scale, std::vector<double>& shift);
// Weight (..., out) (HWIO, out innermost) scaled per output channel by the BatchNorm that follows; the bias
// becomes the BatchNorm's shift. Returns {weight, bias} in float32.
std::pair<Tensor, Tensor> fold_following_bn(const Tensor& w_in, const nn::BatchNorm2d& bn);

inline const float* fp(const Tensor& t) { return t.data<float>(); }
inline float* fp(Tensor& t) { return t.data<float>(); }

// op(B) packed to bf16 in `cache`, repacked when `source` (the tensor B points into) or the parameter
// generation changes.
const kernels::PackedBf16& packed_bf16(PackedCache& cache, const Tensor& source, bool tb, int64_t K, int64_t N,
                                       const float* B, int64_t ldb);
// kernels::gemm_epilogue in the selected precision (bf16: B packed once, see packed_bf16).
void gemm_precision(PackedCache& cache, const Tensor& source, bool tb, int64_t M, int64_t N, int64_t K,
                    const float* A, int64_t lda, const float* B, int64_t ldb, const float* bias, kernels::Act act,
                    const float* residual, int64_t ldr, float* C, int64_t ldc);
// y (rows, out) = x (rows, in) @ linear.weight^T + bias, act, + residual: nn::Linear without a graph.
Tensor linear_fused(const Tensor& x, const nn::Linear& lin, PackedCache& cache, kernels::Act act,
                    const Tensor& residual = Tensor());
// NHWC convolution (groups 1, weight (KH, KW, Cin, Cout)) + bias, act, as im2col chunks kept in L2 + the bf16
// GEMM. bf16 path only.
Tensor conv2d_bf16(const Tensor& x, const Tensor& w, const Tensor& bias, const nn::Conv2dOptions& o, PackedCache& cache,
                   kernels::Act act);

}  // namespace cage::models
