// Philox4x32-10 (Salmon et al., SC'11): a counter-based generator. Output block i of a stream is a pure
// function of (seed, stream, i), so any thread can draw any element and results never depend on how
// work is split: dropout masks, stochastic depth, shuffles and augmentations all draw from it.
#pragma once
#include <array>
#include <cstdint>

namespace cage {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key);

// 32-bit draws to floats in [0, 1): 24 (float) or 53 (double, from two draws) random mantissa bits.
inline float philox_uniform_float(uint32_t x) { return static_cast<float>(x >> 8) * 0x1p-24f; }
inline double philox_uniform_double(uint32_t hi, uint32_t lo) {
  return static_cast<double>(((static_cast<uint64_t>(hi) << 32) | lo) >> 11) * 0x1p-53;
}

// A stream of draws: key = seed, counter = (block index, stream). `offset` counts 32-bit draws so a
// saved run can resume exactly where it stopped.
class Philox {
 public:
  explicit Philox(uint64_t seed = 0, uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  PhiloxCounter block(uint64_t index) const;  // stateless: block `index` of this stream
  uint32_t draw(uint64_t i) const { return block(i / 4)[i % 4]; }  // stateless 32-bit draw number i

  uint32_t next_u32();
  float uniform();            // [0, 1)
  double uniform_double();    // [0, 1)
  double normal();            // standard normal (Box-Muller on two doubles)

  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t draws) { offset_ = draws; }
  void skip(uint64_t draws) { offset_ += draws; }

 private:
  uint64_t seed_, stream_, offset_ = 0;
};

}  // namespace cage
