// core/pth.h against checkpoints written by torch.save (tools/reference/ref_pth.py): every tensor of every case,
// in state_dict order, with the documented dtype, shape and bitwise-equal data; the scalar entries of wrapper
// dicts; and the cases that must be refused name the offending global.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/pth.h"
#include "support/reference.h"

namespace cage::test {
namespace {

std::string pth_path(const ReferenceCase& c) {
  std::filesystem::path p = c.params.at("pth").get<std::string>();
  return p.is_absolute() ? p.string() : (std::filesystem::path(c.file.source).parent_path() / p).string();
}

TEST(PthTorch, EveryCaseMatchesTorchSave) {
  auto cases = load_reference_cases("pth", 10);
  size_t refused = 0;
  for (const ReferenceCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = pth_path(c);
    if (c.params.contains("error")) {
      const std::string want = c.params["error"].get<std::string>();
      std::string got;
      try {
        load_pth(path);
      } catch (const Error& e) {
        got = e.what();
      }
      EXPECT_NE(got.find("'" + want + "'"), std::string::npos) << "error: '" << got << "'";
      EXPECT_NE(got.find("not allowed"), std::string::npos) << got;
      std::printf("[torch] %-36s refused: %s\n", c.name.c_str(), got.c_str());
      ++refused;
      continue;
    }
    PthFile f = load_pth(path);
    ASSERT_EQ(f.tensors.size(), c.file.tensors.size());
    ASSERT_GT(f.tensors.size(), 0u);
    size_t checked = 0;
    for (size_t i = 0; i < f.tensors.size(); ++i) {
      const auto& [key, got] = f.tensors[i];
      const auto& [want_key, want] = c.file.tensors[i];
      ASSERT_EQ(key, want_key) << "entry " << i;
      ASSERT_EQ(got.dtype(), want.dtype()) << key;
      ASSERT_EQ(got.shape(), want.shape()) << key;
      ASSERT_TRUE(got.is_contiguous()) << key;
      const size_t bytes = static_cast<size_t>(got.numel()) * dtype_size(got.dtype());
      EXPECT_EQ(std::memcmp(got.raw_data(), want.raw_data(), bytes), 0) << key << ": data differs";
      ++checked;
    }
    const auto& info = c.params.at("info");
    EXPECT_EQ(f.info.size(), info.size());
    for (auto& [k, v] : info.items()) {
      auto it = f.info.find(k);
      ASSERT_NE(it, f.info.end()) << "info '" << k << "' missing";
      EXPECT_EQ(it->second, v.get<std::string>()) << "info '" << k << "'";
    }
    std::printf("[torch] %-36s %zu tensors checked bitwise, %zu info entries\n", c.name.c_str(), checked,
                f.info.size());
  }
  EXPECT_GE(refused, 2u);
}

}  // namespace
}  // namespace cage::test
