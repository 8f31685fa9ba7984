// Colour transforms of the augmentation pipeline with torchvision 0.14's semantics on PIL images
// (transforms/functional_pil.py over Pillow 9.4), so that training here sees the pixels the paper's code saw:
//   to_grayscale / random_grayscale   Image.convert("L"): ITU-R 601-2 luma in PIL's 16-bit fixed point
//   adjust_brightness / _contrast /   ImageEnhance: Image.blend with black / the rounded mean of the L image /
//   _saturation                       the L image, in PIL's float arithmetic, truncation and clamping
//   adjust_hue                        PIL's RGB->HSV, hue shifted as uint8 with wrap-around, PIL's HSV->RGB
//   ColorJitter                       factors and the order of the four adjustments sampled as get_params does
// and the tensor-stage steps:
//   to_float / to_float_normalize     ToTensor (x / 255) and Normalize ((x - mean) / std) in float32, in torch's order
//   erase / RandomErasing             F.erase and RandomErasing.get_params (value = "random": standard normals)
// All randomness comes from the Philox passed in; the same stream offset gives the same output.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "core/philox.h"
#include "data/image.h"

namespace cage::data {

// ---- PIL stage (uint8 images, 1 or 3 channels) ----

// num_output_channels 1 or 3 (3 repeats the luma, as torchvision does). A 1-channel input is already "L".
Image to_grayscale(const Image& img, int num_output_channels);
// RandomGrayscale(p): with probability p, grayscale keeping the input's channel count. One draw.
Image random_grayscale(const Image& img, double p, Philox& rng);

// factor >= 0; 1 returns the image unchanged. Factors are used as float, as PIL's blend takes them.
Image adjust_brightness(const Image& img, double factor);
Image adjust_contrast(const Image& img, double factor);
Image adjust_saturation(const Image& img, double factor);  // identity on 1-channel images (PIL's "L" mode)
// hue_factor in [-0.5, 0.5]; the shift is uint8(hue_factor * 255) with C truncation, as numpy's cast does.
// Identity on 1-channel images.
Image adjust_hue(const Image& img, double hue_factor);

// One ColorJitter draw: the order of the four adjustments (0 brightness, 1 contrast, 2 saturation, 3 hue, as in
// torchvision) and each factor, absent when that adjustment is off.
struct ColorJitterParams {
  std::array<int, 4> order{0, 1, 2, 3};
  std::optional<double> brightness, contrast, saturation, hue;
};

// ColorJitter(brightness, contrast, saturation, hue) with scalar arguments: factors uniform in
// [max(0, 1 - b), 1 + b] (same for contrast and saturation), hue uniform in [-h, h]; a zero argument turns
// that adjustment off. Throws on negative arguments or hue > 0.5.
class ColorJitter {
 public:
  using Range = std::optional<std::pair<double, double>>;
  ColorJitter(double brightness, double contrast, double saturation, double hue);

  // Draws, in order: a uniform permutation of the four adjustments (3 random_int calls), then one uniform_double
  // per enabled factor, in the order brightness, contrast, saturation, hue. Factors are rounded to float32 as
  // torch's are.
  ColorJitterParams sample(Philox& rng) const;
  Image operator()(const Image& img, Philox& rng) const { return apply(img, sample(rng)); }
  static Image apply(const Image& img, const ColorJitterParams& params);

  const Range& brightness() const { return brightness_; }
  const Range& contrast() const { return contrast_; }
  const Range& saturation() const { return saturation_; }
  const Range& hue() const { return hue_; }

 private:
  Range brightness_, contrast_, saturation_, hue_;
};

// ---- tensor stage (float pixels, still interleaved) ----

struct Normalization {
  std::vector<float> mean, std;  // one per channel, or one for all channels
};
Normalization imagenet_normalization();  // mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]

FloatImage to_float(const Image& img);  // ToTensor: x / 255 in float32
// ToTensor then Normalize: (x / 255 - mean) / std, each step rounded to float32 like torch's sub_ and div_.
FloatImage to_float_normalize(const Image& img, const Normalization& norm);

// Fills rows [i, i + h) and columns [j, j + w) of every channel. `values` holds 1 value (all elements), one per
// channel, or h * w * channels values in (h, w, channels) order. The box must lie inside the image.
void erase(FloatImage& img, int64_t i, int64_t j, int64_t h, int64_t w, const std::vector<float>& values);

struct EraseBox {
  int64_t i = 0, j = 0, h = 0, w = 0;
};

// RandomErasing(p, scale, ratio, value="random"). Throws on scale or ratio out of order, p outside [0, 1].
class RandomErasing {
 public:
  RandomErasing(double p, std::pair<double, double> scale, std::pair<double, double> ratio);

  // get_params: up to 10 attempts of area * U(scale) and exp(U(log ratio)), h = round(sqrt(area * aspect)),
  // w = round(sqrt(area / aspect)) (round half to even, as Python's round), kept when h < H and w < W, then
  // i, j uniform over the valid corners. nullopt when no attempt fits (the image is left as it is).
  std::optional<EraseBox> sample_box(int64_t height, int64_t width, Philox& rng) const;
  // One draw against p; when it hits, a box from sample_box filled with standard normal values.
  void operator()(FloatImage& img, Philox& rng) const;

  double p() const { return p_; }
  std::pair<double, double> scale() const { return scale_; }
  std::pair<double, double> ratio() const { return ratio_; }

 private:
  double p_;
  std::pair<double, double> scale_, ratio_;
};

// ---- helpers ----

// Standard normal float32 values (Box-Muller, two per pair of draws), filling `out[0..n)`.
void fill_standard_normal(float* out, int64_t n, Philox& rng);

}  // namespace cage::data
