// relpos_attention under GemmPrecision::bf16 (mixed-precision training): kernels::relpos_attention_forward and
// _backward route float32 to the bf16-product kernels (kernels/fused_bf16.h). Checked here: the forward is the
// bf16 inference kernel bit for bit; forward and both gradients against the float64 kernel on the same float32
// inputs, at MaxViT's partition (P = 7, N = 49, D = 32, window and grid) and the Fashion-MNIST model's (P = 2,
// N = 4, D = 16), and against the float64 kernel on the bf16-rounded q, scale k, v, within bounds of the bf16
// operand rounding (2^-9 relative per operand); the results do not depend on the thread count; the
// table-gradient-only call gives the same table gradient. Errors are printed, next to the float32 kernel's for
// scale. Skipped on CPUs without AVX-512 BF16.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ostream>

#include "core/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/fused_bf16.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "support/test_support.h"

namespace cage::test {
namespace {

using kernels::AttentionPartition;

struct Case {
  const char* name;
  int64_t B, H, W, C, heads, P;
  AttentionPartition kind;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const Case kCases[] = {
    {"window_14x21_P7_D32", 2, 14, 21, 64, 2, 7, AttentionPartition::window},
    {"grid_14x21_P7_D32", 2, 14, 21, 64, 2, 7, AttentionPartition::grid},
    {"window_8x12_P2_D16", 2, 8, 12, 32, 2, 2, AttentionPartition::window},
    {"grid_8x12_P2_D16", 2, 8, 12, 32, 2, 2, AttentionPartition::grid},
};

kernels::RelposAttentionParams params(const Case& c) {
  kernels::RelposAttentionParams p;
  p.kind = c.kind, p.partition = c.P, p.heads = c.heads, p.scale = 1.0 / std::sqrt(static_cast<double>(c.C / c.heads));
  return p;
}

struct Result {
  Tensor out, gqkv, gtable;
};

// Forward and backward of the kernels:: entries in the current precision, dtype of the inputs.
Result run(const Tensor& qkv, const Tensor& table, const Tensor& gout, const kernels::RelposAttentionParams& p) {
  Result r;
  r.out = Tensor::empty(gout.shape(), qkv.dtype());
  r.gqkv = Tensor::empty(qkv.shape(), qkv.dtype());
  r.gtable = Tensor::empty(table.shape(), qkv.dtype());
  kernels::relpos_attention_forward(qkv, table, p, r.out);
  kernels::relpos_attention_backward(qkv, table, gout, p, r.gqkv, r.gtable);
  return r;
}

// The float32 inputs with q, scale * k and v rounded to bf16 as the bf16 kernels round them (k divided by the
// scale again in float64, where the kernel multiplies it back), as float64: the reference of the rounding model.
Tensor rounded_inputs(const Tensor& qkv, int64_t C, double scale) {
  Tensor r = qkv.to(DType::f64);
  const float* x = qkv.data<float>();
  double* y = r.data<double>();
  const float s = static_cast<float>(scale);
  for (int64_t i = 0; i < qkv.numel(); ++i) {
    const bool is_k = i % (3 * C) >= C && i % (3 * C) < 2 * C;
    const float v = is_k ? x[i] * s : x[i];
    const double b = kernels::round_to_bf16(&v, 1)[0];
    y[i] = is_k ? b / scale : b;
  }
  return r;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && std::memcmp(a.data<float>(), b.data<float>(), sizeof(float) * a.numel()) == 0;
}

// max |x - ref| / max |ref|: the error relative to the tensor's scale, what operand rounding produces.
double scaled_err(const Tensor& x, const Tensor& ref) {
  Tensor r = ref.to(DType::f64);
  const double* p = r.data<double>();
  double mx = 0;
  for (int64_t i = 0; i < r.numel(); ++i) mx = std::max(mx, std::fabs(p[i]));
  return compare(x.to(DType::f64), r, 0, 0).max_abs / mx;
}

class AttentionBf16 : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionBf16, MatchesFloat64WithinBf16Rounding) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  const Case& c = GetParam();
  const kernels::RelposAttentionParams p = params(c);
  Philox rng(31);
  Tensor qkv = random_tensor({c.B, c.H, c.W, 3 * c.C}, rng, -3, 3);
  Tensor table = random_tensor({(2 * c.P - 1) * (2 * c.P - 1), c.heads}, rng, -2, 2);
  Tensor gout = random_tensor({c.B, c.H, c.W, c.C}, rng, -1, 1);
  const Result f64 = run(qkv.to(DType::f64), table.to(DType::f64), gout.to(DType::f64), p);
  const Result f32 = run(qkv, table, gout, p);
  const Result r64 = run(rounded_inputs(qkv, c.C, p.scale), table.to(DType::f64), gout.to(DType::f64), p);
  Result bf;
  {
    kernels::GemmPrecisionScope scope(kernels::GemmPrecision::bf16);
    bf = run(qkv, table, gout, p);
  }
  // The forward is the inference kernel itself.
  Tensor direct = Tensor::empty(gout.shape());
  kernels::relpos_attention_forward_bf16(c.B, c.H, c.W, c.C, qkv.data<float>(), table.data<float>(), p,
                                         direct.data<float>());
  EXPECT_TRUE(same_bits(bf.out, direct)) << c.name;

