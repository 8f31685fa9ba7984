// The CPU inference fast path's shared pieces (models/maxvit_inference.h): the fused / precision switches, BatchNorm
// folding, the fold caches' keys, and GEMMs / convolutions in the selected precision.
#include "models/maxvit_inference.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>

#include "core/autograd.h"
#include "core/thread_pool.h"

namespace cage::models {

namespace {
std::atomic<bool> g_fused{[] {
  const char* e = std::getenv("CAGE_UNFUSED");
  return !(e && *e && *e != '0');
}()};
}  // namespace

void set_fused_inference(bool on) { g_fused.store(on); }
bool fused_inference_enabled() { return g_fused.load(std::memory_order_relaxed); }

namespace {
std::atomic<Precision> g_precision{Precision::fp32};
}  // namespace

void set_inference_precision(Precision p) {
  CAGE_CHECK(p == Precision::fp32 || kernels::bf16_gemm_supported(),
             "bf16 inference needs a CPU with AVX-512 BF16 (avx512_bf16); use fp32");
  g_precision.store(p);
}
Precision inference_precision() { return g_precision.load(std::memory_order_relaxed); }
Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  CAGE_CHECK(name == "bf16", "unknown precision '", name, "' (fp32 or bf16)");
  return Precision::bf16;
}

bool fused_inference(const nn::Module& m, const Tensor& x) {
  const bool off = !fused_inference_enabled();
  return !off && !m.is_training() && !grad_enabled() && x.device() == Device::cpu && x.dtype() == DType::f32;
}

std::vector<uintptr_t> fold_key(std::initializer_list<const Tensor*> sources) {
  std::vector<uintptr_t> key{static_cast<uintptr_t>(nn::Module::parameters_generation())};
  for (const Tensor* t : sources) key.push_back(reinterpret_cast<uintptr_t>(t->storage().get()));
  return key;
}

void bn_affine(const nn::BatchNorm2d& bn, std::vector<double>& scale, std::vector<double>& shift) {
  // Read on the host whatever the device (a GPU model folds its BatchNorms here too).
  Tensor g = bn.weight.to(Device::cpu).to(DType::f64), b = bn.bias.to(Device::cpu).to(DType::f64);
  Tensor m = bn.running_mean.to(Device::cpu).to(DType::f64), v = bn.running_var.to(Device::cpu).to(DType::f64);
  const int64_t C = g.numel();
  scale.resize(C);
  shift.resize(C);
  for (int64_t c = 0; c < C; ++c) {
    scale[c] = g.data<double>()[c] / std::sqrt(v.data<double>()[c] + bn.eps);
    shift[c] = b.data<double>()[c] - m.data<double>()[c] * scale[c];
  }
}

std::pair<Tensor, Tensor> fold_following_bn(const Tensor& w_in, const nn::BatchNorm2d& bn) {
  std::vector<double> scale, shift;
  bn_affine(bn, scale, shift);
  Tensor w = w_in.to(DType::f64).contiguous();
  const int64_t out = w.size(-1), rows = w.numel() / out;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) w.data<double>()[r * out + o] *= scale[o];
  Tensor bias = Tensor::empty({out}, DType::f64);
  for (int64_t o = 0; o < out; ++o) bias.data<double>()[o] = shift[o];
  return {w.to(DType::f32).contiguous(), bias.to(DType::f32)};
}

const kernels::PackedBf16& packed_bf16(PackedCache& cache, const Tensor& source, bool tb, int64_t K, int64_t N,
                                       const float* B, int64_t ldb) {
  std::vector<uintptr_t> key = fold_key({&source});
  if (key != cache.key) {
    cache.packed = kernels::pack_bf16(tb, K, N, B, ldb);
    cache.key = std::move(key);
  }
  return cache.packed;
}

void gemm_precision(PackedCache& cache, const Tensor& source, bool tb, int64_t M, int64_t N, int64_t K,
                    const float* A, int64_t lda, const float* B, int64_t ldb, const float* bias, kernels::Act act,
                    const float* residual, int64_t ldr, float* C, int64_t ldc) {
  if (inference_precision() != Precision::bf16)
    return kernels::gemm_epilogue(tb, M, N, K, A, lda, B, ldb, bias, act, residual, ldr, C, ldc);
  kernels::gemm_bf16_epilogue(M, A, lda, packed_bf16(cache, source, tb, K, N, B, ldb), bias, act, residual, ldr, C,
                              ldc);
}

Tensor linear_fused(const Tensor& x, const nn::Linear& lin, PackedCache& cache, kernels::Act act,
                    const Tensor& residual) {
  const int64_t in = lin.weight.size(1), out = lin.weight.size(0), rows = x.numel() / in;
  Shape shape = x.shape();
  shape.back() = out;
  Tensor y = Tensor::empty(shape, DType::f32);
  gemm_precision(cache, lin.weight, true, rows, out, in, fp(x), in, fp(lin.weight), in,
                 lin.bias ? fp(*lin.bias) : nullptr, act, residual.defined() ? fp(residual) : nullptr, out, fp(y),
                 out);
  return y;
}

// NHWC convolution (groups 1, weight (KH, KW, Cin, Cout)) + bias, act, as im2col + the bf16 GEMM: every thread
// takes chunks of output pixels, gathers their patches into a buffer that stays in L2 and multiplies it there
// (the GEMM inside runs on the calling thread: nested parallel_for runs inline). bf16 path only.
Tensor conv2d_bf16(const Tensor& x, const Tensor& w, const Tensor& bias, const nn::Conv2dOptions& o, PackedCache& cache,
                   kernels::Act act) {
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t KH = w.size(0), KW = w.size(1), Co = w.size(3), K = KH * KW * C;
  const int64_t Ho = (H + 2 * o.padding - KH) / o.stride + 1, Wo = (W + 2 * o.padding - KW) / o.stride + 1;
  const int64_t M = N * Ho * Wo;
  std::vector<uintptr_t> key = fold_key({&w});
  if (key != cache.key) {
    cache.packed = kernels::pack_bf16(false, K, Co, fp(w), Co);
    cache.key = std::move(key);
  }
  Tensor y = Tensor::empty({N, Ho, Wo, Co}, DType::f32);
  const int64_t chunk = std::max<int64_t>(64, (int64_t(512) << 10) / (4 * K) / 64 * 64);
  const float* xp = fp(x);
  float* yp = fp(y);
  parallel_for(0, (M + chunk - 1) / chunk, 1, [&](int64_t c0, int64_t c1) {
    thread_local std::vector<float> cols;
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r0 = c * chunk, rows = std::min(chunk, M - r0);
      cols.resize(rows * K);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t pix = r0 + r, n = pix / (Ho * Wo), oh = pix / Wo % Ho, ow = pix % Wo;
        float* dst = cols.data() + r * K;
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw, dst += C) {
            const int64_t ih = oh * o.stride - o.padding + kh, iw = ow * o.stride - o.padding + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) std::fill(dst, dst + C, 0.0f);
            else std::copy_n(xp + ((n * H + ih) * W + iw) * C, C, dst);
          }
      }
      kernels::gemm_bf16_epilogue(rows, cols.data(), K, cache.packed, bias.defined() ? fp(bias) : nullptr, act,
                                  nullptr, 0, yp + r0 * Co, Co);
    }
  });
  return y;
}

}  // namespace cage::models
