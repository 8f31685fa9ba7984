// Images in the data pipeline. Decoded images and the PIL-stage transforms (resize, crop, flip, rotation,
// perspective, colour jitter, grayscale) work on 8-bit interleaved pixels, as torchvision's do on PIL images;
// ToTensor + Normalize produce float pixels (still interleaved: the model's input is NHWC), on which random
// erasing works, as torchvision's does on tensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cage::data {

struct Image {
  int64_t height = 0, width = 0, channels = 0;  // channels 1 (gray) or 3 (RGB)
  std::vector<uint8_t> pixels;                  // (height, width, channels) row-major

  Image() = default;
  Image(int64_t h, int64_t w, int64_t c) : height(h), width(w), channels(c), pixels(static_cast<size_t>(h * w * c)) {}
  uint8_t* row(int64_t y) { return pixels.data() + y * width * channels; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * channels; }
};

struct FloatImage {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<float> values;  // (height, width, channels) row-major

  FloatImage() = default;
  FloatImage(int64_t h, int64_t w, int64_t c) : height(h), width(w), channels(c), values(static_cast<size_t>(h * w * c)) {}
};

}  // namespace cage::data
