// Colour transforms in Pillow 9.4's arithmetic (libImaging/Convert.c, Blend.c; PIL/ImageEnhance.py, ImageStat.py)
// as torchvision 0.14's functional_pil calls them, and torchvision's tensor-stage ToTensor/Normalize/erase.
// The float expressions keep PIL's types on purpose (float here, double there): the results are truncated to
// uint8, so one rounding step more or less moves pixels by one level. The build uses -ffp-contract=off, which
// keeps a * b + c from becoming an FMA that PIL's x86-64 build never does.
#include "data/transforms_color.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/transforms_geometric.h"

namespace cage::data {

namespace {

void check_image(const Image& img, const char* what) {
  CAGE_CHECK(img.channels == 1 || img.channels == 3, what, ": expected 1 or 3 channels, got ", img.channels);
  CAGE_CHECK(img.pixels.size() == static_cast<size_t>(img.height * img.width * img.channels), what,
             ": pixel buffer holds ", img.pixels.size(), " bytes for a ", img.height, "x", img.width, "x",
             img.channels, " image");
}

// Convert.c: L24(rgb) = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16.
inline uint8_t luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
}

// Blend.c, ImagingBlend(im1, im2, alpha): out = in1 + alpha * (in2 - in1) in float, truncated; clamped to [0, 255]
// only when alpha lies outside [0, 1] (inside, the result cannot leave the range).
inline uint8_t blend_u8(int in1, int in2, float alpha, bool extrapolate) {
  float v = static_cast<float>(in1) + alpha * static_cast<float>(in2 - in1);
  if (!extrapolate) return static_cast<uint8_t>(v);
  if (v <= 0.0f) return 0;
  if (v >= 255.0f) return 255;
  return static_cast<uint8_t>(v);
}

inline bool blend_extrapolates(float alpha) { return !(alpha >= 0.0f && alpha <= 1.0f); }

// Blend with a constant degenerate image (brightness: 0, contrast: the mean): one table for all pixels.
Image blend_with_constant(const Image& img, int constant, double factor) {
  float alpha = static_cast<float>(factor);
  if (alpha == 1.0f) return img;
  bool ext = blend_extrapolates(alpha);
  std::array<uint8_t, 256> table;
  for (int v = 0; v < 256; ++v) table[v] = blend_u8(constant, v, alpha, ext);
  Image out(img.height, img.width, img.channels);
  std::transform(img.pixels.begin(), img.pixels.end(), out.pixels.begin(), [&](uint8_t v) { return table[v]; });
  return out;
}

// Convert.c rgb2hsv_row: h and s go through float variables, some intermediate sums through double.
inline void rgb_to_hsv(const uint8_t* in, uint8_t* out) {
  uint8_t r = in[0], g = in[1], b = in[2];
  uint8_t maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
  uint8_t uh = 0, us = 0;
  if (minc != maxc) {
    float cr = static_cast<float>(maxc - minc);
    float s = cr / static_cast<float>(maxc);
    float rc = static_cast<float>(maxc - r) / cr;
    float gc = static_cast<float>(maxc - g) / cr;
    float bc = static_cast<float>(maxc - b) / cr;
    float h;
    if (r == maxc)
      h = bc - gc;
    else if (g == maxc)
      h = static_cast<float>(2.0 + rc - bc);
    else
      h = static_cast<float>(4.0 + gc - rc);
    // fmod(h / 6 + 1, 1) in PIL; the argument lies in [5/6, 11/6], where subtracting 1 is the same exact result
    // without a libm call (a third of the cost of the whole hue adjustment).
    double wrapped = h / 6.0 + 1.0;
    h = static_cast<float>(wrapped >= 1.0 ? wrapped - 1.0 : wrapped);
    uh = static_cast<uint8_t>(std::clamp(static_cast<int>(h * 255.0), 0, 255));
    us = static_cast<uint8_t>(std::clamp(static_cast<int>(s * 255.0), 0, 255));
  }
  out[0] = uh;
  out[1] = us;
  out[2] = maxc;
}

// round() of a non-negative double, half away from zero, without a libm call: x - (int)x is exact.
inline int round_half_away(double x) {
  int t = static_cast<int>(x);
  return t + (x - t >= 0.5);
}

// Convert.c hsv2rgb. i, f depend on h only and fs on s only: tables of 256 computed with PIL's expressions.
struct HsvTables {
  int sector[256];
  float frac[256], sat[256];
  HsvTables() {
    for (int h = 0; h < 256; ++h) {
      sector[h] = static_cast<int>(std::floor(static_cast<float>(h) * 6.0 / 255.0));
      frac[h] = static_cast<float>(static_cast<float>(h) * 6.0 / 255.0 - static_cast<float>(sector[h]));
      sat[h] = static_cast<float>(static_cast<float>(h) / 255.0);
    }
  }
};

inline void hsv_to_rgb(uint8_t h, uint8_t s, uint8_t v, uint8_t* out, const HsvTables& t) {
  if (s == 0) {
    out[0] = out[1] = out[2] = v;
    return;
  }
  int i = t.sector[h];
  float f = t.frac[h], fs = t.sat[s];
  // Every product below is >= 0 (fs, f in [0, 1]), so the clamp to [0, 255] is only the upper one.
  auto clip8 = [](double x) { return static_cast<uint8_t>(std::min(round_half_away(x), 255)); };
  uint8_t up = clip8(static_cast<float>(v) * (1.0 - fs));
  uint8_t uq = clip8(static_cast<float>(v) * (1.0 - fs * f));  // fs * f is a float product in PIL
  uint8_t ut = clip8(static_cast<float>(v) * (1.0 - fs * (1.0 - f)));
  switch (i % 6) {
    case 0: out[0] = v, out[1] = ut, out[2] = up; break;
    case 1: out[0] = uq, out[1] = v, out[2] = up; break;
    case 2: out[0] = up, out[1] = v, out[2] = ut; break;
    case 3: out[0] = up, out[1] = uq, out[2] = v; break;
    case 4: out[0] = ut, out[1] = up, out[2] = v; break;
    default: out[0] = v, out[1] = up, out[2] = uq; break;
  }
}

// Sequential draws of `rng` computed a whole Philox block at a time (one block holds four draws): the same values
// as rng.next_u32() in a loop at a quarter of the cost; the stream's offset advances on destruction.
class BlockDraws {
 public:
  explicit BlockDraws(Philox& rng) : rng_(rng), pos_(rng.offset()) {}
  ~BlockDraws() { rng_.set_offset(pos_); }
  uint32_t next() {
    uint64_t b = pos_ / 4;
    if (!valid_ || b != block_index_) {
      block_ = rng_.block(b);
      block_index_ = b;
      valid_ = true;
    }
    return block_[pos_++ % 4];
  }

