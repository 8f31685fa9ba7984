// torchvision 0.14's geometric transforms for PIL images, on top of Pillow's engines (data/resample_pil.cpp).
#include "data/transforms_geometric.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numbers>
#include <vector>

#include "core/error.h"
#include "data/resample_pil.h"

namespace cage::data {

namespace {

pil::Filter to_filter(Interpolation interpolation) {
  switch (interpolation) {
    case Interpolation::nearest: return pil::Filter::nearest;
    case Interpolation::bilinear: return pil::Filter::bilinear;
    case Interpolation::bicubic: return pil::Filter::bicubic;
  }
  fail("unknown interpolation");
}

void check_image(const Image& image, const char* what) {
  CAGE_CHECK(image.height > 0 && image.width > 0 && (image.channels == 1 || image.channels == 3) &&
                 image.pixels.size() == static_cast<size_t>(image.height * image.width * image.channels),
             what, ": bad image ", image.height, "x", image.width, "x", image.channels, " (", image.pixels.size(),
             " bytes)");
}

// Python's float % (the result takes the sign of the divisor): PIL reduces the angle with it before anything else.
double python_mod(double x, double m) {
  double r = std::fmod(x, m);
  if (r != 0.0) {
    if ((m < 0) != (r < 0)) r += m;
  } else {
    r = std::copysign(0.0, m);
  }
  return r;
}

// Python's round(x, 15): correctly rounded to 15 decimals, ties to even. glibc's printf rounds the exact binary
// value the same way, and strtod reads the decimal back correctly rounded, as CPython's dtoa does.
double python_round15(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15f", x);
  return std::strtod(buf, nullptr);
}

// torchvision solves the 8x8 system with torch.linalg.lstsq(driver="gels") in float32, which on Debian's torch is
// OpenBLAS's LAPACK sgels: calling the same routine on the same float32 matrix gives the same coefficients bit
// for bit (a float64 solve differs by ~1e-4 px in the sampled coordinates, enough to flip pixels on the warped
// image's border between the image and the fill).
extern "C" void sgels_(const char* trans, const int* m, const int* n, const int* nrhs, float* a, const int* lda,
                       float* b, const int* ldb, float* work, const int* lwork, int* info, size_t trans_len);

std::array<float, 8> solve8_sgels(const std::array<std::array<float, 8>, 8>& rows, std::array<float, 8> b) {
  std::array<float, 64> a;  // column-major, as LAPACK (and torch, which hands LAPACK a Fortran-ordered copy) has it
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) a[c * 8 + r] = rows[r][c];
  const int n = 8, nrhs = 1;
  int info = 0, lwork = -1;
  float query = 0;
  sgels_("N", &n, &n, &nrhs, a.data(), &n, b.data(), &n, &query, &lwork, &info, 1);  // workspace query, as torch
  CAGE_CHECK(info == 0, "perspective: LAPACK sgels workspace query failed (info ", info, ")");
  lwork = std::max(1, static_cast<int>(query));
  std::vector<float> work(static_cast<size_t>(lwork));
  sgels_("N", &n, &n, &nrhs, a.data(), &n, b.data(), &n, work.data(), &lwork, &info, 1);
  CAGE_CHECK(info == 0, "perspective: the corner points are degenerate (sgels info ", info, ")");
  return b;
}

}  // namespace

Size2 resized_size_shorter(int64_t height, int64_t width, int64_t size) {
  CAGE_CHECK(height > 0 && width > 0 && size > 0, "resize: bad sizes (image ", height, "x", width, ", size ", size, ")");
  const bool wide = width > height;  // torchvision: short = w when w <= h
  const int64_t shorter = wide ? height : width, longer = wide ? width : height;
  // int(size * long / short): Python's true division, then truncation.
  const auto new_long = static_cast<int64_t>(static_cast<double>(size * longer) / static_cast<double>(shorter));
  return wide ? Size2{size, new_long} : Size2{new_long, size};
}

Image resize(const Image& image, int64_t height, int64_t width, Interpolation interpolation, bool antialias) {
  check_image(image, "resize");
  if (height == image.height && width == image.width) return image;  // torchvision returns the input unchanged
  return pil::resample(image, height, width, to_filter(interpolation), antialias);
}

Image resize_shorter(const Image& image, int64_t size, Interpolation interpolation, bool antialias) {
  check_image(image, "resize");
  const Size2 s = resized_size_shorter(image.height, image.width, size);
  return resize(image, s.height, s.width, interpolation, antialias);
}

