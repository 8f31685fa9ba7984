// Fused float32 inference kernels (see kernels/fused.h). The GEMM epilogue works on blocks of rows small
// enough to still sit in L2 when OpenBLAS has written them, so bias, GELU and the residual add cost no
// extra trip through memory and no separate output tensor.
#include "kernels/fused.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/gemm.h"

namespace cage::kernels {

namespace {

void sgemm(bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
           int64_t ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}

// Epilogue over the (rows, cols) block of C at column c0: one pass, the variant picked outside the loop.
template <bool kBias, bool kGelu, bool kResidual>
void epilogue_rows(int64_t rows, int64_t c0, int64_t cols, const float* bias, const float* residual, int64_t ldr,
                   float* C, int64_t ldc) {
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict c = C + r * ldc;
    const float* __restrict b = kBias ? bias + c0 : nullptr;
    const float* __restrict s = kResidual ? residual + r * ldr : nullptr;
    for (int64_t j = 0; j < cols; ++j) {
      float v = c[j];
      if constexpr (kBias) v += b[j];
      if constexpr (kGelu) v = gelu_f32(v);
      if constexpr (kResidual) v += s[j];
      c[j] = v;
    }
  }
}

void epilogue(int64_t rows, int64_t c0, int64_t cols, const float* bias, Act act, const float* residual, int64_t ldr,
              float* C, int64_t ldc) {
  const bool g = act == Act::gelu;
  if (bias && g && residual) return epilogue_rows<true, true, true>(rows, c0, cols, bias, residual, ldr, C, ldc);
  if (bias && g) return epilogue_rows<true, true, false>(rows, c0, cols, bias, residual, ldr, C, ldc);
  if (bias && residual) return epilogue_rows<true, false, true>(rows, c0, cols, bias, residual, ldr, C, ldc);
  if (bias) return epilogue_rows<true, false, false>(rows, c0, cols, bias, residual, ldr, C, ldc);
  if (g && residual) return epilogue_rows<false, true, true>(rows, c0, cols, bias, residual, ldr, C, ldc);
  if (g) return epilogue_rows<false, true, false>(rows, c0, cols, bias, residual, ldr, C, ldc);
  if (residual) return epilogue_rows<false, false, true>(rows, c0, cols, bias, residual, ldr, C, ldc);
}

// Rows of C per GEMM call: about 2 MiB of C (the L2 size), a multiple of 16 rows (OpenBLAS's row micro-tile).
// Smaller blocks keep C in L1/L2 for the epilogue but cost more than they save: every call packs B again
// and OpenBLAS's kernel runs shorter (measured on MaxViT-T: 256 KiB blocks were ~8% slower overall).
int64_t block_rows(int64_t N) {
  constexpr int64_t kBudget = int64_t(2) << 20;
  int64_t rows = kBudget / (4 * std::max<int64_t>(N, 1));
  return std::max<int64_t>(16, rows / 16 * 16);
}

}  // namespace

void gemm_epilogue(bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                   const float* bias, Act act, const float* residual, int64_t ldr, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  gemm_sync_threads();
  const int threads = num_threads();
  const double flops = 2.0 * M * N * K;
  auto rows_part = [&](int64_t r0, int64_t r1) {
    const int64_t step = block_rows(N);
    for (int64_t r = r0; r < r1; r += step) {
      const int64_t n = std::min(step, r1 - r);
      sgemm(tb, n, N, K, A + r * lda, lda, B, ldb, C + r * ldc, ldc);
      epilogue(n, 0, N, bias, act, residual ? residual + r * ldr : nullptr, ldr, C + r * ldc, ldc);
    }
  };
  if (threads == 1 || flops < 4e6) return rows_part(0, M);
  if (M >= 16 * threads || M >= N) {
    // Row panels, one per thread, each walked in cache-sized blocks.
    const int64_t parts = std::min<int64_t>(threads, (M + 15) / 16);
    parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) rows_part(M * p / parts, M * (p + 1) / parts);
    });
  } else {
    // Few rows: column panels, each small enough to stay in cache.
    const int64_t parts = std::min<int64_t>(threads, (N + 15) / 16);
    parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t c0 = N * p / parts, c1 = N * (p + 1) / parts;
        const float* b = tb ? B + c0 * ldb : B + c0;
        sgemm(tb, M, c1 - c0, K, A, lda, b, ldb, C + c0, ldc);
        epilogue(M, c0, c1 - c0, bias, act, residual ? residual + c0 : nullptr, ldr, C + c0, ldc);
      }
    });
  }
}

void depthwise_bias_gelu(int64_t N, int64_t H, int64_t W, int64_t C, int64_t KH, int64_t KW, int64_t stride,
                         int64_t padding, const float* x, const float* w, const float* bias, float* y, float* pooled) {
  const int64_t Ho = (H + 2 * padding - KH) / stride + 1, Wo = (W + 2 * padding - KW) / stride + 1;
  // Per output row, the channel sums of that row; reduced per image afterwards in a fixed order.
  std::vector<float> row_sums(pooled ? N * Ho * C : 0);
  parallel_for(0, N * Ho, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / Ho, oh = r % Ho;
      float* sums = pooled ? row_sums.data() + r * C : nullptr;
      if (sums) std::fill(sums, sums + C, 0.0f);
      for (int64_t ow = 0; ow < Wo; ++ow) {
        float* out = y + ((n * Ho + oh) * Wo + ow) * C;
        for (int64_t c = 0; c < C; ++c) out[c] = bias[c];
        for (int64_t kh = 0; kh < KH; ++kh) {
          const int64_t ih = oh * stride - padding + kh;
          if (ih < 0 || ih >= H) continue;
          for (int64_t kw = 0; kw < KW; ++kw) {
            const int64_t iw = ow * stride - padding + kw;
            if (iw < 0 || iw >= W) continue;
            const float* in = x + ((n * H + ih) * W + iw) * C;
            const float* wk = w + (kh * KW + kw) * C;
            for (int64_t c = 0; c < C; ++c) out[c] += in[c] * wk[c];
          }
        }
        for (int64_t c = 0; c < C; ++c) out[c] = gelu_f32(out[c]);
        if (sums)
          for (int64_t c = 0; c < C; ++c) sums[c] += out[c];
      }
    }
  });
  if (!pooled) return;
  pool_row_sums(N, Ho, Wo, C, row_sums.data(), pooled);
}

void pool_row_sums(int64_t N, int64_t Ho, int64_t Wo, int64_t C, const float* row_sums, float* pooled) {
  const double inv = 1.0 / static_cast<double>(Ho * Wo);
  std::vector<double> acc(C);
  for (int64_t n = 0; n < N; ++n) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t oh = 0; oh < Ho; ++oh) {
      const float* s = row_sums + (n * Ho + oh) * C;
      for (int64_t c = 0; c < C; ++c) acc[c] += s[c];
    }
    for (int64_t c = 0; c < C; ++c) pooled[n * C + c] = static_cast<float>(acc[c] * inv);
  }
}

void gelu_inplace(float* x, int64_t n) {
  parallel_for(0, n, 1 << 14, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) x[i] = gelu_f32(x[i]);
  });
}

}  // namespace cage::kernels
