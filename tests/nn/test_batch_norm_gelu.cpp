// The fused training-mode BatchNorm + GELU (nn::batch_norm2d_gelu) against float64 loops written here on the same
// float32 data (statistics by a two-pass sum in long double, GELU through libm's erf), against the unfused
// composition gelu(batch_norm2d(...)) in float32, and its independence of the thread count. Odd shapes, a mean
// far from zero (30, std 2) so that a careless variance would show, and a row count spanning several blocks of
// the statistics pass. Errors are printed next to the tolerances. All of it again under bf16 mixed precision,
// whose GELU and GELU' are the bf16 path's polynomials.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "core/philox.h"
#include "core/thread_pool.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/norm.h"
#include "nn/functional.h"
#include "support/test_support.h"

namespace cage::test {
namespace {

struct Case {
  Shape shape;  // NHWC
  double shift;
};

Tensor random_f32(const Shape& s, Philox& rng, double scale, double shift) {
  Tensor t = Tensor::empty(s, DType::f32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(shift + scale * (2 * rng.uniform_double() - 1));
  return t;
}

// max |got - want| / (1 + |want|) over all elements
double rel_err(const Tensor& got, const std::vector<double>& want) {
  double e = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    e = std::max(e, std::abs(got.data<float>()[i] - want[i]) / (1 + std::abs(want[i])));
  return e;
}
double rel_err(const Tensor& got, const Tensor& want) {
  std::vector<double> w(want.data<float>(), want.data<float>() + want.numel());
  return rel_err(got, w);
}

struct Result {
  Tensor y, gx, gw, gb, rm, rv;
};

Result run(bool fused, const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& gy) {
  const int64_t C = x0.size(3);
  Result r;
  Tensor x = x0.clone(), w = w0.clone(), b = b0.clone();
  for (Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
  r.rm = Tensor::full({C}, 0.25);
  r.rv = Tensor::full({C}, 1.5);
  r.y = fused ? nn::batch_norm2d_gelu(x, w, b, r.rm, r.rv, true, 0.1, 1e-3)
              : nn::gelu(nn::batch_norm2d(x, w, b, r.rm, r.rv, true, 0.1, 1e-3));
  nn::sum(nn::mul(r.y, gy)).backward();
  r.y = r.y.detach();
  r.gx = x.grad();
  r.gw = w.grad();
  r.gb = b.grad();
  return r;
}

// tag: printed with the errors; the tolerances hold for both GELUs (float32's erf polynomial, |error| 1.5e-7, and
// the bf16 mixed-precision polynomials, 3.2e-6 for GELU and 1.1e-6 for its derivative).
void check_against_float64_and_composition(const char* tag) {
  const Case cases[] = {{{2, 9, 7, 5}, 1.5}, {{3, 37, 29, 24}, 30.0}, {{5, 11, 13, 67}, -0.5}};
  Philox rng(21, 0);
  for (const Case& cs : cases) {
    const int64_t C = cs.shape[3];
    Tensor x = random_f32(cs.shape, rng, 2.0, cs.shift), w = random_f32({C}, rng, 0.5, 1.0),
           b = random_f32({C}, rng, 1.0, 0.0), gy = random_f32(cs.shape, rng, 1.0, 0.0);
    const int64_t rows = x.numel() / C;
    const float* xp = x.data<float>();
    const float* gp = gy.data<float>();
    // float64 reference
    std::vector<double> mean(C, 0), invstd(C), var(C, 0), y(x.numel()), gz(x.numel()), xhat(x.numel());
    std::vector<double> sgz(C, 0), sgzx(C, 0), gx(x.numel()), rm(C), rv(C);
    for (int64_t c = 0; c < C; ++c) {
      long double s = 0, ss = 0;
      for (int64_t r = 0; r < rows; ++r) s += xp[r * C + c];
      long double m = s / rows;
      for (int64_t r = 0; r < rows; ++r) ss += (xp[r * C + c] - m) * (xp[r * C + c] - m);
      mean[c] = static_cast<double>(m);
      var[c] = static_cast<double>(ss / rows);
      invstd[c] = 1.0 / std::sqrt(var[c] + 1e-3);
      rm[c] = 0.9 * 0.25 + 0.1 * mean[c];
      rv[c] = 0.9 * 1.5 + 0.1 * static_cast<double>(ss / (rows - 1));
    }
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = i % C;
      xhat[i] = (xp[i] - mean[c]) * invstd[c];
      double z = xhat[i] * w.data<float>()[c] + b.data<float>()[c];
      double cdf = 0.5 * (1 + std::erf(z / std::sqrt(2.0)));
      y[i] = z * cdf;
      gz[i] = gp[i] * (cdf + z * std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI));
      sgz[c] += gz[i];
      sgzx[c] += gz[i] * xhat[i];
    }
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = i % C;
      gx[i] = w.data<float>()[c] * invstd[c] * (gz[i] - sgz[c] / rows - xhat[i] * sgzx[c] / rows);
    }

    Result f = run(true, x, w, b, gy), u = run(false, x, w, b, gy);
    // Forward and gradients: float32 rounding of z = x * a + shift (at mean 30, |x * a| ~ 40 cancels against the
    // shift: ~eps32 * 40 = 5e-6), of GELU's polynomial (PyTorch's erf, |error| 1.5e-7), and the input gradient's
    // cancellation (two means subtracted over N*H*W rows).
    struct Check {
      const char* what;
      double err_ref, err_unfused, tol;
    } checks[] = {
        {"y", rel_err(f.y, y), rel_err(f.y, u.y), 1e-5},
        {"grad x", rel_err(f.gx, gx), rel_err(f.gx, u.gx), 2e-5},
        {"grad weight", rel_err(f.gw, sgzx), rel_err(f.gw, u.gw), 2e-5},
        {"grad bias", rel_err(f.gb, sgz), rel_err(f.gb, u.gb), 2e-5},
        {"running_mean", rel_err(f.rm, rm), rel_err(f.rm, u.rm), 1e-6},
        {"running_var", rel_err(f.rv, rv), rel_err(f.rv, u.rv), 1e-6},
    };
    for (const Check& k : checks) {
      std::printf("[%s] %-16s %-12s vs float64 %.2e, vs unfused %.2e (tol %.0e)\n", tag, shape_str(cs.shape).c_str(),
                  k.what, k.err_ref, k.err_unfused, k.tol);
      EXPECT_LE(k.err_ref, k.tol) << k.what << " " << shape_str(cs.shape);
      EXPECT_LE(k.err_unfused, k.tol) << k.what << " " << shape_str(cs.shape);
    }

    // The kernel's float64 statistics (what the GPU kernels are checked against) against the long-double sums.
    Tensor yk = Tensor::empty(cs.shape, DType::f32);
    Tensor mk = Tensor::empty({C}, DType::f64), ik = Tensor::empty({C}, DType::f64);
    kernels::batch_norm_gelu_forward(x, w, b, Tensor(), Tensor(), 0.1, 1e-3, yk, mk, ik);
    double em = 0, ei = 0;
    for (int64_t c = 0; c < C; ++c) {
      em = std::max(em, std::abs(mk.data<double>()[c] - mean[c]) / (1 + std::abs(mean[c])));
      ei = std::max(ei, std::abs(ik.data<double>()[c] - invstd[c]) / invstd[c]);
    }
    std::printf("[%s] %-16s mean %.2e, invstd %.2e (tol 1e-13)\n", tag, shape_str(cs.shape).c_str(), em, ei);
    EXPECT_LE(em, 1e-13);
    EXPECT_LE(ei, 1e-13);
  }
}

TEST(BatchNormGelu, MatchesFloat64AndComposition) { check_against_float64_and_composition("bn_gelu"); }

// Under bf16 mixed precision both the fused op and the composition's element-wise GELU take the bf16 path's
// polynomials (kernels/fused_bf16.h); the same float64 reference and tolerances.
TEST(BatchNormGelu, Bf16MixedPrecisionMatchesFloat64AndComposition) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  kernels::GemmPrecisionScope mixed(kernels::GemmPrecision::bf16);
  check_against_float64_and_composition("bn_gelu bf16");
}

void expect_independent_of_thread_count() {
  Philox rng(22, 0);
  Tensor x = random_f32({4, 23, 19, 40}, rng, 2.0, 3.0), w = random_f32({40}, rng, 0.5, 1.0),
         b = random_f32({40}, rng, 1.0, 0.0), gy = random_f32({4, 23, 19, 40}, rng, 1.0, 0.0);
  const int saved = num_threads();
  std::vector<Result> results;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    results.push_back(run(true, x, w, b, gy));
  }
  set_num_threads(saved);
  for (auto member : {&Result::y, &Result::gx, &Result::gw, &Result::gb, &Result::rm, &Result::rv})
    EXPECT_TRUE(allclose(results[0].*member, results[1].*member, 0, 0)) << "result depends on the thread count";
}

TEST(BatchNormGelu, IndependentOfThreadCount) { expect_independent_of_thread_count(); }

TEST(BatchNormGelu, Bf16MixedPrecisionIndependentOfThreadCount) {
  if (!kernels::bf16_gemm_supported()) GTEST_SKIP() << "CPU without AVX-512 BF16";
  kernels::GemmPrecisionScope mixed(kernels::GemmPrecision::bf16);
  expect_independent_of_thread_count();
}

}  // namespace
}  // namespace cage::test
