#include "support/reference.h"

#include <algorithm>
#include <filesystem>

#include "support/test_support.h"

namespace cage::test {

std::vector<ReferenceCase> load_reference_cases(const std::string& op, size_t min_cases) {
  // ctest's fixture test generates the cases into the build's directory first.
  std::string root = env_or("CAGE_OP_REFERENCE_DIR", CAGE_TEST_OP_REFERENCE_DIR);
  std::filesystem::path dir = std::filesystem::path(root) / op;
  std::vector<ReferenceCase> cases;
  if (std::filesystem::is_directory(dir)) {
    for (auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".safetensors") continue;
      ReferenceCase c;
      c.file = load_safetensors(entry.path().string());
      c.name = op + "/" + entry.path().stem().string();
      c.params = nlohmann::json::parse(c.file.meta("params"));
      cases.push_back(std::move(c));
    }
  }
  std::sort(cases.begin(), cases.end(), [](auto& a, auto& b) { return a.name < b.name; });
  CAGE_CHECK(cases.size() >= min_cases, "expected at least ", min_cases, " reference cases for '", op, "' in ",
             dir.string(), ", found ", cases.size());
  return cases;
}

}  // namespace cage::test