  const double e_out = scaled_err(bf.out, f64.out), e_gqkv = scaled_err(bf.gqkv, f64.gqkv),
               e_gtab = scaled_err(bf.gtable, f64.gtable);
  std::printf("[bf16 vs f64] %-20s out %.2e  grad.qkv %.2e  grad.table %.2e   (f32: %.1e %.1e %.1e; of max |ref|)\n",
              c.name, e_out, e_gqkv, e_gtab, scaled_err(f32.out, f64.out), scaled_err(f32.gqkv, f64.gqkv),
              scaled_err(f32.gtable, f64.gtable));
  // Against float64 of the bf16-rounded q, scale k, v: what remains is the rounding of the probabilities, dO and
  // dS (2^-9 relative each) and fp32 accumulation.
  const double r_out = scaled_err(bf.out, r64.out), r_gqkv = scaled_err(bf.gqkv, r64.gqkv),
               r_gtab = scaled_err(bf.gtable, r64.gtable);
  std::printf("[bf16 vs f64 of rounded q, k, v] %-20s out %.2e  grad.qkv %.2e  grad.table %.2e\n", c.name, r_out,
              r_gqkv, r_gtab);
  // Measured, scaled errors. Against float64 of the float32 inputs: out 0.9-1.4e-2, grad.qkv 0.6-1.4e-2,
  // grad.table 3-9e-3, dominated by q and k rounded to bf16 (2^-9 relative) amplified by logits of a few units:
  // the forward's own rounding, as in any bf16 attention. Against float64 of the rounded q, k, v: out 1.1-1.5e-3,
  // grad.qkv 2.1-3.3e-3, grad.table 1.3-2.0e-3 (0.3-0.85 of 2^-8). Bounds 2^-5 and 2^-7, well under the O(1) of a
  // wrong layout or a lost term.
  EXPECT_LT(e_out, 0x1p-5) << c.name;
  EXPECT_LT(e_gqkv, 0x1p-5) << c.name;
  EXPECT_LT(e_gtab, 0x1p-5) << c.name;
  EXPECT_LT(r_out, 0x1p-7) << c.name;
  EXPECT_LT(r_gqkv, 0x1p-7) << c.name;
  EXPECT_LT(r_gtab, 0x1p-7) << c.name;
  // Element-wise too, relative to each tensor's scale, so no single element hides behind the maximum.
  auto scale_of = [](const Tensor& t) { return compare(t, Tensor::zeros(t.shape(), t.dtype()), 0, 0).max_abs; };
  EXPECT_TRUE(allclose(bf.out.to(DType::f64), r64.out, 0x1p-7 * scale_of(r64.out), 0x1p-7)) << c.name;
  EXPECT_TRUE(allclose(bf.gqkv.to(DType::f64), r64.gqkv, 0x1p-7 * scale_of(r64.gqkv), 0x1p-7)) << c.name;
  EXPECT_TRUE(allclose(bf.gtable.to(DType::f64), r64.gtable, 0x1p-7 * scale_of(r64.gtable), 0x1p-7)) << c.name;
}

TEST_P(AttentionBf16, SameBitsAtOneAndTwoThreadsAndTableOnly) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  const Case& c = GetParam();
  const kernels::RelposAttentionParams p = params(c);
  Philox rng(32);
  Tensor qkv = random_tensor({c.B, c.H, c.W, 3 * c.C}, rng, -3, 3);
  Tensor table = random_tensor({(2 * c.P - 1) * (2 * c.P - 1), c.heads}, rng, -2, 2);
  Tensor gout = random_tensor({c.B, c.H, c.W, c.C}, rng, -1, 1);
  kernels::GemmPrecisionScope scope(kernels::GemmPrecision::bf16);
  const int saved = num_threads();
  set_num_threads(1);
  const Result one = run(qkv, table, gout, p);
  set_num_threads(2);
  const Result two = run(qkv, table, gout, p);
  Tensor gtable_only = Tensor::empty(table.shape());
  kernels::relpos_attention_backward(qkv, table, gout, p, Tensor(), gtable_only);
  set_num_threads(saved);
  EXPECT_TRUE(same_bits(one.out, two.out)) << c.name;
  EXPECT_TRUE(same_bits(one.gqkv, two.gqkv)) << c.name;
  EXPECT_TRUE(same_bits(one.gtable, two.gtable)) << c.name;
  EXPECT_TRUE(same_bits(one.gtable, gtable_only)) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionBf16, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace cage::test
