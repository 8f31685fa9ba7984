// data/decode.h: round trips through the writers, grayscale and alpha handling, and corrupt input (truncated JPEG and
// PNG, text named .jpg, mutated files) that must be an Error naming the file, never a crash. Parity of the decoded
// pixels with Pillow, CMYK JPEGs included, is in tests/torch/test_decode_torch.cpp.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/error.h"
#include "core/philox.h"
#include "data/decode.h"

namespace cage::data {
namespace {

namespace fs = std::filesystem;

// Gradients, a hard-edged box and noise: JPEG needs texture and edges to be tested at all.
Image photo_like(int64_t h, int64_t w, int64_t channels, uint64_t seed) {
  Philox rng(seed);
  Image img(h, w, channels);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t c = 0; c < channels; ++c) {
        double v = c == 0 ? 255.0 * x / (w - 1) : c == 1 ? 255.0 * y / (h - 1) : 128 + 100 * std::sin(x / 5.0 + y / 7.0);
        if (y > h / 4 && y < h / 2 && x > w / 5 && x < w / 2) v = c == 0 ? 240 : 30;
        v += 16 * (rng.uniform() - 0.5);
        img.row(y)[x * channels + c] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
  return img;
}

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("cage_decode_test_" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The decode must fail with a cage::Error whose message names the file and contains `expected`.
void expect_decode_error(const std::string& path, const std::string& expected) {
  try {
    const Image img = decode_image(path);
    ADD_FAILURE() << path << " decoded to " << img.height << "x" << img.width << " instead of failing";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(expected), std::string::npos) << "expected '" << expected << "' in: " << what;
  }
}

TEST(Decode, PngRoundTripIsExact) {
  TempDir dir;
  const Image rgb = photo_like(37, 53, 3, 1);
  encode_png(rgb, dir.file("rgb.png"));
  const Image back = decode_image(dir.file("rgb.png"));
  EXPECT_EQ(back.height, 37);
  EXPECT_EQ(back.width, 53);
  EXPECT_EQ(back.channels, 3);
  EXPECT_EQ(back.pixels, rgb.pixels);
}

TEST(Decode, GrayscaleIsReplicatedAndAlphaDropped) {
  TempDir dir;
  const Image gray = photo_like(20, 30, 1, 2);
  encode_png(gray, dir.file("gray.png"));
  const Image g = decode_image(dir.file("gray.png"));
  ASSERT_EQ(g.channels, 3);
  for (size_t i = 0; i < gray.pixels.size(); ++i)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(g.pixels[3 * i + c], gray.pixels[i]) << "pixel " << i;

  // RGBA: the colour channels as stored (convert("RGB") drops alpha without blending).
  const Image rgba = photo_like(20, 30, 4, 3);
  encode_png(rgba, dir.file("rgba.png"));
  const Image a = decode_image(dir.file("rgba.png"));
  ASSERT_EQ(a.channels, 3);
  for (size_t i = 0; i < a.pixels.size() / 3; ++i)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(a.pixels[3 * i + c], rgba.pixels[4 * i + c]) << "pixel " << i;

  // A grayscale JPEG decodes to three equal channels close to the original.
  encode_jpeg(gray, dir.file("gray.jpg"), 95);
  const Image gj = decode_image(dir.file("gray.jpg"));
  ASSERT_EQ(gj.channels, 3);
  double err = 0;
  for (size_t i = 0; i < gray.pixels.size(); ++i) {
    EXPECT_EQ(gj.pixels[3 * i], gj.pixels[3 * i + 1]);
    EXPECT_EQ(gj.pixels[3 * i], gj.pixels[3 * i + 2]);
    err += std::abs(int(gj.pixels[3 * i]) - int(gray.pixels[i]));
  }
  EXPECT_LT(err / gray.pixels.size(), 3.0);
}

TEST(Decode, JpegRoundTripIsClose) {
  TempDir dir;
  const Image rgb = photo_like(64, 48, 3, 4);
  encode_jpeg(rgb, dir.file("a.jpg"), 95);
  const Image back = decode_image(dir.file("a.jpg"));
  ASSERT_EQ(back.height, 64);
  ASSERT_EQ(back.width, 48);
  ASSERT_EQ(back.channels, 3);
  double mean = 0;
  for (size_t i = 0; i < rgb.pixels.size(); ++i) mean += std::abs(int(back.pixels[i]) - int(rgb.pixels[i]));
  mean /= rgb.pixels.size();
  EXPECT_LT(mean, 6.0);   // 4:2:0 at quality 95 on a noisy, hard-edged image
  EXPECT_GT(mean, 0.0);   // and it is lossy: the encoder really ran
  // Same bytes, same pixels, from a file or from memory.
  const std::vector<uint8_t> bytes = read_bytes(dir.file("a.jpg"));
  EXPECT_EQ(decode_image_memory(bytes.data(), bytes.size(), "a.jpg").pixels, back.pixels);
  EXPECT_EQ(encode_jpeg_memory(rgb, 95), bytes);
}

TEST(Decode, FormatComesFromMagicBytesNotExtension) {
  TempDir dir;
  const Image rgb = photo_like(10, 12, 3, 5);
  encode_png(rgb, dir.file("really_a_png.jpg"));
  EXPECT_EQ(decode_image(dir.file("really_a_png.jpg")).pixels, rgb.pixels);
  const std::vector<uint8_t> png = read_bytes(dir.file("really_a_png.jpg"));
  EXPECT_EQ(sniff_image_format(png.data(), png.size()), ImageFormat::png);
  const std::vector<uint8_t> jpg = encode_jpeg_memory(rgb, 90);
  EXPECT_EQ(sniff_image_format(jpg.data(), jpg.size()), ImageFormat::jpeg);
  write_bytes(dir.file("really_a_jpeg.png"), jpg);
  EXPECT_EQ(decode_image(dir.file("really_a_jpeg.png")).pixels, decode_image_memory(jpg.data(), jpg.size(), "x").pixels);
}

TEST(Decode, TruncatedFilesAreErrors) {
  TempDir dir;
  const Image rgb = photo_like(64, 64, 3, 6);
  const std::vector<uint8_t> jpg = encode_jpeg_memory(rgb, 90);
  // Cut inside the entropy-coded data: libjpeg only warns and pads with grey; we refuse it, as PIL does.
  write_bytes(dir.file("cut_data.jpg"), std::vector<uint8_t>(jpg.begin(), jpg.begin() + jpg.size() * 6 / 10));
  expect_decode_error(dir.file("cut_data.jpg"), "truncated");
  // Cut inside the headers.
  write_bytes(dir.file("cut_header.jpg"), std::vector<uint8_t>(jpg.begin(), jpg.begin() + 100));
  expect_decode_error(dir.file("cut_header.jpg"), "JPEG");

  encode_png(rgb, dir.file("full.png"));
  const std::vector<uint8_t> png = read_bytes(dir.file("full.png"));
  write_bytes(dir.file("cut.png"), std::vector<uint8_t>(png.begin(), png.begin() + png.size() / 2));
  expect_decode_error(dir.file("cut.png"), "PNG");
  write_bytes(dir.file("cut_header.png"), std::vector<uint8_t>(png.begin(), png.begin() + 20));
  expect_decode_error(dir.file("cut_header.png"), "corrupt or truncated PNG");
}

TEST(Decode, ForeignEmptyAndMissingFilesAreErrors) {
  TempDir dir;
  {
    std::ofstream f(dir.file("notes.jpg"));
    f << "this is a text file, not an image\n";
  }
  expect_decode_error(dir.file("notes.jpg"), "not a supported image");
  write_bytes(dir.file("empty.png"), {});
  expect_decode_error(dir.file("empty.png"), "empty");
  expect_decode_error(dir.file("missing.jpg"), "cannot open");
  // The JPEG magic followed by junk.
  write_bytes(dir.file("junk.jpg"), {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 2, 3});
  expect_decode_error(dir.file("junk.jpg"), "corrupt JPEG");
}

// Binary PPM/PGM written by hand: exact decode (PGM replicated to RGB), a comment in the header, and a short raster.
TEST(Decode, NetpbmFiles) {
  TempDir dir;
  std::vector<uint8_t> ppm = {'P', '6', '\n', '#', ' ', 'c', '\n', '3', ' ', '2', '\n', '2', '5', '5', '\n'};
  for (int i = 0; i < 18; ++i) ppm.push_back(static_cast<uint8_t>(i * 14));
  write_bytes(dir.file("a.ppm"), ppm);
  const Image a = decode_image(dir.file("a.ppm"));
  ASSERT_EQ(a.height, 2);
  ASSERT_EQ(a.width, 3);
  for (int i = 0; i < 18; ++i) EXPECT_EQ(a.pixels[i], i * 14);
  std::vector<uint8_t> pgm = {'P', '5', ' ', '2', ' ', '2', ' ', '2', '5', '5', '\n', 10, 20, 30, 40};
  write_bytes(dir.file("b.pgm"), pgm);
  const Image b = decode_image(dir.file("b.pgm"));
  ASSERT_EQ(b.pixels.size(), 12u);
  EXPECT_EQ(b.pixels[9], 40);
  EXPECT_EQ(b.pixels[10], 40);
  ppm.resize(ppm.size() - 1);
  write_bytes(dir.file("short.ppm"), ppm);
  expect_decode_error(dir.file("short.ppm"), "truncated PPM");
  // Header fields stb would overflow an int on (found by fuzz_decode), a zero width, and a header that stops.
  const std::pair<const char*, const char*> bad_headers[] = {{"P6\n17 9\n2552222222222\n", "corrupt PPM/PGM header"},
                                                            {"P5 99999999999999999999 2 255\n", "pixels refused"},
                                                            {"P6 0 2 255\n", "corrupt PPM/PGM header"}};
  for (const auto& [header, message] : bad_headers) {
    std::vector<uint8_t> bad(header, header + std::strlen(header));
    bad.resize(bad.size() + 64, 7);
    write_bytes(dir.file("bad.ppm"), bad);
    expect_decode_error(dir.file("bad.ppm"), message);
  }
  write_bytes(dir.file("cut.ppm"), {'P', '6', ' ', '3', ' ', '2'});
  expect_decode_error(dir.file("cut.ppm"), "header ends early");
  // 16-bit samples (maxval > 255), big-endian: the high byte of each (stb 2.27 read past its buffer on 16-bit PGM).
  std::vector<uint8_t> pgm16 = {'P', '5', ' ', '3', ' ', '1', ' ', '6', '5', '5', '3', '5', '\n'};
  for (uint8_t v : {0x12, 0x34, 0xAB, 0xCD, 0xFF, 0x01}) pgm16.push_back(v);
  write_bytes(dir.file("c.pgm"), pgm16);
  const Image c = decode_image(dir.file("c.pgm"));
  ASSERT_EQ(c.width, 3);
  const std::vector<uint8_t> want = {0x12, 0x12, 0x12, 0xAB, 0xAB, 0xAB, 0xFF, 0xFF, 0xFF};
  EXPECT_EQ(c.pixels, want);
  pgm16.pop_back();
  write_bytes(dir.file("c_short.pgm"), pgm16);
  expect_decode_error(dir.file("c_short.pgm"), "truncated PPM/PGM");
  std::vector<uint8_t> ppm16 = {'P', '6', ' ', '1', ' ', '1', ' ', '1', '0', '2', '3', '\n', 1, 2, 3, 4, 5, 6};
  write_bytes(dir.file("d.ppm"), ppm16);
  EXPECT_EQ(decode_image(dir.file("d.ppm")).pixels, (std::vector<uint8_t>{1, 3, 5}));
}

// Junk before the EOI marker is a libjpeg warning PIL ignores ("extraneous bytes before marker"): so do we.
TEST(Decode, BenignJpegWarningsAreTolerated) {
  const Image rgb = photo_like(16, 16, 3, 7);
  std::vector<uint8_t> jpg = encode_jpeg_memory(rgb, 90);
  ASSERT_EQ(jpg[jpg.size() - 2], 0xFF);
  ASSERT_EQ(jpg[jpg.size() - 1], 0xD9);
  const Image clean = decode_image_memory(jpg.data(), jpg.size(), "clean");
  jpg.insert(jpg.end() - 2, {0x12, 0x34, 0x56});
  EXPECT_EQ(decode_image_memory(jpg.data(), jpg.size(), "junk before EOI").pixels, clean.pixels);
}

// Random byte flips must give an image or an Error, never a crash (run under ASan to see memory errors).
TEST(Decode, MutatedFilesNeverCrash) {
  const Image rgb = photo_like(32, 40, 3, 8);
  TempDir dir;
  encode_png(rgb, dir.file("m.png"));
  const std::vector<std::vector<uint8_t>> originals = {encode_jpeg_memory(rgb, 85), read_bytes(dir.file("m.png"))};
  Philox rng(9);
  int decoded = 0, errors = 0;
  for (const auto& original : originals)
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<uint8_t> bytes = original;
      const int flips = 1 + static_cast<int>(rng.next_u32() % 8);
      for (int f = 0; f < flips; ++f) bytes[rng.next_u32() % bytes.size()] = static_cast<uint8_t>(rng.next_u32());
      if (rng.next_u32() % 4 == 0) bytes.resize(rng.next_u32() % bytes.size() + 1);
      try {
        const Image img = decode_image_memory(bytes.data(), bytes.size(), "mutated");
        EXPECT_EQ(img.channels, 3);
        EXPECT_EQ(img.pixels.size(), static_cast<size_t>(img.height * img.width * 3));
        ++decoded;
      } catch (const Error&) {
        ++errors;
      }
    }
  EXPECT_GT(errors, 0);
  EXPECT_EQ(decoded + errors, 600);
}

// Loader workers decode concurrently: per-call TurboJPEG handles, stb's thread-local error state.
TEST(Decode, ConcurrentDecodesMatchSequential) {
  std::vector<std::vector<uint8_t>> files;
  for (uint64_t i = 0; i < 4; ++i) files.push_back(encode_jpeg_memory(photo_like(40, 56, 3, 20 + i), 85));
  std::vector<uint8_t> bad = files[0];
  bad.resize(bad.size() / 2);
  std::vector<Image> expected;
  for (auto& f : files) expected.push_back(decode_image_memory(f.data(), f.size(), "x"));
  std::vector<int> mismatches(4, 0), errors(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const auto& f = files[(t + i) % 4];
        if (decode_image_memory(f.data(), f.size(), "x").pixels != expected[(t + i) % 4].pixels) ++mismatches[t];
        try {
          decode_image_memory(bad.data(), bad.size(), "bad");
        } catch (const Error&) {
          ++errors[t];
        }
      }
    });
  for (auto& t : threads) t.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(mismatches[t], 0);
    EXPECT_EQ(errors[t], 50);
  }
}

