// A minimal in-memory zip writer (stored entries, no data descriptors), enough to wrap fuzzed pickles into a
// well-formed torch.save archive with correct CRCs so the fuzzer reaches the pickle machine instead of
// stopping at libzip's CRC check.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cage::fuzz {

inline uint32_t crc32(const std::string& data) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

inline std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, central;
  auto put = [](std::string& s, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
  };
  for (auto& [name, data] : entries) {
    const uint32_t crc = crc32(data), offset = static_cast<uint32_t>(out.size());
    const uint32_t size = static_cast<uint32_t>(data.size());
    put(out, 0x04034b50, 4);  // local file header
    put(out, 20, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0x21, 2);
    put(out, crc, 4), put(out, size, 4), put(out, size, 4), put(out, name.size(), 2), put(out, 0, 2);
    out += name;
    out += data;
    put(central, 0x02014b50, 4);  // central directory header
    put(central, 20, 2), put(central, 20, 2), put(central, 0, 2), put(central, 0, 2), put(central, 0, 2);
    put(central, 0x21, 2), put(central, crc, 4), put(central, size, 4), put(central, size, 4);
    put(central, name.size(), 2), put(central, 0, 2), put(central, 0, 2), put(central, 0, 2), put(central, 0, 2);
    put(central, 0, 4), put(central, offset, 4);
    central += name;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  put(out, 0x06054b50, 4);  // end of central directory
  put(out, 0, 2), put(out, 0, 2), put(out, entries.size(), 2), put(out, entries.size(), 2);
  put(out, central.size(), 4), put(out, cd_offset, 4), put(out, 0, 2);
  return out;
}

// The storages a fuzzed pickle can use: archive/data/<k> holds 4*k bytes (k = 0..15), so FloatStorage key k
// with numel k, LongStorage key 2j with numel j, HalfStorage key k with numel 2k all match.
inline std::string wrap_pickle(const std::string& pickle) {
  std::vector<std::pair<std::string, std::string>> entries{{"archive/data.pkl", pickle}};
  for (int k = 0; k < 16; ++k) {
    std::string blob(static_cast<size_t>(4 * k), '\0');
    for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 37 + k);
    entries.emplace_back("archive/data/" + std::to_string(k), blob);
  }
  entries.emplace_back("archive/version", "3\n");
  return zip_stored(entries);
}

}  // namespace cage::fuzz
