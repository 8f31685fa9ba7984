// Discovery of the golden bundles (../shared/reference/README.md): every .safetensors file of the
// reference directory whose __metadata__ names a `kind`. The directory is $CAGE_REFERENCE_DIR, else the
// build's default (../shared/reference beside the repository). Also the helpers the bundle tests share: layout
// conversion, the checkpoint a bundle names, and a train_step bundle's loss.
#pragma once
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/pth.h"
#include "core/safetensors.h"
#include "nn/functional.h"
#include "support/test_support.h"

namespace cage::test {

inline std::string reference_dir() {
  return env_or("CAGE_REFERENCE_DIR", CAGE_TEST_REFERENCE_DIR);
}

struct Bundle {
  std::string path, name;
  TensorFile file;
};

// All bundles of one kind ("forward", "train_step", "splitmix_forward"), sorted by file name.
inline std::vector<Bundle> bundles_of_kind(const std::string& kind) {
  std::vector<Bundle> out;
  std::filesystem::path dir = reference_dir();
  CAGE_CHECK(std::filesystem::is_directory(dir), "reference directory ", dir.string(), " does not exist");
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".safetensors") continue;
    TensorFile f = load_safetensors(e.path().string());
    auto it = f.metadata.find("kind");
    if (it == f.metadata.end() || it->second != kind) continue;
    out.push_back({e.path().string(), e.path().filename().string(), std::move(f)});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

inline Tensor nchw_to_nhwc(const Tensor& t) { return t.dim() == 4 ? t.permute({0, 2, 3, 1}).contiguous() : t; }

inline double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.detach().to(DType::f64).to_vector<double>()) m = std::max(m, std::fabs(v));
  return m;
}

inline std::vector<std::pair<std::string, Tensor>> load_checkpoint(const Bundle& b) {
  std::string ckpt = (std::filesystem::path(b.path).parent_path() / b.file.meta("checkpoint")).string();
  return load_pth(ckpt).tensors;
}

// Loss of a train_step bundle: "combined" = CE_w(logits[:, :K], labels) + alpha * MSE(logits[:, K:K+2], va).
inline Tensor bundle_loss(const Bundle& b, const nlohmann::json& ts, const Tensor& logits) {
  const std::string kind = ts.at("loss").get<std::string>();
  const int64_t K = ts.at("num_classes").get<int64_t>();
  const Device d = logits.device();
  const Tensor labels = b.file.get(ts.at("labels").get<std::string>()).to(d);
  Tensor weights = ts.contains("class_weights") ? b.file.get(ts.at("class_weights").get<std::string>()).to(d) : Tensor();
  Tensor ce = nn::cross_entropy(logits.slice(1, 0, K), labels, weights);
  if (kind == "discrete") return ce;
  CAGE_CHECK(kind == "combined", b.name, ": unknown loss '", kind, "'");
  Tensor mse = nn::mse_loss(logits.slice(1, K, K + 2), b.file.get(ts.at("va_targets").get<std::string>()).to(d));
  return nn::add(ce, nn::scale(mse, ts.at("alpha").get<double>()));
}

}  // namespace cage::test
