// The idx reader on Debian's Fashion-MNIST (when installed) and on corrupt files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/idx.h"

namespace cage::data {
namespace {

TEST(Idx, FashionMnistFromDebianPackage) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  FashionMnist test = load_fashion_mnist(kFashionMnistDir, "t10k");
  EXPECT_EQ(test.images.shape(), (Shape{10000, 28, 28}));
  EXPECT_EQ(test.labels.shape(), (Shape{10000}));
  std::vector<int64_t> counts(10, 0);
  for (int64_t l : test.labels.to_vector<int64_t>()) ++counts[l];
  for (int64_t c : counts) EXPECT_EQ(c, 1000);  // the test split is balanced: 1000 per class
}

TEST(Idx, TruncatedAndForeignFilesAreErrors) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "cage_idx_test";
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / "short", std::ios::binary);
    const unsigned char header[] = {0, 0, 8, 1, 0, 0, 0, 10, 1, 2, 3};  // 10 bytes promised, 3 present
    f.write(reinterpret_cast<const char*>(header), sizeof(header));
  }
  try {
    read_idx((dir / "short").string());
    FAIL() << "a truncated idx file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  {
    std::ofstream f(dir / "text", std::ios::binary);
    f << "not an idx file";
  }
  EXPECT_THROW(read_idx((dir / "text").string()), Error);
  EXPECT_THROW(load_fashion_mnist(dir.string(), "train"), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cage::data
