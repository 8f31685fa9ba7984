#include "data/idx.h"

#include <zlib.h>

#include <filesystem>
#include <vector>

namespace cage::data {

namespace {

// gzread reads plain files too, so one path handles .gz and uncompressed idx files.
std::vector<unsigned char> read_all(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  CAGE_CHECK(f, "cannot open '", path, "'");
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  for (;;) {
    int n = gzread(f, buf, sizeof(buf));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      fail(path, ": ", msg);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  gzclose(f);
  return out;
}

uint32_t be32(const unsigned char* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }

std::string find_file(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    std::filesystem::path p = std::filesystem::path(dir) / (stem + ext);
    if (std::filesystem::exists(p)) return p.string();
  }
  fail("no '", stem, "' or '", stem, ".gz' in ", dir,
       " (on Debian: apt-get install dataset-fashion-mnist, which installs /usr/share/datasets/fashion-mnist)");
}

}  // namespace

Tensor read_idx(const std::string& path) {
  std::vector<unsigned char> raw = read_all(path);
  CAGE_CHECK(raw.size() >= 4 && raw[0] == 0 && raw[1] == 0, path, ": not an idx file (bad magic number)");
  CAGE_CHECK(raw[2] == 0x08, path, ": idx element type 0x", std::hex, int(raw[2]), " (only unsigned bytes, 0x08)");
  const int ndim = raw[3];
  CAGE_CHECK(ndim >= 1 && ndim <= 4 && raw.size() >= 4 + 4 * size_t(ndim), path, ": bad idx header");
  Shape shape;
  for (int i = 0; i < ndim; ++i) shape.push_back(be32(raw.data() + 4 + 4 * i));
  const size_t header = 4 + 4 * size_t(ndim), n = static_cast<size_t>(shape_numel(shape));
  CAGE_CHECK(raw.size() == header + n, path, ": ", raw.size() - header, " data bytes for shape ", shape_str(shape),
             " (", n, " expected): truncated or corrupt");
  Tensor t = Tensor::empty(shape, DType::u8);
  std::copy(raw.begin() + header, raw.end(), t.data<uint8_t>());
  return t;
}

FashionMnist load_fashion_mnist(const std::string& dir, const std::string& split) {
  FashionMnist d;
  d.images = read_idx(find_file(dir, split + "-images-idx3-ubyte"));
  Tensor labels = read_idx(find_file(dir, split + "-labels-idx1-ubyte"));
  CAGE_CHECK(d.images.dim() == 3 && labels.dim() == 1 && labels.size(0) == d.images.size(0), dir, ": ", split,
             " images ", shape_str(d.images.shape()), " and labels ", shape_str(labels.shape()), " do not match");
  for (int64_t i = 0; i < labels.numel(); ++i)
    CAGE_CHECK(labels.data<uint8_t>()[i] < 10, dir, ": label ", int(labels.data<uint8_t>()[i]), " at index ", i);
  d.labels = labels.to(DType::i64);
  return d;
}

}  // namespace cage::data
