// data/decode.h against Pillow's Image.open(f).convert("RGB") (fixtures: tools/reference/ref_decode.py): files
// written by Pillow in every format and variant the loader meets, decoded from the same bytes, pixel for pixel.
#include <gtest/gtest.h>

#include <cstdio>

#include "data/decode.h"
#include "support/reference.h"
#include "torch/image_case.h"

namespace cage::data {
namespace {

TEST(DecodeTorch, SameDecodedPixelsAsPillow) {
  for (const auto& c : test::load_reference_cases("decode", 15)) {
    const std::vector<uint8_t> bytes = c.file.get("in.file").to_vector<uint8_t>();
    Image image;
    try {
      image = decode_image_memory(bytes.data(), bytes.size(), c.name);
    } catch (const Error& e) {
      ADD_FAILURE() << c.name << " (" << c.params.at("what").get<std::string>() << "): " << e.what();
      continue;
    }
    test::expect_pixels(c.name, image, c.file.get("out"));
  }
}

// The same files cut to 60% of their length: Pillow raises "image file is truncated" on every one of them, so must
// we, for every format (stb's BMP, GIF, TGA and PNM readers would otherwise pad with zeros).
TEST(DecodeTorch, TruncatedFilesAreErrorsAsInPillow) {
  for (const auto& c : test::load_reference_cases("decode", 15)) {
    std::vector<uint8_t> bytes = c.file.get("in.file").to_vector<uint8_t>();
    bytes.resize(bytes.size() * 6 / 10);
    try {
      const Image image = decode_image_memory(bytes.data(), bytes.size(), c.name);
      ADD_FAILURE() << c.name << ": a truncated file decoded to " << image.height << "x" << image.width;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.name), std::string::npos) << e.what();
      std::printf("[torch] %-40s cut to 60%%: %s\n", c.name.c_str(), e.what() + c.name.size() + 2);
    }
  }
}

}  // namespace
}  // namespace cage::data