Image crop(const Image& image, int64_t top, int64_t left, int64_t height, int64_t width) {
  check_image(image, "crop");
  CAGE_CHECK(height > 0 && width > 0, "crop: empty window ", height, "x", width);
  Image out(height, width, image.channels);  // zero-filled
  const int64_t y0 = std::max<int64_t>(top, 0), y1 = std::min(top + height, image.height);
  const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min(left + width, image.width);
  for (int64_t y = y0; y < y1; ++y)
    if (x1 > x0)
      std::memcpy(out.row(y - top) + (x0 - left) * image.channels, image.row(y) + x0 * image.channels,
                  static_cast<size_t>((x1 - x0) * image.channels));
  return out;
}

Image crop_clipped(const Image& image, int64_t x1, int64_t y1, int64_t x2, int64_t y2) {
  check_image(image, "crop");
  const int64_t left = std::max<int64_t>(x1, 0), top = std::max<int64_t>(y1, 0);
  const int64_t right = std::min(x2, image.width), bottom = std::min(y2, image.height);
  CAGE_CHECK(right > left && bottom > top, "crop: box [", x1, ", ", y1, ", ", x2, ", ", y2,
             "] does not overlap the ", image.width, "x", image.height, " image");
  return crop(image, top, left, bottom - top, right - left);
}

