// Binary PPM / PGM ("P6" / "P5") decoding, our own: stb_image 2.27 (Debian's) overflows an int while parsing large
// header numbers and, for 16-bit PGM, converts the raster with its 8-bit routine and reads past the buffer (both
// found by fuzz_decode). The format is a header of three numbers and a raster of big-endian samples, so it is read
// here with every size checked first. Used by data/decode.cpp; not a public header of cage_data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/decode.h"

namespace cage::data {

// An RGB image from a P5 (gray: replicated) or P6 file in memory, as stb_image would give it: 8-bit samples as
// they are (whatever maxval), 16-bit samples (maxval > 255) reduced to their high byte. Throws an Error naming
// `name` for a truncated or corrupt file or one of more than `max_pixels` pixels.
Image decode_pnm(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels);

}  // namespace cage::data
