// libFuzzer target for image decoding (data/decode.h): any byte string must decode or raise cage::Error,
// never crash, hang or read out of bounds (TurboJPEG for JPEG, stb_image for the other formats).
#include <cstdint>

#include "core/error.h"
#include "data/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    cage::data::Image img = cage::data::decode_image_memory(data, size, "fuzz input");
    (void)img.pixels.size();
  } catch (const cage::Error&) {
  }
  return 0;
}
