// Small on-disk fixtures for the dataset and loader tests: a fresh temporary folder per test, images whose pixels
// encode where they came from, text files and .npy files written byte by byte.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/decode.h"
#include "data/image.h"

namespace cage::data::test {

namespace fs = std::filesystem;

// A folder named after the running test, emptied at construction and removed at destruction.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("cage_data_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" + std::to_string(getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }

 private:
  fs::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// Pixel (y, x, c) = (seed * 37 + y * 5 + x * 3 + c * 101) mod 256: a crop's offset can be read back from its pixels.
inline uint8_t pattern_value(int64_t seed, int64_t y, int64_t x, int64_t c) {
  return static_cast<uint8_t>((seed * 37 + y * 5 + x * 3 + c * 101) % 256);
}
inline Image pattern_image(int64_t h, int64_t w, int64_t seed, int64_t channels = 3) {
  Image im(h, w, channels);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t c = 0; c < channels; ++c) im.row(y)[x * channels + c] = pattern_value(seed, y, x, c);
  return im;
}

// A smooth image (JPEG-friendly) with a colour per seed.
inline Image smooth_image(int64_t h, int64_t w, int64_t seed) {
  Image im(h, w, 3);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* p = im.row(y) + x * 3;
      p[0] = static_cast<uint8_t>((seed * 40 + x) % 256);
      p[1] = static_cast<uint8_t>((seed * 90 + y) % 256);
      p[2] = static_cast<uint8_t>((seed * 20 + x + y) % 256);
    }
  return im;
}

inline void write_jpeg(const std::string& path, const Image& im) {
  fs::create_directories(fs::path(path).parent_path());
  encode_jpeg(im, path, 90);
}
inline void write_png(const std::string& path, const Image& im) {
  fs::create_directories(fs::path(path).parent_path());
  encode_png(im, path);
}
// A file that starts like a JPEG and stops after a few bytes: exists, does not decode.
inline void write_corrupt_jpeg(const std::string& path) {
  write_text(path, std::string("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00", 14) + "garbage");
}

// A one-element .npy file with the given dtype descriptor and raw element bytes (format version 1 or 2).
inline void write_npy(const std::string& path, const std::string& descr, const std::string& shape,
                      const std::string& payload, int version = 1) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(version) + '\0';
  const uint32_t len = static_cast<uint32_t>(dict.size());
  out += static_cast<char>(len & 0xFF);
  out += static_cast<char>((len >> 8) & 0xFF);
  if (version != 1) {
    out += static_cast<char>((len >> 16) & 0xFF);
    out += static_cast<char>((len >> 24) & 0xFF);
  }
  write_text(path, out + dict + payload);
}
template <typename T>
std::string bytes_of(T v) {  // little-endian host (x86, arm64)
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &v, sizeof(T));
  return s;
}
inline std::string ucs4(const std::string& ascii) {  // NumPy '<U' payload
  std::string s;
  for (char c : ascii) s += bytes_of<uint32_t>(static_cast<uint8_t>(c));
  return s;
}

}  // namespace cage::data::test
