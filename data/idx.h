// The idx format of MNIST / Fashion-MNIST (optionally gzip-compressed, as Debian's dataset-fashion-mnist ships it).
#pragma once
#include <string>

#include "core/tensor.h"

namespace cage::data {

// Reads an idx file of unsigned bytes (type 0x08) into a u8 tensor of the file's shape.
// A wrong magic number, a truncated file or an unsupported element type is an Error naming the file.
Tensor read_idx(const std::string& path);

struct FashionMnist {
  Tensor images;  // u8 (N, 28, 28)
  Tensor labels;  // i64 (N), 0..9
};
// "train" or "t10k" split from a directory holding {split}-images-idx3-ubyte[.gz] and {split}-labels-idx1-ubyte[.gz].
FashionMnist load_fashion_mnist(const std::string& dir, const std::string& split);

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr const char* kFashionMnistClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

}  // namespace cage::data
