#include "core/philox.h"

#include <cmath>

namespace cage {

namespace {
constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments

inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}
}  // namespace

PhiloxCounter philox4x32_10(PhiloxCounter c, PhiloxKey k) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, c[0], hi0, lo0);
    mulhilo(kM1, c[2], hi1, lo1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    k[0] += kW0;
    k[1] += kW1;
  }
  return c;
}

PhiloxCounter Philox::block(uint64_t index) const {
  PhiloxCounter ctr{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), static_cast<uint32_t>(stream_),
                    static_cast<uint32_t>(stream_ >> 32)};
  PhiloxKey key{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)};
  return philox4x32_10(ctr, key);
}

uint32_t Philox::next_u32() { return draw(offset_++); }
float Philox::uniform() { return philox_uniform_float(next_u32()); }
double Philox::uniform_double() {
  uint32_t hi = next_u32();
  return philox_uniform_double(hi, next_u32());
}

double Philox::normal() {
  double u1 = uniform_double(), u2 = uniform_double();
  return std::sqrt(-2.0 * std::log1p(-u1)) * std::cos(2.0 * M_PI * u2);  // log1p(-u1): u1 may be 0, never 1
}

}  // namespace cage