 private:
  Philox& rng_;
  uint64_t pos_;
  uint64_t block_index_ = 0;
  bool valid_ = false;
  PhiloxCounter block_{};
};

void check_probability(double p, const char* what) {
  CAGE_CHECK(p >= 0.0 && p <= 1.0, what, ": probability must be in [0, 1], got ", p);
}

}  // namespace

// ---- PIL stage ----

Image to_grayscale(const Image& img, int num_output_channels) {
  check_image(img, "to_grayscale");
  CAGE_CHECK(num_output_channels == 1 || num_output_channels == 3,
             "to_grayscale: num_output_channels should be 1 or 3, got ", num_output_channels);
  Image out(img.height, img.width, num_output_channels);
  int64_t n = img.height * img.width;
  const uint8_t* src = img.pixels.data();
  uint8_t* dst = out.pixels.data();
  for (int64_t k = 0; k < n; ++k) {
    uint8_t l = img.channels == 3 ? luma(src + 3 * k) : src[k];
    for (int c = 0; c < num_output_channels; ++c) dst[k * num_output_channels + c] = l;
  }
  return out;
}

Image random_grayscale(const Image& img, double p, Philox& rng) {
  check_probability(p, "random_grayscale");
  if (rng.uniform() < p) return to_grayscale(img, static_cast<int>(img.channels));
  return img;
}