TEST(Decode, WriterRejectsBadImages) {
  TempDir dir;
  Image bad(4, 4, 3);
  bad.pixels.resize(10);
  EXPECT_THROW(encode_png(bad, dir.file("bad.png")), Error);
  EXPECT_THROW(encode_jpeg(photo_like(4, 4, 4, 1), dir.file("rgba.jpg"), 90), Error);
  EXPECT_THROW(encode_jpeg_memory(photo_like(4, 4, 3, 1), 0), Error);
  EXPECT_FALSE(fs::exists(dir.file("bad.png")));
}

}  // namespace
}  // namespace cage::data

namespace cage::data {
namespace {

// Found by the decode fuzzer: 18 bytes of GIF header declaring 17993 x 14388 pixels made stb allocate gigabytes.
TEST(DecodeLimits, HugeDeclaredImageIsRefusedBeforeAllocation) {
  const uint8_t gif[] = {0x47, 0x49, 0x46, 0x38, 0x37, 0x61, 0x49, 0x46, 0x34,
                         0x38, 0x5b, 0x11, 0x00, 0x09, 0x00, 0xa0, 0xc1, 0x83};
  try {
    decode_image_memory(gif, sizeof(gif), "huge.gif");
    FAIL() << "a 17993 x 14388 GIF header was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("huge.gif: image of 17993x14388 pixels refused"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cage::data
