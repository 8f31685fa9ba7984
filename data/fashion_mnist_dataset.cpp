// Fashion-MNIST as a Dataset: the idx arrays stay in memory (47 MB for the training split), get() copies one image.
#include "core/error.h"
#include "data/dataset.h"
#include "data/idx.h"

namespace cage::data {

FashionMnistDataset::FashionMnistDataset(const std::string& dir, const std::string& split, int channels)
    : name_(dir + " (" + split + ")"), channels_(channels) {
  CAGE_CHECK(channels == 1 || channels == 3, "Fashion-MNIST: ", channels, " channels (1 or 3)");
  FashionMnist d = load_fashion_mnist(dir, split);
  images_ = d.images;
  labels_ = d.labels.to_vector<int64_t>();
}

int64_t FashionMnistDataset::label(int64_t i) const {
  CAGE_CHECK(i >= 0 && i < size(), name_, ": sample ", i, " out of range [0, ", size(), ")");
  return labels_[i];
}

Sample FashionMnistDataset::get(int64_t i) const {
  Sample s;
  s.label = label(i);
  s.path = name_;
  s.source = name_ + "[" + std::to_string(i) + "]";
  const int64_t h = images_.size(1), w = images_.size(2);
  const uint8_t* src = images_.data<uint8_t>() + i * h * w;
  s.image = Image(h, w, channels_);
  for (int64_t p = 0; p < h * w; ++p)
    for (int c = 0; c < channels_; ++c) s.image.pixels[p * channels_ + c] = src[p];
  return s;
}

}  // namespace cage::data