Image center_crop(const Image& image, int64_t height, int64_t width) {
  check_image(image, "center_crop");
  CAGE_CHECK(height > 0 && width > 0, "center_crop: bad size ", height, "x", width);
  // Padding first (floor half on the left/top), then the offset in the padded image; both compose into one crop.
  const int64_t pad_left = width > image.width ? (width - image.width) / 2 : 0;
  const int64_t pad_top = height > image.height ? (height - image.height) / 2 : 0;
  const int64_t padded_w = std::max(width, image.width), padded_h = std::max(height, image.height);
  // int(round((size - crop) / 2.0)): Python rounds half to even, as nearbyint does in the default rounding mode.
  const auto top = static_cast<int64_t>(std::nearbyint(static_cast<double>(padded_h - height) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint(static_cast<double>(padded_w - width) / 2.0));
  return crop(image, top - pad_top, left - pad_left, height, width);
}

Image hflip(const Image& image) {
  check_image(image, "hflip");
  Image out(image.height, image.width, image.channels);
  const int64_t ch = image.channels;
  for (int64_t y = 0; y < image.height; ++y) {
    const uint8_t* src = image.row(y);
    uint8_t* dst = out.row(y) + (image.width - 1) * ch;
    if (ch == 3) {  // the common case, with a constant-size copy
      for (int64_t x = 0; x < image.width; ++x, src += 3, dst -= 3) std::memcpy(dst, src, 3);
    } else {
      for (int64_t x = 0; x < image.width; ++x, src += ch, dst -= ch) std::memcpy(dst, src, static_cast<size_t>(ch));
    }
  }
  return out;
}

Image rotate(const Image& image, double degrees, Interpolation interpolation) {
  check_image(image, "rotate");
  // PIL's Image.rotate, expand=False, center=None, translate=None.
  double angle = python_mod(degrees, 360.0);
  const int64_t w = image.width, h = image.height;
  if (angle == 0) return image;
  if (angle == 180) return pil::rotate_quarter(image, 2);
  if ((angle == 90 || angle == 270) && w == h) return pil::rotate_quarter(image, angle == 90 ? 1 : 3);
  const double cx = w / 2.0, cy = h / 2.0;
  constexpr double deg_to_rad = std::numbers::pi / 180.0;  // CPython's math.radians multiplies by this constant
  angle = -(angle * deg_to_rad);
  std::array<double, 6> m = {python_round15(std::cos(angle)),  python_round15(std::sin(angle)), 0.0,
                             python_round15(-std::sin(angle)), python_round15(std::cos(angle)), 0.0};
  // matrix[2], matrix[5] = transform(-cx, -cy, matrix); then += centre.
  const double c = m[0] * -cx + m[1] * -cy + m[2];
  const double f = m[3] * -cx + m[4] * -cy + m[5];
  m[2] = c + cx;
  m[5] = f + cy;
  return pil::transform_affine(image, h, w, m, to_filter(interpolation));
}

PerspectiveCoeffs perspective_coeffs(const Quad& startpoints, const Quad& endpoints) {
  // torchvision fills float32 tensors from Python floats: products are formed in double, then rounded.
  std::array<std::array<float, 8>, 8> rows{};
  std::array<float, 8> b{};
  for (int i = 0; i < 4; ++i) {
    const Point& p1 = endpoints[i];
    const Point& p2 = startpoints[i];
    auto f = [](double v) { return static_cast<float>(v); };
    rows[2 * i] = {f(p1.x), f(p1.y), 1, 0, 0, 0, f(-p2.x * p1.x), f(-p2.x * p1.y)};
    rows[2 * i + 1] = {0, 0, 0, f(p1.x), f(p1.y), 1, f(-p2.y * p1.x), f(-p2.y * p1.y)};
    b[2 * i] = f(p2.x);
    b[2 * i + 1] = f(p2.y);
  }
  const std::array<float, 8> x = solve8_sgels(rows, b);
  PerspectiveCoeffs out;
  for (int i = 0; i < 8; ++i) out[i] = x[i];  // float32 values, widened as torch's .tolist() does
  return out;
}

Image perspective(const Image& image, const PerspectiveCoeffs& coeffs, Interpolation interpolation) {
  check_image(image, "perspective");
  return pil::transform_perspective(image, image.height, image.width, coeffs, to_filter(interpolation));
}

Image perspective(const Image& image, const Quad& startpoints, const Quad& endpoints, Interpolation interpolation) {
  return perspective(image, perspective_coeffs(startpoints, endpoints), interpolation);
}

int64_t random_int(Philox& rng, int64_t low, int64_t high) {
  CAGE_CHECK(high > low && high - low <= (int64_t(1) << 32), "random_int: bad range [", low, ", ", high, ")");
  // Lemire's multiply-shift with rejection: exactly uniform over n values.
  const uint64_t n = static_cast<uint64_t>(high - low);
  if (n == (uint64_t(1) << 32)) return low + rng.next_u32();
  uint64_t m = static_cast<uint64_t>(rng.next_u32()) * n;
  if (static_cast<uint32_t>(m) < n) {
    const uint32_t threshold = static_cast<uint32_t>((uint64_t(1) << 32) % n);
    while (static_cast<uint32_t>(m) < threshold) m = static_cast<uint64_t>(rng.next_u32()) * n;
  }
  return low + static_cast<int64_t>(m >> 32);
}

Image RandomHorizontalFlip::operator()(const Image& image, Philox& rng) const {
  return rng.uniform() < p ? hflip(image) : image;
}

double RandomRotation::sample_angle(double min_degrees, double max_degrees, Philox& rng) {
  CAGE_CHECK(min_degrees <= max_degrees, "RandomRotation: degrees [", min_degrees, ", ", max_degrees, "]");
  const float u = rng.uniform();
  return static_cast<float>(static_cast<float>(min_degrees) + u * static_cast<float>(max_degrees - min_degrees));
}

Image RandomRotation::operator()(const Image& image, Philox& rng) const {
  return rotate(image, sample_angle(min_degrees, max_degrees, rng), interpolation);
}

RandomPerspective::Params RandomPerspective::get_params(int64_t width, int64_t height, double distortion_scale,
                                                        Philox& rng) {
  CAGE_CHECK(width > 0 && height > 0 && distortion_scale >= 0 && distortion_scale <= 1,
             "RandomPerspective: bad parameters (", width, "x", height, ", distortion ", distortion_scale, ")");
  const int64_t half_height = height / 2, half_width = width / 2;
  const auto dw = static_cast<int64_t>(distortion_scale * half_width);
  const auto dh = static_cast<int64_t>(distortion_scale * half_height);
  auto pt = [](int64_t x, int64_t y) { return Point{static_cast<double>(x), static_cast<double>(y)}; };
  Params params;
  // Draw order matters for reproducibility: x before y, corners clockwise from the top-left.
  const int64_t tlx = random_int(rng, 0, dw + 1), tly = random_int(rng, 0, dh + 1);
  const int64_t trx = random_int(rng, width - dw - 1, width), try_ = random_int(rng, 0, dh + 1);
  const int64_t brx = random_int(rng, width - dw - 1, width), bry = random_int(rng, height - dh - 1, height);
  const int64_t blx = random_int(rng, 0, dw + 1), bly = random_int(rng, height - dh - 1, height);
  params.startpoints = {pt(0, 0), pt(width - 1, 0), pt(width - 1, height - 1), pt(0, height - 1)};
  params.endpoints = {pt(tlx, tly), pt(trx, try_), pt(brx, bry), pt(blx, bly)};
  return params;
}

Image RandomPerspective::operator()(const Image& image, Philox& rng) const {
  if (!(rng.uniform() < p)) return image;
  // A 1-pixel-wide or -high image has collinear corners: torchvision's solve fails on it; leave it as it is.
  if (image.width < 2 || image.height < 2) return image;
  const Params params = get_params(image.width, image.height, distortion_scale, rng);
  return perspective(image, params.startpoints, params.endpoints, interpolation);
}

}  // namespace cage::data
