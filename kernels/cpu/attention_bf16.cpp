// Relative-position attention forward of the bf16 inference path (kernels/fused_bf16.h), AVX-512 BF16.
// Same task split and token maps as kernels/cpu/attention.cpp (one task per batch, group, head; tokens read and
// written through relpos_attention_pixel), but the two N x N x D products run on vdpbf16ps, whose operands are
// 32-bit words holding a pair of bf16 along the product's k:
//   S = bias + Q (K scale)^T: A = Q rows (pairs of d), B = K^T as words kt[p][j] = (k[j][2p], k[j][2p+1]);
//   O = P V / rowsum(P):     A = P rows (pairs of tokens), B = words vw[p][d] = (v[2p][d], v[2p+1][d]).
// The softmax works on the fp32 logits; P = exp(s - max) is rounded to bf16 unnormalised (values in (0, 1])
// and the 1 / rowsum scales O in fp32 on the way out. Padded columns (tokens N..NP-1, d D..) are zero words.
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/attention_bf16_tiles.h"
#include "kernels/fused_bf16.h"
#include "kernels/gemm_bf16.h"

namespace cage::kernels {

namespace {

using namespace attn_bf16;

struct Scratch {
  std::vector<uint16_t> q;   // (N, Dp) bf16: row i = words of q[i]
  std::vector<uint32_t> kt;  // (Dp / 2, NP) words
  std::vector<uint32_t> vw;  // (NP2 / 2, DV) words
  std::vector<float> s;      // (N, NP) logits
  std::vector<uint16_t> p;   // (N, NP2) bf16 probabilities
  std::vector<float> o, inv;  // (N, DV) output rows, (N) 1 / rowsum
};

}  // namespace

void relpos_attention_forward_bf16(int64_t B, int64_t H, int64_t W, int64_t C, const float* qkv, const float* table,
                                   const RelposAttentionParams& prm, float* out) {
  CAGE_CHECK(bf16_gemm_supported(), "bf16 inference needs a CPU with AVX-512 BF16 (avx512_bf16); use fp32");
  const int64_t P = prm.partition, N = P * P, heads = prm.heads, D = C / heads, G = (H / P) * (W / P);
  const int64_t Dp = round_up(D, 2), NP = round_up(N, 16), NP2 = round_up(N, 32), DV = round_up(D, 16);
  const float scale = static_cast<float>(prm.scale);
  const std::vector<int64_t> pix = token_pixels(prm.kind, H, W, P);
  const std::vector<float> bias = expand_bias(P, heads, NP, table);
  parallel_for(0, B * G * heads, 1, [&](int64_t first, int64_t last) {
    Scratch t;
    t.q.assign(N * Dp, 0), t.kt.assign(Dp / 2 * NP, 0), t.vw.assign(NP2 / 2 * DV, 0);
    t.s.assign(N * NP, 0.0f), t.p.assign(N * NP2, 0), t.o.assign(N * DV, 0.0f), t.inv.assign(N, 0.0f);
    for (int64_t id = first; id < last; ++id) {
      // head fastest: the heads of one group read neighbouring bytes of the same pixels one after another
      const int64_t b = id / (G * heads), grp = id / heads % G, h = id % heads;
      const int64_t* px = pix.data() + grp * N;
      const float* img = qkv + b * H * W * 3 * C;
      for (int64_t j = 0; j < N; ++j) {
        const float* row = img + px[j] * 3 * C + h * D;
        to_bf16(row, D, 1.0f, t.q.data() + j * Dp);
        k_column(row + C, D, scale, t.kt.data() + j, NP);  // k scaled before the rounding, as torchvision does
      }
      for (int64_t j = 0; j < N; j += 2)
        pair_words(img + px[j] * 3 * C + 2 * C + h * D, 1.0f,
                   j + 1 < N ? img + px[j + 1] * 3 * C + 2 * C + h * D : nullptr, 1.0f, D, t.vw.data() + j / 2 * DV);
      mm(N, NP / 16, Dp / 2, reinterpret_cast<const uint32_t*>(t.q.data()), Dp / 2, 1, t.kt.data(), NP,
         bias.data() + h * N * NP, NP, t.s.data(), NP);
      for (int64_t i = 0; i < N; ++i)
        t.inv[i] = softmax_to_bf16(t.s.data() + i * NP, N, NP / 16, t.p.data() + i * NP2, NP2);
      mm(N, DV / 16, (N + 1) / 2, reinterpret_cast<const uint32_t*>(t.p.data()), NP2 / 2, 1, t.vw.data(), DV,
         nullptr, 0, t.o.data(), DV);
      float* dst = out + b * H * W * C + h * D;
      for (int64_t i = 0; i < N; ++i) {
        const float* o = t.o.data() + i * DV;
        float* y = dst + px[i] * C;
        for (int64_t d = 0; d < D; ++d) y[d] = o[d] * t.inv[i];
      }
    }
  });
}

}  // namespace cage::kernels
