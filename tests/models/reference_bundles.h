// Discovery of the golden bundles (../shared/reference/README.md): every .safetensors file of the
// reference directory whose __metadata__ names a `kind`. The directory is $CAGE_REFERENCE_DIR, else the
// build's default (../shared/reference beside the repository).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "core/safetensors.h"
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

}  // namespace cage::test
