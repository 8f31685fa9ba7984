// OpenBLAS runs single-threaded; large GEMMs are split over the engine's own thread pool by rows of C
// (or by columns when C has few rows; in bf16, whenever C has more columns than rows). One pool for
// everything: OpenBLAS's own threads would spin and yield against the pool's on the same cores between calls.
#include "kernels/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <type_traits>

#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/dispatch.h"
#include "kernels/gemm_bf16.h"

namespace cage::kernels {

void gemm_sync_threads() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

namespace {

std::atomic<GemmPrecision> g_precision{GemmPrecision::fp32};

// One serial GEMM: OpenBLAS, or the bf16 kernel when `bf16` (decided once per gemm() call, on its full shape).
template <typename T>
void blas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb,
          T beta, T* C, int64_t ldc, bool bf16) {
  if constexpr (std::is_same_v<T, float>) {
    if (bf16) return gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
  } else {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
  }
}

}  // namespace

void set_gemm_precision(GemmPrecision p) {
  CAGE_CHECK(p == GemmPrecision::fp32 || bf16_gemm_supported(),
             "bf16 mixed precision needs a CPU with AVX-512 BF16 (avx512_bf16); use fp32");
  g_precision.store(p);
}

GemmPrecision gemm_precision() { return g_precision.load(); }

template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb,
          T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_sync_threads();
  const bool bf16 = std::is_same_v<T, float> && g_precision.load(std::memory_order_relaxed) == GemmPrecision::bf16 &&
                    std::min({M, N, K}) >= 16;
  const double flops = 2.0 * M * N * K;
  const int threads = num_threads();
  // Weight-gradient shapes (K = batch x pixels much larger than M and N): split K in two halves, the second
  // into a scratch C that is then added. Split by rows of C instead, every thread would pack all of op(B)
  // (K x N); by K each packs half of each operand (8-25% less time per thread at MaxViT's dW shapes, measured
  // single-threaded per half). Always two halves, whatever the thread count, so results do not depend on it.
  if (K >= 4096 && K >= 4 * std::max(M, N) && flops >= 4e6) {
    const int64_t k0 = K / 2;
    Tensor scratch = Tensor::empty({M, N}, std::is_same_v<T, float> ? DType::f32 : DType::f64, Device::cpu);
    T* c2 = scratch.data<T>();
    parallel_for(0, 2, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        if (p == 0) {
          blas(ta, tb, M, N, k0, alpha, A, lda, B, ldb, beta, C, ldc, bf16);
        } else {
          const T* a = ta ? A + k0 * lda : A + k0;
          const T* b = tb ? B + k0 : B + k0 * ldb;
          blas(ta, tb, M, N, K - k0, alpha, a, lda, b, ldb, T(0), c2, N, bf16);
        }
      }
    });
    parallel_for(0, M, std::max<int64_t>(1, 16384 / N), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t j = 0; j < N; ++j) C[r * ldc + j] += c2[r * N + j];
    });
    return;
  }
  if (threads == 1 || flops < 4e6) {
    blas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bf16);
    return;
  }
  // Row panels of C need rows of op(A): A's row i is at A + i*lda (no transpose) or column i (transpose).
  // Each part packs all of the operand that is not split: in bf16 (whose results do not depend on the split),
  // split the larger dimension so that the duplicated packing is the smaller operand's.
  const bool by_rows = bf16 ? M >= N || N < 16 * threads : M >= 16 * threads || M >= N;
  if (by_rows) {
    const int64_t parts = std::min<int64_t>(threads, (M + 15) / 16);
    parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        int64_t r0 = M * p / parts, r1 = M * (p + 1) / parts;
        const T* a = ta ? A + r0 : A + r0 * lda;
        blas(ta, tb, r1 - r0, N, K, alpha, a, lda, B, ldb, beta, C + r0 * ldc, ldc, bf16);
      }
    });
  } else {
    const int64_t parts = std::min<int64_t>(threads, (N + 15) / 16);
    parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        int64_t c0 = N * p / parts, c1 = N * (p + 1) / parts;
        const T* b = tb ? B + c0 * ldb : B + c0;
        blas(ta, tb, M, c1 - c0, K, alpha, A, lda, b, ldb, beta, C + c0, ldc, bf16);
      }
    });
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*, int64_t,
                           double, double*, int64_t);

void gemm_device(Device d, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  CAGE_GPU_DISPATCH(d, gemm, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  gemm<float>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_batched_device(Device d, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                         int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                         float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  CAGE_GPU_DISPATCH(d, gemm_batched, ta, tb, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc,
                    stride_c, batch);
  for (int64_t i = 0; i < batch; ++i)
    gemm<float>(ta, tb, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta, C + i * stride_c, ldc);
}

}  // namespace cage::kernels