Image adjust_brightness(const Image& img, double factor) {
  check_image(img, "adjust_brightness");
  CAGE_CHECK(factor >= 0, "adjust_brightness: factor must be non-negative, got ", factor);
  return blend_with_constant(img, 0, factor);
}

Image adjust_contrast(const Image& img, double factor) {
  check_image(img, "adjust_contrast");
  CAGE_CHECK(factor >= 0, "adjust_contrast: factor must be non-negative, got ", factor);
  // ImageStat: the mean of the L image from its histogram, in double; ImageEnhance rounds with int(mean + 0.5).
  int64_t n = img.height * img.width;
  uint64_t sum = 0;
  const uint8_t* src = img.pixels.data();
  for (int64_t k = 0; k < n; ++k) sum += img.channels == 3 ? luma(src + 3 * k) : src[k];
  double mean = n > 0 ? static_cast<double>(sum) / static_cast<double>(n) : 0.0;
  int degenerate = static_cast<int>(mean + 0.5);
  return blend_with_constant(img, degenerate, factor);
}

Image adjust_saturation(const Image& img, double factor) {
  check_image(img, "adjust_saturation");
  CAGE_CHECK(factor >= 0, "adjust_saturation: factor must be non-negative, got ", factor);
  float alpha = static_cast<float>(factor);
  if (img.channels == 1 || alpha == 1.0f) return img;  // an L image is its own degenerate
  bool ext = blend_extrapolates(alpha);
  Image out(img.height, img.width, 3);
  int64_t n = img.height * img.width;
  const uint8_t* src = img.pixels.data();
  uint8_t* dst = out.pixels.data();
  for (int64_t k = 0; k < n; ++k) {
    int l = luma(src + 3 * k);
    for (int c = 0; c < 3; ++c) dst[3 * k + c] = blend_u8(l, src[3 * k + c], alpha, ext);
  }
  return out;
}

Image adjust_hue(const Image& img, double hue_factor) {
  check_image(img, "adjust_hue");
  CAGE_CHECK(hue_factor >= -0.5 && hue_factor <= 0.5, "adjust_hue: hue_factor (", hue_factor,
             ") is not in [-0.5, 0.5]");
  if (img.channels == 1) return img;
  // np.uint8(hue_factor * 255): truncation toward zero, then modulo 256; the uint8 addition wraps.
  auto shift = static_cast<uint8_t>(static_cast<int>(hue_factor * 255.0) & 0xff);
  static const HsvTables tables;
  Image out(img.height, img.width, 3);
  int64_t n = img.height * img.width;
  const uint8_t* src = img.pixels.data();
  uint8_t* dst = out.pixels.data();
  for (int64_t k = 0; k < n; ++k) {
    uint8_t hsv[3];
    rgb_to_hsv(src + 3 * k, hsv);
    hsv_to_rgb(static_cast<uint8_t>(hsv[0] + shift), hsv[1], hsv[2], dst + 3 * k, tables);
  }
  return out;
}

// ---- ColorJitter ----

ColorJitter::ColorJitter(double brightness, double contrast, double saturation, double hue) {
  auto factor_range = [](double v, const char* name) -> Range {
    CAGE_CHECK(v >= 0, "ColorJitter: ", name, " must be non-negative, got ", v);
    if (v == 0) return std::nullopt;
    return std::make_pair(std::max(0.0, 1.0 - v), 1.0 + v);
  };
  brightness_ = factor_range(brightness, "brightness");
  contrast_ = factor_range(contrast, "contrast");
  saturation_ = factor_range(saturation, "saturation");
  CAGE_CHECK(hue >= 0 && hue <= 0.5, "ColorJitter: hue must be in [0, 0.5], got ", hue);
  if (hue > 0) hue_ = std::make_pair(-hue, hue);
}

