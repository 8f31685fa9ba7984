// Image decoding (TurboJPEG for JPEG, data/pnm.cpp for PPM/PGM, stb_image for the rest) and the test/fixture
// writers (TurboJPEG, stb_image_write).
#include "data/decode.h"

#include <turbojpeg.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.h"
#include "data/pnm.h"

// stb is compiled into this file only, with internal linkage, so another translation unit that includes it
// cannot clash; stdio is off because files are read (and written) here, with errors that name them.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
#define STBI_MAX_DIMENSIONS (1 << 20)
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace cage::data {

namespace {

// Decoded images beyond this many pixels (8192 x 8192) are refused before allocation: a corrupt header must not
// ask for gigabytes (stb's GIF reader keeps three 4-byte canvases: 2^26 pixels is ~800 MB at most).
constexpr int64_t kMaxPixels = int64_t(1) << 26;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  CAGE_CHECK(f, "cannot open image '", path, "'");
  const std::streamoff size = f.tellg();
  CAGE_CHECK(size >= 0, "cannot read image '", path, "'");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  if (size > 0) f.read(reinterpret_cast<char*>(bytes.data()), size);
  CAGE_CHECK(f, "cannot read image '", path, "'");
  return bytes;
}

void write_file_atomic(const std::string& path, const uint8_t* data, size_t size) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    CAGE_CHECK(f, "cannot write '", tmp, "'");
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    CAGE_CHECK(f, "cannot write '", tmp, "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    fail("cannot rename '", tmp, "' to '", path, "': ", ec.message());
  }
}

using TjHandle = std::unique_ptr<void, int (*)(tjhandle)>;

// libjpeg reports data that ends before the image does as a warning ("Premature end of JPEG file") and fills the
// missing blocks; PIL raises "image file is truncated" for the same file, and so do we.
bool is_truncation_warning(const std::string& message) {
  return message.find("Premature end of JPEG file") != std::string::npos;
}

// PIL reads 4-component JPEGs as Adobe-inverted CMYK ("CMYK;I") and converts with cmyk2rgb:
// out = clip(nk - nk * c / 255) with nk = 255 - k, using its rounded MULDIV255. `raw` are the stored values.
void cmyk_to_rgb_like_pil(const uint8_t* raw, uint8_t* rgb, int64_t pixels) {
  auto muldiv255 = [](int a, int b) {
    const int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (int64_t i = 0; i < pixels; ++i, raw += 4, rgb += 3) {
    const int nk = raw[3];  // 255 - k where k = 255 - stored
    for (int c = 0; c < 3; ++c) {
      const int v = nk - muldiv255(255 - raw[c], nk);
      rgb[c] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  TjHandle tj(tjInitDecompress(), tjDestroy);
  CAGE_CHECK(tj, name, ": cannot initialise the JPEG decoder: ", tjGetErrorStr2(nullptr));
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.get(), data, static_cast<unsigned long>(size), &width, &height, &subsamp, &colorspace) != 0)
    fail(name, ": corrupt JPEG (", tjGetErrorStr2(tj.get()), ")");
  CAGE_CHECK(width > 0 && height > 0, name, ": corrupt JPEG (no frame header before the data ends)");
  CAGE_CHECK(int64_t(width) * height <= kMaxPixels, name, ": JPEG of ", width, "x", height, " pixels refused (limit ",
             kMaxPixels, " pixels)");
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const int format = cmyk ? TJPF_CMYK : TJPF_RGB;  // libjpeg converts gray to RGB itself, but not CMYK
  std::vector<uint8_t> buffer(static_cast<size_t>(width) * height * tjPixelSize[format]);
  if (tjDecompress2(tj.get(), data, static_cast<unsigned long>(size), buffer.data(), width, 0, height, format,
                    TJFLAG_ACCURATEDCT) != 0) {
    const std::string message = tjGetErrorStr2(tj.get());
    if (tjGetErrorCode(tj.get()) == TJERR_FATAL) fail(name, ": corrupt JPEG (", message, ")");
    if (is_truncation_warning(message)) fail(name, ": truncated JPEG (", message, ")");
  }
  Image image(height, width, 3);
  if (cmyk)
    cmyk_to_rgb_like_pil(buffer.data(), image.pixels.data(), int64_t(width) * height);
  else
    image.pixels = std::move(buffer);
  return image;
}

// stb_image input from memory that records whether the decoder asked for bytes beyond the end.
struct MemoryReader {
  const uint8_t* data;
  size_t size, pos = 0;
  bool read_past_end = false;

  static int read(void* user, char* out, int n) {
    auto* r = static_cast<MemoryReader*>(user);
    const size_t count = std::min(static_cast<size_t>(n < 0 ? 0 : n), r->size - r->pos);
    if (count == 0 && n > 0) r->read_past_end = true;
    std::memcpy(out, r->data + r->pos, count);
    r->pos += count;
    return static_cast<int>(count);
  }
  static void skip(void* user, int n) {
    auto* r = static_cast<MemoryReader*>(user);
    if (n < 0) {
      r->pos -= std::min(static_cast<size_t>(-static_cast<int64_t>(n)), r->pos);
    } else if (static_cast<size_t>(n) > r->size - r->pos) {
      r->read_past_end = true;
      r->pos = r->size;
    } else {
      r->pos += static_cast<size_t>(n);
    }
  }
  static int eof(void* user) {
    auto* r = static_cast<MemoryReader*>(user);
    return r->pos >= r->size;
  }
};

Image decode_stb(const uint8_t* data, size_t size, const std::string& name) {
  CAGE_CHECK(size <= static_cast<size_t>(INT_MAX), name, ": image file too large (", size, " bytes)");
  const int len = static_cast<int>(size);
  const ImageFormat format = sniff_image_format(data, size);
  int width = 0, height = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &width, &height, &comp)) {
    if (format == ImageFormat::unknown)
      fail(name, ": not a supported image (JPEG, PNG, BMP, GIF, TGA, PPM/PGM) or corrupt: ", stbi_failure_reason());
    fail(name, ": corrupt or truncated ", image_format_name(format), " (", stbi_failure_reason(), ")");
  }
  CAGE_CHECK(int64_t(width) * height <= kMaxPixels, name, ": image of ", width, "x", height,
             " pixels refused (limit ", kMaxPixels, " pixels)");
  // stb converts to 3 components itself: gray replicated, alpha dropped, 16-bit samples reduced to their high byte.
  // It reads through callbacks so that a read past the end is seen: stb's BMP, GIF and TGA readers would
  // otherwise decode a truncated file into an image padded with zeros, where PIL reports it truncated.
  MemoryReader reader{data, size};
  stbi_io_callbacks io{MemoryReader::read, MemoryReader::skip, MemoryReader::eof};
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load_from_callbacks(&io, &reader, &width, &height, &comp, 3),
                                                   stbi_image_free);
  if (!pixels) fail(name, ": corrupt or truncated ", image_format_name(format), " (", stbi_failure_reason(), ")");
  const char* kind = format == ImageFormat::unknown ? "TGA" : image_format_name(format);  // TGA: the one without magic
  CAGE_CHECK(!reader.read_past_end, name, ": truncated ", kind, " (the data ends early)");
  CAGE_CHECK(width > 0 && height > 0, name, ": corrupt ", kind, " (", width, "x", height, " pixels)");
  Image image(height, width, 3);
  std::memcpy(image.pixels.data(), pixels.get(), image.pixels.size());
  return image;
}

