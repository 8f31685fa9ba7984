// Binary PPM / PGM decoding with every size checked before a byte is read (data/pnm.h).
#include "data/pnm.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace cage::data {

namespace {

// The header: "P5"/"P6", width, height and maxval with whitespace and # comments between, then one whitespace
// byte before the raster. Numbers saturate at 2^40 (no overflow, and far past any limit below).
struct PnmHeader {
  bool complete = false;
  int64_t width = 0, height = 0, maxval = 0;
  size_t raster = 0;  // offset of the first sample
};

PnmHeader parse_header(const uint8_t* d, size_t n) {
  PnmHeader h;
  size_t pos = 2;
  for (int64_t* field : {&h.width, &h.height, &h.maxval}) {
    while (pos < n && (std::isspace(d[pos]) || d[pos] == '#')) {
      if (d[pos] == '#')
        while (pos < n && d[pos] != '\n' && d[pos] != '\r') ++pos;
      else
        ++pos;
    }
    if (pos >= n || !std::isdigit(d[pos])) return h;
    for (; pos < n && std::isdigit(d[pos]); ++pos) *field = std::min(*field * 10 + (d[pos] - '0'), int64_t(1) << 40);
  }
  h.complete = pos < n;  // the whitespace byte that ends the header must be there
  h.raster = pos + 1;
  return h;
}

}  // namespace

Image decode_pnm(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  const PnmHeader h = parse_header(data, size);
  CAGE_CHECK(h.complete, name, ": truncated PPM/PGM (the header ends early)");
  CAGE_CHECK(h.width > 0 && h.height > 0 && h.maxval > 0 && h.maxval <= 65535, name, ": corrupt PPM/PGM header (",
             h.width, "x", h.height, " pixels, maxval ", h.maxval, ")");
  CAGE_CHECK(h.width <= max_pixels && h.height <= max_pixels && h.width * h.height <= max_pixels, name,
             ": image of ", h.width, "x", h.height, " pixels refused (limit ", max_pixels, " pixels)");
  const int64_t channels = data[1] == '6' ? 3 : 1, bytes = h.maxval > 255 ? 2 : 1;
  const int64_t pixels = h.width * h.height;
  CAGE_CHECK(static_cast<int64_t>(size - h.raster) >= pixels * channels * bytes, name,
             ": truncated PPM/PGM (the data ends early)");
  Image image(h.height, h.width, 3);
  const uint8_t* src = data + h.raster;  // big-endian samples: the first byte of a 16-bit one is its high byte
  for (int64_t i = 0; i < pixels; ++i)
    for (int64_t c = 0; c < 3; ++c) image.pixels[i * 3 + c] = src[(i * channels + (channels == 3 ? c : 0)) * bytes];
  return image;
}

}  // namespace cage::data
