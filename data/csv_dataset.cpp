// Generic layouts for a user's own data: a CSV of "path,label[,valence,arousal]" or one folder per class.
#include <algorithm>
#include <cctype>
#include <filesystem>

#include "core/error.h"
#include "data/csv.h"
#include "data/dataset.h"

namespace cage::data {

namespace fs = std::filesystem;

RecordDataset read_labeled_csv(const std::string& csv_path, int64_t num_classes) {
  CsvFile csv(csv_path);
  const auto& rows = csv.rows();
  CAGE_CHECK(!rows.empty(), csv.name(), ": empty file");
  const bool header = csv.optional_column(rows[0], "path") >= 0;
  std::vector<int> col;
  bool with_va;
  if (header) {
    col = csv.columns(rows[0], {"path", "label"});
    const int v = csv.optional_column(rows[0], "valence"), a = csv.optional_column(rows[0], "arousal");
    CAGE_CHECK((v < 0) == (a < 0), csv.where(rows[0]), ": valence and arousal come together");
    with_va = v >= 0;
    col.push_back(v);
    col.push_back(a);
  } else {
    with_va = rows[0].fields.size() >= 4;
    col = {0, 1, 2, 3};
  }
  const size_t first = header ? 1 : 0;
  int64_t max_label = -1;
  for (size_t r = first; r < rows.size(); ++r) max_label = std::max(max_label, csv.parse_int(rows[r], col[1], "label"));
  if (num_classes == 0) num_classes = max_label + 1;
  CAGE_CHECK(num_classes > 0, csv.name(), ": no rows");

  const fs::path base = fs::path(csv_path).parent_path();
  RecordDataset ds(csv_path, num_classes, with_va ? 2 : 0, 0);
  for (size_t r = first; r < rows.size(); ++r) {
    const CsvRow& row = rows[r];
    const std::string where = csv.where(row);
    const std::string rel = trim(csv.field(row, col[0], "path"));
    CAGE_CHECK(!rel.empty(), where, ": empty path");
    Record rec;
    rec.path = (base / rel).string();  // an absolute path stays as it is
    rec.label = csv.parse_int(row, col[1], "label");
    CAGE_CHECK(rec.label >= 0 && rec.label < num_classes, where, ": label ", rec.label, " outside [0, ", num_classes,
               ")");
    if (with_va) {
      for (int k = 0; k < 2; ++k) {
        const char* what = k == 0 ? "valence" : "arousal";
        const double v = csv.parse_double(row, col[2 + k], what);
        CAGE_CHECK(v >= -1 && v <= 1, where, ": ", what, " ", v, " outside [-1, 1]");
        rec.targets.push_back(static_cast<float>(v));
      }
    }
    rec.line = row.line;
    rec.source_file = csv.name();
    ds.add(rec);
  }
  return ds;
}

RecordDataset read_image_folder(const std::string& root) {
  CAGE_CHECK(fs::is_directory(root), "no folder '", root, "'");
  std::vector<std::string> classes;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) classes.push_back(e.path().filename().string());
  std::sort(classes.begin(), classes.end());
  CAGE_CHECK(!classes.empty(), root, ": no class folders");

  RecordDataset ds(root, static_cast<int64_t>(classes.size()), 0, 0);
  ds.set_class_names(classes);
  for (size_t c = 0; c < classes.size(); ++c) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(fs::path(root) / classes[c])) {
      std::string ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (e.is_regular_file() &&
          (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".ppm" || ext == ".pgm"))
        files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());  // directory order differs between file systems
    for (const std::string& f : files) {
      Record rec;
      rec.path = f;
      rec.label = static_cast<int64_t>(c);
      rec.source_file = classes[c];
      ds.add(rec);
    }
  }
  return ds;
}

}  // namespace cage::data