ColorJitterParams ColorJitter::sample(Philox& rng) const {
  ColorJitterParams p;
  // Fisher-Yates from the back: every one of the 24 orders has probability 1/24, as torch.randperm(4).
  for (int k = 3; k > 0; --k) std::swap(p.order[k], p.order[random_int(rng, 0, k + 1)]);
  auto draw = [&](const Range& r) -> std::optional<double> {
    if (!r) return std::nullopt;
    double u = rng.uniform_double();
    return static_cast<double>(static_cast<float>(r->first + (r->second - r->first) * u));
  };
  p.brightness = draw(brightness_);
  p.contrast = draw(contrast_);
  p.saturation = draw(saturation_);
  p.hue = draw(hue_);
  return p;
}

Image ColorJitter::apply(const Image& img, const ColorJitterParams& params) {
  Image out = img;
  for (int id : params.order) {
    if (id == 0 && params.brightness)
      out = adjust_brightness(out, *params.brightness);
    else if (id == 1 && params.contrast)
      out = adjust_contrast(out, *params.contrast);
    else if (id == 2 && params.saturation)
      out = adjust_saturation(out, *params.saturation);
    else if (id == 3 && params.hue)
      out = adjust_hue(out, *params.hue);
  }
  return out;
}

// ---- tensor stage ----

Normalization imagenet_normalization() { return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}; }

FloatImage to_float(const Image& img) {
  check_image(img, "to_float");
  FloatImage out(img.height, img.width, img.channels);
  std::transform(img.pixels.begin(), img.pixels.end(), out.values.begin(),
                 [](uint8_t v) { return static_cast<float>(v) / 255.0f; });
  return out;
}

FloatImage to_float_normalize(const Image& img, const Normalization& norm) {
  check_image(img, "to_float_normalize");
  auto c = static_cast<size_t>(img.channels);
  CAGE_CHECK((norm.mean.size() == c || norm.mean.size() == 1) && (norm.std.size() == c || norm.std.size() == 1),
             "to_float_normalize: mean and std need 1 or ", c, " values for a ", c, "-channel image, got ",
             norm.mean.size(), " and ", norm.std.size());
  // A table per channel of the 256 possible results: the same float32 operations, once per value.
  std::vector<float> table(256 * c);
  for (size_t ch = 0; ch < c; ++ch) {
    float m = norm.mean[norm.mean.size() == 1 ? 0 : ch], s = norm.std[norm.std.size() == 1 ? 0 : ch];
    CAGE_CHECK(s != 0.0f, "to_float_normalize: std evaluated to zero for channel ", ch,
               ", leading to division by zero");
    for (int v = 0; v < 256; ++v) {
      float x = static_cast<float>(v) / 255.0f;  // ToTensor's div(255)
      x = x - m;                                 // Normalize's sub_(mean)
      table[ch * 256 + v] = x / s;               // then div_(std)
    }
  }
  FloatImage out(img.height, img.width, img.channels);
  size_t n = img.pixels.size();
  const uint8_t* src = img.pixels.data();
  float* dst = out.values.data();
  for (size_t k = 0; k < n; k += c)
    for (size_t ch = 0; ch < c; ++ch) dst[k + ch] = table[ch * 256 + src[k + ch]];
  return out;
}

