// Relative-position attention backward with bf16 products (kernels/fused_bf16.h), AVX-512 BF16: the backward of
// relpos_attention_forward_bf16, which kernels::relpos_attention_forward runs under GemmPrecision::bf16 (mixed-
// precision training; PyTorch's CPU autocast does attention's matmuls in bf16 too). Same task split, token maps
// and table-gradient reduction as the fp32 backward (kernels/cpu/attention.cpp); the tile helpers are
// kernels/cpu/attention_bf16_tiles.h.
// Per (batch, group, head) the forward is recomputed with the forward's own helpers, so with the same bf16
// operands bit for bit: S = bias + Q Ks^T (Ks = scale K rounded), E = bf16(exp(S - max)), inv = 1 / rowsum(E),
// P = E inv. The gradient is that of the function the forward computed, O = inv E V, with dO given:
//   dV = E^T (inv dO)                     a: E^T, pair-interleaved;  b: words of (inv dO) rows along tokens
//   dP = dO V^T                           a: dO rows (pairs of d);   b: V^T words (pairs of d)
//   dS = P * (dP - rowsum(dP * P))        fp32, and the table gradient summed from it in double
//   dQ = dS Ks,   dK = scale dS^T Q       a: dS rows / dS^T interleaved; b: words of Ks / Q rows along tokens
// so the four N x N x D products of the backward run on vdpbf16ps with operands rounded to bf16 (dO, inv dO and
// dS are rounded here; Q, Ks, V, E are the forward's) and fp32 accumulation; softmax, dS and the table gradient
// stay fp32. Only this version exists (the fp32 and f64 backward stay in attention.cpp).
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/attention_bf16_tiles.h"
#include "kernels/fused_bf16.h"
#include "kernels/gemm_bf16.h"

namespace cage::kernels {

namespace {

using namespace attn_bf16;

// Row i of dS in place of row i of dP (np columns, zero past the tokens on both inputs): dS = P (dP - sum dP P)
// with P = e * inv, e the bf16 row of exp(S - max).
CAGE_BF16_TARGET void softmax_grad_row(const uint16_t* e, float inv, float* dp, int64_t np) {
  const __m512 vinv = _mm512_set1_ps(inv);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < np; j += 16)
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(dp + j), _mm512_mul_ps(load_bf16(e + j), vinv), acc);
  const __m512 r = _mm512_set1_ps(_mm512_reduce_add_ps(acc));
  for (int64_t j = 0; j < np; j += 16) {
    const __m512 p = _mm512_mul_ps(load_bf16(e + j), vinv);
    _mm512_storeu_ps(dp + j, _mm512_mul_ps(p, _mm512_sub_ps(_mm512_loadu_ps(dp + j), r)));
  }
}

// Per-thread tiles. Rows of the bf16 (Nr, NP2) matrices past N (Nr = N rounded up to even) stay zero: they are
// the upper halves of the last pair when interleaved.
struct Scratch {
  std::vector<uint16_t> q, go;           // (N, Dp) bf16 rows of q, dO
  std::vector<uint32_t> kt, vt;          // (Dp / 2, NP) words of Ks^T, V^T
  std::vector<uint32_t> qw, kw, gw;      // (NP2 / 2, DV) words of q, Ks, inv dO along token pairs
  std::vector<float> s, ds;              // (N, NP) logits; dP then dS
  std::vector<uint16_t> e, dsb;          // (Nr, NP2) bf16 exp(S - max), dS
  std::vector<uint32_t> e_t, ds_t;       // (Nr / 2, NP2) pair-interleaved transposes of e, dsb
  std::vector<float> inv, dq, dk, dv;    // (N); (N, DV) gradient rows
};

}  // namespace

