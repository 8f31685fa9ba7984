// Geometric transforms on 8-bit images with torchvision 0.14's semantics for PIL images, reproducing Pillow 9.4's
// arithmetic (so the same input gives the same pixels as torchvision.transforms.functional on a PIL image):
//   resize       PIL Image.resize: separable convolution, horizontal pass then vertical, kernel support scaled by
//                the downsampling factor (antialiasing), 22-bit fixed-point weights, 8-bit intermediate image;
//                nearest is PIL's scale-affine path (no filter).
//   rotate       PIL Image.rotate (expand=False, fill 0): the inverse affine matrix with cos/sin rounded to 15
//                decimals; nearest uses PIL's 16.16 fixed-point stepping, bilinear/bicubic its generic transform.
//   perspective  torchvision's _get_perspective_coeffs (8 float32 coefficients, destination -> source), then PIL's
//                PERSPECTIVE transform, sampled at pixel centres; bilinear/bicubic results are truncated to 8 bits.
//   center_crop, crop, hflip  pure data movement (crop pads with 0 outside the image, as PIL's crop does).
// Images are (H, W, C) with C = 1 or 3. The random transforms draw from a cage::Philox with torchvision's
// distributions (not its random streams); each documents its draws.
#pragma once
#include <array>
#include <cstddef>  // data/image.h uses size_t
#include <cstdint>

#include "core/philox.h"
#include "data/image.h"

namespace cage::data {

enum class Interpolation { nearest, bilinear, bicubic };

struct Size2 {
  int64_t height = 0, width = 0;
};

// torchvision's resize(img, size) with one int: the shorter side becomes `size`, the longer int(size * long / short).
Size2 resized_size_shorter(int64_t height, int64_t width, int64_t size);

// antialias = true is what torchvision does on PIL images (it ignores the flag there). antialias = false keeps
// PIL's kernels and rounding but does not widen the kernel when downsampling (plain interpolation, aliased).
Image resize(const Image& image, int64_t height, int64_t width, Interpolation interpolation = Interpolation::bilinear,
             bool antialias = true);
Image resize_shorter(const Image& image, int64_t size, Interpolation interpolation = Interpolation::bilinear,
                     bool antialias = true);

// The window [top, top + height) x [left, left + width); pixels outside the image are 0.
Image crop(const Image& image, int64_t top, int64_t left, int64_t height, int64_t width);
// A face or body box [x1, x2) x [y1, y2) intersected with the image first (Error when nothing is left).
Image crop_clipped(const Image& image, int64_t x1, int64_t y1, int64_t x2, int64_t y2);
// torchvision's center_crop: zero padding (left/top get the smaller half) when the crop is larger than the image,
// offset round((size - crop) / 2) with Python's round-half-to-even.
Image center_crop(const Image& image, int64_t height, int64_t width);
Image hflip(const Image& image);

// Counter-clockwise by `degrees` about the image centre, same size, 0 outside (torchvision F.rotate, expand=False).
Image rotate(const Image& image, double degrees, Interpolation interpolation = Interpolation::nearest);

struct Point {
  double x = 0, y = 0;
};
using Quad = std::array<Point, 4>;  // top-left, top-right, bottom-right, bottom-left
using PerspectiveCoeffs = std::array<double, 8>;

// The (a..h) of (x, y) -> ((a x + b y + c) / (g x + h y + 1), (d x + e y + f) / (g x + h y + 1)), mapping output
// pixels to input pixels, that sends `endpoints` to `startpoints`: torchvision's _get_perspective_coeffs, the same
// float32 system solved by the same LAPACK routine (sgels, from OpenBLAS), so the same float32 values.
PerspectiveCoeffs perspective_coeffs(const Quad& startpoints, const Quad& endpoints);
Image perspective(const Image& image, const Quad& startpoints, const Quad& endpoints,
                  Interpolation interpolation = Interpolation::bilinear);
Image perspective(const Image& image, const PerspectiveCoeffs& coeffs,
                  Interpolation interpolation = Interpolation::bilinear);

// Uniform integer in [low, high) (torch.randint's range), unbiased: one or more 32-bit draws (rejection sampling).
int64_t random_int(Philox& rng, int64_t low, int64_t high);

// Draws: one uniform u in [0, 1); flips when u < p.
struct RandomHorizontalFlip {
  double p = 0.5;
  Image operator()(const Image& image, Philox& rng) const;
};

// Draws: one uniform; angle = lo + u * (hi - lo) computed in float32, as torch's uniform_ on a float tensor.
struct RandomRotation {
  double min_degrees = -10, max_degrees = 10;
  Interpolation interpolation = Interpolation::nearest;
  RandomRotation() = default;
  explicit RandomRotation(double degrees, Interpolation interp = Interpolation::nearest)
      : min_degrees(-degrees), max_degrees(degrees), interpolation(interp) {}
  static double sample_angle(double min_degrees, double max_degrees, Philox& rng);
  Image operator()(const Image& image, Philox& rng) const;
};

// Draws: one uniform u (applied when u < p); only when applied, 8 random_int draws in torchvision's get_params order:
// top-left x, y; top-right x, y; bottom-right x, y; bottom-left x, y, each corner moved inwards by up to
// int(distortion_scale * half_width) (resp. half_height) pixels. Images 1 pixel wide or high are returned unchanged
// (their corners are collinear, so no perspective maps them; torchvision fails on them).
struct RandomPerspective {
  double distortion_scale = 0.5, p = 0.5;
  Interpolation interpolation = Interpolation::bilinear;
  struct Params {
    Quad startpoints, endpoints;
  };
  static Params get_params(int64_t width, int64_t height, double distortion_scale, Philox& rng);
  Image operator()(const Image& image, Philox& rng) const;
};

}  // namespace cage::data