void erase(FloatImage& img, int64_t i, int64_t j, int64_t h, int64_t w, const std::vector<float>& values) {
  CAGE_CHECK(i >= 0 && j >= 0 && h >= 0 && w >= 0 && i + h <= img.height && j + w <= img.width, "erase: box (i ", i,
             ", j ", j, ", h ", h, ", w ", w, ") is not inside the ", img.height, "x", img.width, " image");
  int64_t c = img.channels;
  bool per_element = static_cast<int64_t>(values.size()) == h * w * c;
  CAGE_CHECK(values.size() == 1 || static_cast<int64_t>(values.size()) == c || per_element, "erase: ",
             values.size(), " values for a ", h, "x", w, "x", c, " box (expected 1, ", c, " or ", h * w * c, ")");
  for (int64_t y = 0; y < h; ++y) {
    float* row = img.values.data() + ((i + y) * img.width + j) * c;
    for (int64_t x = 0; x < w * c; ++x) {
      if (per_element)
        row[x] = values[static_cast<size_t>(y * w * c + x)];
      else
        row[x] = values.size() == 1 ? values[0] : values[static_cast<size_t>(x % c)];
    }
  }
}

RandomErasing::RandomErasing(double p, std::pair<double, double> scale, std::pair<double, double> ratio)
    : p_(p), scale_(scale), ratio_(ratio) {
  check_probability(p, "RandomErasing");
  CAGE_CHECK(scale.first <= scale.second && ratio.first <= ratio.second,
             "RandomErasing: scale and ratio should be of kind (min, max), got scale (", scale.first, ", ",
             scale.second, ") ratio (", ratio.first, ", ", ratio.second, ")");
  CAGE_CHECK(scale.first >= 0 && scale.second <= 1, "RandomErasing: scale should be between 0 and 1, got (",
             scale.first, ", ", scale.second, ")");
  CAGE_CHECK(ratio.first > 0, "RandomErasing: ratio must be positive, got (", ratio.first, ", ", ratio.second, ")");
}

std::optional<EraseBox> RandomErasing::sample_box(int64_t height, int64_t width, Philox& rng) const {
  double area = static_cast<double>(height * width);
  double log_lo = std::log(ratio_.first), log_hi = std::log(ratio_.second);
  for (int attempt = 0; attempt < 10; ++attempt) {
    double erase_area = area * (scale_.first + (scale_.second - scale_.first) * rng.uniform_double());
    double aspect = std::exp(log_lo + (log_hi - log_lo) * rng.uniform_double());
    // Python's round(): half to even, which nearbyint gives in the default rounding mode.
    auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(erase_area * aspect)));
    auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(erase_area / aspect)));
    if (!(h < height && w < width)) continue;
    EraseBox box;
    box.h = h;
    box.w = w;
    box.i = random_int(rng, 0, height - h + 1);  // torch.randint(0, H - h + 1)
    box.j = random_int(rng, 0, width - w + 1);
    return box;
  }
  return std::nullopt;
}

void RandomErasing::operator()(FloatImage& img, Philox& rng) const {
  if (!(rng.uniform() < p_)) return;
  std::optional<EraseBox> box = sample_box(img.height, img.width, rng);
  if (!box) return;
  std::vector<float> values(static_cast<size_t>(box->h * box->w * img.channels));
  fill_standard_normal(values.data(), static_cast<int64_t>(values.size()), rng);
  erase(img, box->i, box->j, box->h, box->w, values);
}

// ---- helpers ----

void fill_standard_normal(float* out, int64_t n, Philox& rng) {
  BlockDraws draws(rng);
  constexpr float kTwoPi = 6.28318530717958647692f;
  for (int64_t k = 0; k < n; k += 2) {
    // u1 in (0, 1] keeps log finite; 24-bit uniforms bound |z| by about 5.8, plenty for erasing noise.
    float u1 = static_cast<float>((draws.next() >> 8) + 1) * 0x1p-24f;
    float u2 = static_cast<float>(draws.next() >> 8) * 0x1p-24f;
    float r = std::sqrt(-2.0f * std::log(u1));
    float t = kTwoPi * u2;
    out[k] = r * std::cos(t);
    if (k + 1 < n) out[k + 1] = r * std::sin(t);
  }
}

}  // namespace cage::data