void check_encodable(const Image& image, const char* what) {
  CAGE_CHECK(image.height > 0 && image.width > 0, what, ": empty image (", image.height, "x", image.width, ")");
  CAGE_CHECK(image.pixels.size() == static_cast<size_t>(image.height * image.width * image.channels), what,
             ": pixel buffer of ", image.pixels.size(), " bytes for ", image.height, "x", image.width, "x",
             image.channels);
}

}  // namespace

ImageFormat sniff_image_format(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageFormat::jpeg;
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return ImageFormat::png;
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return ImageFormat::bmp;
  if (n >= 6 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) return ImageFormat::gif;
  if (n >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '6')) return ImageFormat::pnm;
  return ImageFormat::unknown;
}

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::png: return "PNG";
    case ImageFormat::bmp: return "BMP";
    case ImageFormat::gif: return "GIF";
    case ImageFormat::pnm: return "PPM/PGM";
    case ImageFormat::unknown: break;
  }
  return "image";
}

Image decode_image_memory(const uint8_t* data, size_t size, const std::string& name) {
  CAGE_CHECK(size > 0, name, ": empty image file");
  const ImageFormat format = sniff_image_format(data, size);
  if (format == ImageFormat::jpeg) return decode_jpeg(data, size, name);
  if (format == ImageFormat::pnm) return decode_pnm(data, size, name, kMaxPixels);  // not stb's: data/pnm.h
  return decode_stb(data, size, name);
}

Image decode_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return decode_image_memory(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> encode_jpeg_memory(const Image& image, int quality) {
  check_encodable(image, "encode_jpeg");
  CAGE_CHECK(image.channels == 1 || image.channels == 3, "encode_jpeg: ", image.channels, " channels (1 or 3)");
  CAGE_CHECK(quality >= 1 && quality <= 100, "encode_jpeg: quality ", quality, " (1..100)");
  TjHandle tj(tjInitCompress(), tjDestroy);
  CAGE_CHECK(tj, "encode_jpeg: cannot initialise the JPEG encoder: ", tjGetErrorStr2(nullptr));
  const bool gray = image.channels == 1;
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  const int rc = tjCompress2(tj.get(), image.pixels.data(), static_cast<int>(image.width), 0,
                             static_cast<int>(image.height), gray ? TJPF_GRAY : TJPF_RGB, &out, &out_size,
                             gray ? TJSAMP_GRAY : TJSAMP_420, quality, TJFLAG_ACCURATEDCT);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(out, tjFree);
  CAGE_CHECK(rc == 0, "encode_jpeg: ", tjGetErrorStr2(tj.get()));
  return std::vector<uint8_t>(out, out + out_size);
}

void encode_jpeg(const Image& image, const std::string& path, int quality) {
  try {
    const std::vector<uint8_t> bytes = encode_jpeg_memory(image, quality);
    write_file_atomic(path, bytes.data(), bytes.size());
  } catch (const Error& e) {
    throw e.with_context(path);
  }
}

void encode_png(const Image& image, const std::string& path) {
  check_encodable(image, path.c_str());
  CAGE_CHECK(image.channels >= 1 && image.channels <= 4, path, ": ", image.channels, " channels (PNG takes 1 to 4)");
  std::vector<uint8_t> bytes;
  auto sink = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(context);
    out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  const int ok = stbi_write_png_to_func(sink, &bytes, static_cast<int>(image.width), static_cast<int>(image.height),
                                        static_cast<int>(image.channels), image.pixels.data(),
                                        static_cast<int>(image.width * image.channels));
  CAGE_CHECK(ok, path, ": PNG encoding failed");
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace cage::data
