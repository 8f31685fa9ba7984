// Pillow 9.4's Resample.c (ImagingResample, 8 bits per channel) and Geometry.c (ImagingTransform with the nearest,
// bilinear and bicubic filters). Expressions keep Pillow's order of operations: the outputs are compared with
// Pillow's bit for bit, and the project builds with -ffp-contract=off so no FMA changes a rounding.
#include "data/resample_pil.h"

#include <cmath>
#include <vector>

#include "core/error.h"

namespace cage::data::pil {

namespace {

// ---- Resample.c -------------------------------------------------------------------------------------------

// 8 bits of result, 2 of headroom for the negative lobes of bicubic: 22 fractional bits in an int accumulator.
constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear_kernel(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic_kernel(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

uint8_t clip8(int v) {
  const int q = v >> kPrecisionBits;  // arithmetic shift: floor
  return static_cast<uint8_t>(q < 0 ? 0 : q > 255 ? 255 : q);
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;   // (xmin, count) per output position
  std::vector<int32_t> k;    // ksize fixed-point weights per output position
};

// precompute_coeffs + normalize_coeffs_8bpc. `in0`, `in1` are floats as in Pillow (the resize box).
Coeffs precompute_coeffs(int in_size, float in0, float in1, int out_size, Filter filter, bool antialias) {
  const double base_support = filter == Filter::bicubic ? 2.0 : 1.0;
  double filterscale, scale;
  filterscale = scale = static_cast<double>(in1 - in0) / out_size;
  if (filterscale < 1.0 || !antialias) filterscale = 1.0;
  const double support = base_support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(static_cast<size_t>(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; ++x) {
      const double arg = (x + xmin - center + 0.5) * ss;
      w[x] = filter == Filter::bicubic ? bicubic_kernel(arg) : bilinear_kernel(arg);
      ww += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) w[x] /= ww;
      const double scaled = w[x] * (1 << kPrecisionBits);
      c.k[static_cast<size_t>(xx) * c.ksize + x] = static_cast<int32_t>(w[x] < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    c.bounds[2 * xx] = xmin;
    c.bounds[2 * xx + 1] = xmax;
  }
  return c;
}

// Rows [row0, row0 + out.height) of `in`, resampled along x. C as in copy_pixel (0: any channel count, up to 4).
template <int C>
void resample_horizontal_c(Image& out, const Image& in, int64_t row0, const Coeffs& c) {
  const int64_t ch = C > 0 ? C : in.channels;
  for (int64_t yy = 0; yy < out.height; ++yy) {
    const uint8_t* src = in.row(yy + row0);
    uint8_t* dst = out.row(yy);
    for (int64_t xx = 0; xx < out.width; ++xx) {
      const int xmin = c.bounds[2 * xx], xmax = c.bounds[2 * xx + 1];
      const int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
      int ss[4] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1),
                   1 << (kPrecisionBits - 1)};
      const uint8_t* p = src + xmin * ch;
      for (int x = 0; x < xmax; ++x, p += ch)
        for (int64_t b = 0; b < ch; ++b) ss[b] += p[b] * k[x];
      for (int64_t b = 0; b < ch; ++b) dst[xx * ch + b] = clip8(ss[b]);
    }
  }
}

void resample_horizontal(Image& out, const Image& in, int64_t row0, const Coeffs& c) {
  if (in.channels == 3) return resample_horizontal_c<3>(out, in, row0, c);
  if (in.channels == 1) return resample_horizontal_c<1>(out, in, row0, c);
  CAGE_CHECK(in.channels <= 4, "resize: ", in.channels, " channels (at most 4)");
  resample_horizontal_c<0>(out, in, row0, c);
}

void resample_vertical(Image& out, const Image& in, const Coeffs& c) {
  const int64_t n = out.width * out.channels;
  std::vector<int> ss(static_cast<size_t>(n));
  for (int64_t yy = 0; yy < out.height; ++yy) {
    const int ymin = c.bounds[2 * yy], ymax = c.bounds[2 * yy + 1];
    const int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    for (auto& s : ss) s = 1 << (kPrecisionBits - 1);
    for (int y = 0; y < ymax; ++y) {
      const uint8_t* src = in.row(y + ymin);
      for (int64_t i = 0; i < n; ++i) ss[i] += src[i] * k[y];
    }
    uint8_t* dst = out.row(yy);
    for (int64_t i = 0; i < n; ++i) dst[i] = clip8(ss[i]);
  }
}

// ---- Geometry.c -------------------------------------------------------------------------------------------

int coord(double v) { return v < 0.0 ? -1 : static_cast<int>(v); }
int floor_int(double v) { return v < 0.0 ? static_cast<int>(std::floor(v)) : static_cast<int>(v); }

// C > 0: the channel count known at compile time (1 and 3 are the hot cases); C == 0: read it from the image.
template <int C = 0>
void copy_pixel(uint8_t* dst, const Image& in, int64_t y, int64_t x) {
  const int64_t ch = C > 0 ? C : in.channels;
  const uint8_t* src = in.row(y) + x * ch;
  for (int64_t b = 0; b < ch; ++b) dst[b] = src[b];
}

// ImagingScaleAffine: nearest neighbour for a pure scale + shift; positions accumulate by repeated addition.
template <int C>
Image scale_affine_c(const Image& in, int64_t out_h, int64_t out_w, const std::array<double, 6>& a) {
  Image out(out_h, out_w, in.channels);  // zero-filled: the fill
  std::vector<int> xintab(static_cast<size_t>(out_w));
  double xo = a[2] + a[0] * 0.5;
  double yo = a[5] + a[4] * 0.5;
  int64_t xmin = out_w, xmax = 0;
  for (int64_t x = 0; x < out_w; ++x) {
    const int xin = coord(xo);
    if (xin >= 0 && xin < in.width) {
      xmax = x + 1;
      if (x < xmin) xmin = x;
      xintab[x] = xin;
    }
    xo += a[0];
  }
  for (int64_t y = 0; y < out_h; ++y) {
    const int yi = coord(yo);
    if (yi >= 0 && yi < in.height)
      for (int64_t x = xmin; x < xmax; ++x) copy_pixel<C>(out.row(y) + x * in.channels, in, yi, xintab[x]);
    yo += a[4];
  }
  return out;
}

Image scale_affine(const Image& in, int64_t out_h, int64_t out_w, const std::array<double, 6>& a) {
  if (in.channels == 3) return scale_affine_c<3>(in, out_h, out_w, a);
  if (in.channels == 1) return scale_affine_c<1>(in, out_h, out_w, a);
  return scale_affine_c<0>(in, out_h, out_w, a);
}

bool check_fixed(const std::array<double, 6>& a, int64_t x, int64_t y) {
  return std::fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 && std::fabs(x * a[3] + y * a[4] + a[5]) < 32768.0;
}

// affine_fixed: nearest neighbour with 16.16 fixed-point positions, stepped by addition along rows and columns.
template <int C>
Image affine_fixed_c(const Image& in, int64_t out_h, int64_t out_w, const std::array<double, 6>& a) {
  Image out(out_h, out_w, in.channels);
  auto fix = [](double v) { return static_cast<int32_t>(floor_int(v * 65536.0 + 0.5)); };
  const int32_t a0 = fix(a[0]), a1 = fix(a[1]), a3 = fix(a[3]), a4 = fix(a[4]);
  int32_t a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
  int32_t a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
  for (int64_t y = 0; y < out_h; ++y) {
    int32_t xx = a2, yy = a5;
    uint8_t* dst = out.row(y);
    for (int64_t x = 0; x < out_w; ++x) {
      const int32_t xin = xx >> 16;
      if (xin >= 0 && xin < in.width) {
        const int32_t yin = yy >> 16;
        if (yin >= 0 && yin < in.height) copy_pixel<C>(dst + x * in.channels, in, yin, xin);
      }
      xx += a0;
      yy += a3;
    }
    a2 += a1;
    a5 += a4;
  }
  return out;
}

Image affine_fixed(const Image& in, int64_t out_h, int64_t out_w, const std::array<double, 6>& a) {
  if (in.channels == 3) return affine_fixed_c<3>(in, out_h, out_w, a);
  if (in.channels == 1) return affine_fixed_c<1>(in, out_h, out_w, a);
  return affine_fixed_c<0>(in, out_h, out_w, a);
}

// The floating-point fallback of ImagingTransformAffine (coordinates beyond the fixed-point range).
Image affine_float(const Image& in, int64_t out_h, int64_t out_w, const std::array<double, 6>& a) {
  Image out(out_h, out_w, in.channels);
  double xo = a[2] + a[1] * 0.5 + a[0] * 0.5;
  double yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (int64_t y = 0; y < out_h; ++y) {
    double xx = xo, yy = yo;
    for (int64_t x = 0; x < out_w; ++x) {
      const int xin = coord(xx);
      if (xin >= 0 && xin < in.width) {
        const int yin = coord(yy);
        if (yin >= 0 && yin < in.height) copy_pixel(out.row(y) + x * in.channels, in, yin, xin);
      }
      xx += a[0];
      yy += a[3];
    }
    xo += a[1];
    yo += a[4];
  }
  return out;
}

// nearest_filter8/32: the pixel containing (xin, yin).
template <int C>
bool sample_nearest(uint8_t* out, const Image& im, double xin, double yin) {
  const int x = coord(xin), y = coord(yin);
  if (x < 0 || x >= im.width || y < 0 || y >= im.height) return false;
  copy_pixel<C>(out, im, y, x);
  return true;
}

int64_t clip_index(int64_t v, int64_t size) { return v < 0 ? 0 : v < size ? v : size - 1; }

// bilinear_filter8 / bilinear_filter32RGB: edge-clamped taps, result truncated (not rounded) to 8 bits.
template <int C>
bool sample_bilinear(uint8_t* out, const Image& im, double xin, double yin) {
  if (xin < 0.0 || xin >= im.width || yin < 0.0 || yin >= im.height) return false;
  xin -= 0.5;
  yin -= 0.5;
  const int x = floor_int(xin), y = floor_int(yin);
  const double dx = xin - x, dy = yin - y;
  const int64_t ch = C > 0 ? C : im.channels;
  const int64_t x0 = clip_index(x, im.width) * ch, x1 = clip_index(x + 1, im.width) * ch;
  const bool has_y1 = y + 1 >= 0 && y + 1 < im.height;
  for (int64_t b = 0; b < ch; ++b) {
    const uint8_t* in = im.row(clip_index(y, im.height)) + b;
    double v1 = in[x0] + (in[x1] - in[x0]) * dx, v2 = v1;
    if (has_y1) {
      in = im.row(y + 1) + b;
      v2 = in[x0] + (in[x1] - in[x0]) * dx;
    }
    v1 = v1 + (v2 - v1) * dy;
    out[b] = static_cast<uint8_t>(v1);
  }
  return true;
}

double cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2;
  const double p2 = -v1 + v3;
  const double p3 = 2 * (v1 - v2) + v3 - v4;
  const double p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

// bicubic_filter8 / bicubic_filter32RGB (a = -1 in this form), clamped to [0, 255] and truncated.
template <int C>
bool sample_bicubic(uint8_t* out, const Image& im, double xin, double yin) {
  if (xin < 0.0 || xin >= im.width || yin < 0.0 || yin >= im.height) return false;
  xin -= 0.5;
  yin -= 0.5;
  int x = floor_int(xin), y = floor_int(yin);
  const double dx = xin - x, dy = yin - y;
  --x;
  --y;
  const int64_t ch = C > 0 ? C : im.channels;
  int64_t xs[4];
  for (int i = 0; i < 4; ++i) xs[i] = clip_index(x + i, im.width) * ch;
  for (int64_t b = 0; b < ch; ++b) {
    auto row_value = [&](int64_t yy) {
      const uint8_t* in = im.row(yy) + b;
      return cubic(in[xs[0]], in[xs[1]], in[xs[2]], in[xs[3]], dx);
    };
    double v[4];
    v[0] = row_value(clip_index(y, im.height));
    for (int i = 1; i < 4; ++i) v[i] = (y + i >= 0 && y + i < im.height) ? row_value(y + i) : v[i - 1];
    const double r = cubic(v[0], v[1], v[2], v[3], dy);
    out[b] = r <= 0.0 ? 0 : r >= 255.0 ? 255 : static_cast<uint8_t>(r);
  }
  return true;
}

// ImagingGenericTransform: map each output pixel centre, sample; 0 where the sample falls outside.
template <int C, typename Map, typename Sample>
Image generic_transform_c(const Image& in, int64_t out_h, int64_t out_w, Map map, Sample sample) {
  Image out(out_h, out_w, in.channels);  // zero-filled: the fill
  for (int64_t y = 0; y < out_h; ++y) {
    uint8_t* dst = out.row(y);
    for (int64_t x = 0; x < out_w; ++x) {
      double xx, yy;
      map(&xx, &yy, static_cast<int>(x), static_cast<int>(y));
      sample(dst + x * in.channels, in, xx, yy);
    }
  }
  return out;
}

template <int C, typename Map>
Image generic_transform_filter(const Image& in, int64_t out_h, int64_t out_w, Map map, Filter filter) {
  switch (filter) {
    // Lambdas rather than function pointers, so the sampler inlines into the pixel loop.
    case Filter::nearest:
      return generic_transform_c<C>(in, out_h, out_w, map, [](uint8_t* o, const Image& im, double x, double y) {
        return sample_nearest<C>(o, im, x, y);
      });
    case Filter::bilinear:
      return generic_transform_c<C>(in, out_h, out_w, map, [](uint8_t* o, const Image& im, double x, double y) {
        return sample_bilinear<C>(o, im, x, y);
      });
    case Filter::bicubic:
      return generic_transform_c<C>(in, out_h, out_w, map, [](uint8_t* o, const Image& im, double x, double y) {
        return sample_bicubic<C>(o, im, x, y);
      });
  }
  fail("unknown filter");
}

template <typename Map>
Image generic_transform(const Image& in, int64_t out_h, int64_t out_w, Map map, Filter filter) {
  if (in.channels == 3) return generic_transform_filter<3>(in, out_h, out_w, map, filter);
  if (in.channels == 1) return generic_transform_filter<1>(in, out_h, out_w, map, filter);
  return generic_transform_filter<0>(in, out_h, out_w, map, filter);
}

void check_image(const Image& in, int64_t out_h, int64_t out_w, const char* what) {
  CAGE_CHECK(in.height > 0 && in.width > 0 && in.channels > 0 &&
                 in.pixels.size() == static_cast<size_t>(in.height * in.width * in.channels),
             what, ": bad input image ", in.height, "x", in.width, "x", in.channels, " (", in.pixels.size(), " bytes)");
  CAGE_CHECK(out_h > 0 && out_w > 0 && out_h < (int64_t(1) << 24) && out_w < (int64_t(1) << 24), what,
             ": bad output size ", out_h, "x", out_w);
}

}  // namespace

Image resample(const Image& in, int64_t out_height, int64_t out_width, Filter filter, bool antialias) {
  check_image(in, out_height, out_width, "resize");
  const int xsize = static_cast<int>(out_width), ysize = static_cast<int>(out_height);
  if (filter == Filter::nearest) {
    // Pillow's _resize sends NEAREST to the affine engine with a pure scale.
    const std::array<double, 6> a = {static_cast<double>(static_cast<float>(in.width)) / xsize, 0, 0, 0,
                                     static_cast<double>(static_cast<float>(in.height)) / ysize, 0};
    return scale_affine(in, out_height, out_width, a);
  }
  const bool need_horizontal = out_width != in.width, need_vertical = out_height != in.height;
  const Coeffs vert = precompute_coeffs(static_cast<int>(in.height), 0.0f, static_cast<float>(in.height), ysize,
                                        filter, antialias);
  // Only the source rows the vertical pass reads go through the horizontal pass.
  const int ybox_first = vert.bounds[0];
  const int ybox_last = vert.bounds[2 * ysize - 2] + vert.bounds[2 * ysize - 1];
  const Image* src = &in;
  Image tmp;
  Coeffs vert_shifted = vert;
  if (need_horizontal) {
    const Coeffs horiz = precompute_coeffs(static_cast<int>(in.width), 0.0f, static_cast<float>(in.width), xsize,
                                           filter, antialias);
    for (int i = 0; i < ysize; ++i) vert_shifted.bounds[2 * i] -= ybox_first;
    tmp = Image(ybox_last - ybox_first, out_width, in.channels);
    resample_horizontal(tmp, in, ybox_first, horiz);
    src = &tmp;
  }
  if (need_vertical) {
    Image out(out_height, src->width, in.channels);
    resample_vertical(out, *src, vert_shifted);
    return out;
  }
  return *src;
}

Image transform_affine(const Image& in, int64_t out_height, int64_t out_width, const std::array<double, 6>& a,
                       Filter filter) {
  check_image(in, out_height, out_width, "affine transform");
  if (filter != Filter::nearest) {
    auto map = [&a](double* xo, double* yo, int x, int y) {
      const double xin = x + 0.5, yin = y + 0.5;
      *xo = a[0] * xin + a[1] * yin + a[2];
      *yo = a[3] * xin + a[4] * yin + a[5];
    };
    return generic_transform(in, out_height, out_width, map, filter);
  }
  if (a[1] == 0 && a[3] == 0) return scale_affine(in, out_height, out_width, a);
  if (check_fixed(a, 0, 0) && check_fixed(a, out_width, out_height) && check_fixed(a, 0, out_height) &&
      check_fixed(a, out_width, 0))
    return affine_fixed(in, out_height, out_width, a);
  return affine_float(in, out_height, out_width, a);
}

Image transform_perspective(const Image& in, int64_t out_height, int64_t out_width, const std::array<double, 8>& a,
                            Filter filter) {
  check_image(in, out_height, out_width, "perspective transform");
  auto map = [&a](double* xo, double* yo, int x, int y) {
    const double xin = x + 0.5, yin = y + 0.5;
    *xo = (a[0] * xin + a[1] * yin + a[2]) / (a[6] * xin + a[7] * yin + 1);
    *yo = (a[3] * xin + a[4] * yin + a[5]) / (a[6] * xin + a[7] * yin + 1);
  };
  return generic_transform(in, out_height, out_width, map, filter);
}

Image rotate_quarter(const Image& in, int quarters) {
  quarters = ((quarters % 4) + 4) % 4;
  if (quarters == 0) return in;
  const int64_t h = in.height, w = in.width, ch = in.channels;
  Image out = quarters == 2 ? Image(h, w, ch) : Image(w, h, ch);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      // Destination of source pixel (y, x) for ROTATE_90 / 180 / 270 (ImagingRotate90 etc.).
      int64_t oy, ox;
      if (quarters == 1) oy = w - 1 - x, ox = y;
      else if (quarters == 2) oy = h - 1 - y, ox = w - 1 - x;
      else oy = x, ox = h - 1 - y;
      copy_pixel(out.row(oy) + ox * ch, in, y, x);
    }
  return out;
}

}  // namespace cage::data::pil
