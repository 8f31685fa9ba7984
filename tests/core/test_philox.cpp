#include <gtest/gtest.h>

#include <cmath>

#include "core/philox.h"

namespace cage {

// Known-answer vectors published with Random123 (kat_vectors): counter[4] key[2] -> output[4].
TEST(Philox, KnownAnswerVectors) {
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}), (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, StreamIsCounterBased) {
  Philox a(42, 3);
  std::vector<uint32_t> seq;
  for (int i = 0; i < 10; ++i) seq.push_back(a.next_u32());
  Philox b(42, 3);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.draw(i), seq[i]);  // stateless access agrees with the stream
  Philox c(42, 3);
  c.set_offset(7);
  EXPECT_EQ(c.next_u32(), seq[7]);  // resuming from a saved offset continues the same sequence
  EXPECT_NE(Philox(42, 4).draw(0), seq[0]);
  EXPECT_NE(Philox(43, 3).draw(0), seq[0]);
}

TEST(Philox, UniformAndNormalMoments) {
  Philox r(7);
  const int n = 200000;
  double s = 0, s2 = 0, m = 0, m2 = 0;
  for (int i = 0; i < n; ++i) {
    double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    s += u;
    s2 += u * u;
    double z = r.normal();
    m += z;
    m2 += z * z;
  }
  EXPECT_NEAR(s / n, 0.5, 0.005);
  EXPECT_NEAR(s2 / n - 0.25, 1.0 / 12, 0.003);
  EXPECT_NEAR(m / n, 0.0, 0.01);
  EXPECT_NEAR(m2 / n, 1.0, 0.02);
}

}  // namespace cage