void relpos_attention_backward_bf16(int64_t B, int64_t H, int64_t W, int64_t C, const float* qkv, const float* table,
                                    const float* gout, const RelposAttentionParams& prm, float* gqkv,
                                    float* gtable) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 attention needs a CPU with AVX-512 BF16 (avx512_bf16); use fp32");
  const int64_t P = prm.partition, N = P * P, heads = prm.heads, D = C / heads, G = (H / P) * (W / P);
  const int64_t Dp = round_up(D, 2), NP = round_up(N, 16), NP2 = round_up(N, 32), DV = round_up(D, 16);
  const int64_t Nr = round_up(N, 2), kp = Nr / 2, tasks = B * G * heads, hw = H * W;
  const float scale = static_cast<float>(prm.scale);
  const std::vector<int64_t> pix = token_pixels(prm.kind, H, W, P);
  const std::vector<float> bias = expand_bias(P, heads, NP, table);
  std::vector<int32_t> idx(N * N);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j) idx[i * N + j] = static_cast<int32_t>(bias_row(P, i, j));
  // As the fp32 backward: table gradients go to one partial table per chunk of tasks, summed in chunk order
  // afterwards, so no two threads write the same entry and the result does not depend on the thread count.
  const int64_t table_size = (2 * P - 1) * (2 * P - 1) * heads, chunks = std::min<int64_t>(tasks, 64);
  std::vector<double> partial(gtable ? chunks * table_size : 0, 0.0);
  parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    Scratch t;
    t.q.assign(N * Dp, 0), t.go.assign(N * Dp, 0), t.kt.assign(Dp / 2 * NP, 0), t.vt.assign(Dp / 2 * NP, 0);
    t.qw.assign(NP2 / 2 * DV, 0), t.kw.assign(NP2 / 2 * DV, 0), t.gw.assign(NP2 / 2 * DV, 0);
    t.s.assign(N * NP, 0.0f), t.ds.assign(N * NP, 0.0f), t.e.assign(Nr * NP2, 0), t.dsb.assign(Nr * NP2, 0);
    t.e_t.assign(kp * NP2, 0), t.ds_t.assign(kp * NP2, 0);
    t.inv.assign(N, 0.0f), t.dq.assign(N * DV, 0.0f), t.dk.assign(N * DV, 0.0f), t.dv.assign(N * DV, 0.0f);
    for (int64_t c = c0; c < c1; ++c) {
      double* part = partial.empty() ? nullptr : partial.data() + c * table_size;
      for (int64_t id = tasks * c / chunks; id < tasks * (c + 1) / chunks; ++id) {
        const int64_t b = id / (G * heads), grp = id / heads % G, h = id % heads;
        const int64_t* px = pix.data() + grp * N;
        const float* img = qkv + b * hw * 3 * C + h * D;
        const float* gimg = gout + b * hw * C + h * D;
        // The forward's operands (same conversions as relpos_attention_forward_bf16), and dO's rows.
        for (int64_t j = 0; j < N; ++j) {
          const float* row = img + px[j] * 3 * C;
          to_bf16(row, D, 1.0f, t.q.data() + j * Dp);
          k_column(row + C, D, scale, t.kt.data() + j, NP);
          k_column(row + 2 * C, D, 1.0f, t.vt.data() + j, NP);
          to_bf16(gimg + px[j] * C, D, 1.0f, t.go.data() + j * Dp);
        }
        mm(N, NP / 16, Dp / 2, reinterpret_cast<const uint32_t*>(t.q.data()), Dp / 2, 1, t.kt.data(), NP,
           bias.data() + h * N * NP, NP, t.s.data(), NP);
        for (int64_t i = 0; i < N; ++i)
          t.inv[i] = softmax_to_bf16(t.s.data() + i * NP, N, NP / 16, t.e.data() + i * NP2, NP2);
        // dP = dO V^T, then dS in place.
        mm(N, NP / 16, Dp / 2, reinterpret_cast<const uint32_t*>(t.go.data()), Dp / 2, 1, t.vt.data(), NP, nullptr,
           0, t.ds.data(), NP);
        for (int64_t i = 0; i < N; ++i) {
          float* ds = t.ds.data() + i * NP;
          softmax_grad_row(t.e.data() + i * NP2, t.inv[i], ds, NP);
          if (part)
            for (int64_t j = 0; j < N; ++j) part[idx[i * N + j] * heads + h] += ds[j];
        }
        if (!gqkv) continue;
        for (int64_t i = 0; i < N; ++i) to_bf16(t.ds.data() + i * NP, NP, 1.0f, t.dsb.data() + i * NP2);
        for (int64_t p = 0; p < kp; ++p) {
          const int64_t j = 2 * p;
          const bool two = j + 1 < N;  // token j + 1 exists (else the pair's upper half is zero)
          interleave_rows(t.e.data() + j * NP2, t.e.data() + (j + 1) * NP2, NP2, t.e_t.data() + p * NP2);
          interleave_rows(t.dsb.data() + j * NP2, t.dsb.data() + (j + 1) * NP2, NP2, t.ds_t.data() + p * NP2);
          const float* r0 = img + px[j] * 3 * C;
          const float* r1 = two ? img + px[j + 1] * 3 * C : nullptr;
          pair_words(r0, 1.0f, r1, 1.0f, D, t.qw.data() + p * DV);
          pair_words(r0 + C, scale, two ? r1 + C : nullptr, scale, D, t.kw.data() + p * DV);
          pair_words(gimg + px[j] * C, t.inv[j], two ? gimg + px[j + 1] * C : nullptr, two ? t.inv[j + 1] : 0.0f, D,
                     t.gw.data() + p * DV);
        }
        // dV = E^T (inv dO), dQ = dS Ks, dK = dS^T Q (times scale on the way out).
        mm(N, DV / 16, kp, t.e_t.data(), 1, NP2, t.gw.data(), DV, nullptr, 0, t.dv.data(), DV);
        mm(N, DV / 16, kp, reinterpret_cast<const uint32_t*>(t.dsb.data()), NP2 / 2, 1, t.kw.data(), DV, nullptr, 0,
           t.dq.data(), DV);
        mm(N, DV / 16, kp, t.ds_t.data(), 1, NP2, t.qw.data(), DV, nullptr, 0, t.dk.data(), DV);
        float* gx = gqkv + b * hw * 3 * C + h * D;
        for (int64_t j = 0; j < N; ++j) {
          float* y = gx + px[j] * 3 * C;
          const float *dq = t.dq.data() + j * DV, *dk = t.dk.data() + j * DV, *dv = t.dv.data() + j * DV;
          for (int64_t d = 0; d < D; ++d) y[d] = dq[d];
          for (int64_t d = 0; d < D; ++d) y[C + d] = dk[d] * scale;
          for (int64_t d = 0; d < D; ++d) y[2 * C + d] = dv[d];
        }
      }
    }
  });
  if (gtable)
    for (int64_t e = 0; e < table_size; ++e) {
      double s = 0;
      for (int64_t c = 0; c < chunks; ++c) s += partial[c * table_size + e];
      gtable[e] = static_cast<float>(s);
    }
}

}  // namespace cage::kernels
