// libFuzzer target for the checkpoint reader (core/pth.h). An input with an even first byte is a whole
// archive (a real .pth file starts with "PK"); with an odd first byte the rest is a data.pkl, wrapped into a
// well-formed archive with matching CRCs and a set of storages (mini_zip.h), so mutations reach the pickle
// machine rather than dying at the CRC check. Any cage::Error is an accepted outcome; a crash, a sanitizer
// report, any other exception, a hang or a blown memory limit is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/pth.h"
#include "fuzz/mini_zip.h"

namespace {

// Reads every element so that ASan sees any tensor whose data is not fully backed by its allocation.
void touch(const cage::PthFile& f) {
  volatile unsigned char sink = 0;
  for (auto& [name, t] : f.tensors) {
    const auto* p = static_cast<const unsigned char*>(t.raw_data());
    const size_t bytes = static_cast<size_t>(t.numel()) * cage::dtype_size(t.dtype());
    unsigned char acc = 0;
    for (size_t i = 0; i < bytes; ++i) acc ^= p[i];
    sink = sink ^ acc ^ static_cast<unsigned char>(name.size());
  }
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    if (data[0] & 1) {
      const std::string archive = cage::fuzz::wrap_pickle(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
      touch(cage::load_pth_from_memory(archive.data(), archive.size(), "fuzz.pth"));
    } else {
      touch(cage::load_pth_from_memory(data, size, "fuzz.pth"));
    }
  } catch (const cage::Error&) {
  }
  return 0;
}
