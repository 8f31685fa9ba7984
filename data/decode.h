// Image files to 8-bit RGB pixels, as torchvision's default loader sees them (PIL's Image.open(f).convert("RGB")).
// JPEG goes through libjpeg-turbo's TurboJPEG API (the library PIL links, with PIL's defaults: accurate integer IDCT,
// fancy upsampling), so decoded pixels equal PIL's; PNG, BMP, GIF (first frame) and TGA go through stb_image, binary
// PPM/PGM through our own reader (data/pnm.h: stb's has memory bugs). The format is recognised from the file's first
// bytes, never from its extension.
//
// Every decode returns 3 channels: grayscale is replicated, alpha is dropped (not blended, as convert("RGB") does),
// CMYK/YCCK JPEGs are read with PIL's conventions (Adobe-inverted CMYK, then PIL's cmyk2rgb). EXIF orientation is
// not applied (the torchvision loader does not apply it either). Corrupt or truncated files are a cage::Error naming
// the file and the decoder's message, as Pillow raises for them: a file whose data ends early is an error even where
// the decoder would only warn (libjpeg fills the rest with grey, stb's BMP/GIF/TGA/PNM readers with zeros). Other
// libjpeg warnings (e.g. extraneous bytes before a marker) are tolerated, as Pillow tolerates them. Thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace cage::data {

enum class ImageFormat { jpeg, png, bmp, gif, pnm, unknown };

// Format from the magic bytes. TGA has none: it is `unknown` here, and decode lets stb_image try it last.
ImageFormat sniff_image_format(const uint8_t* data, size_t size);
const char* image_format_name(ImageFormat format);

Image decode_image(const std::string& path);
// `name` labels errors (usually the path or archive member the bytes came from).
Image decode_image_memory(const uint8_t* data, size_t size, const std::string& name);

// Writers for tests and fixtures. JPEG: 4:2:0 chroma subsampling for RGB (PIL's default), accurate DCT; 1-channel
// images are written as grayscale JPEGs. PNG: 1 to 4 channels (gray, gray+alpha, RGB, RGBA). Both write to a
// temporary name and rename, so an interrupted write leaves no half file.
std::vector<uint8_t> encode_jpeg_memory(const Image& image, int quality);
void encode_jpeg(const Image& image, const std::string& path, int quality);
void encode_png(const Image& image, const std::string& path);

}  // namespace cage::data
