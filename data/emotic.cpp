// EMOTIC index from the CSV conversion of Annotations.mat: one row per annotated person, the body box to crop,
// the 26 discrete categories as a Python list of names and the continuous V, A, D on the 1..10 scale.
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "data/csv.h"
#include "data/dataset.h"

namespace cage::data {

namespace fs = std::filesystem;

RecordDataset read_emotic_csv(const std::string& csv_path, const std::string& image_root) {
  CsvFile csv(csv_path);
  const auto& rows = csv.rows();
  CAGE_CHECK(!rows.empty(), csv.name(), ": empty annotation file");
  // By name: pandas adds an unnamed index column in front when the frame is saved with its index.
  const std::vector<int> col =
      csv.columns(rows[0], {"Folder", "Filename", "BBox", "Categorical_Labels", "Continuous_Labels"});
  RecordDataset ds(csv_path, 0, 3, 26);
  ds.set_class_names(std::vector<std::string>(kEmoticCategories, kEmoticCategories + 26));
  for (size_t r = 1; r < rows.size(); ++r) {
    const CsvRow& row = rows[r];
    const std::string where = csv.where(row);
    Record rec;
    const std::string folder = trim(csv.field(row, col[0], "folder")), file = trim(csv.field(row, col[1], "file name"));
    rec.path = (fs::path(image_root) / folder / file).string();

    std::vector<double> box;
    const std::string& box_text = csv.field(row, col[2], "body box");
    CAGE_CHECK(parse_number_list(box_text, box) && box.size() == 4, where, ": body box '", box_text,
               "' is not a list [x1, y1, x2, y2]");
    // Columns [x1, x2), rows [y1, y2), as image[y1:y2, x1:x2] crops; fractional corners (re-exports) round to nearest.
    const CropBox b{std::llround(box[0]), std::llround(box[1]), std::llround(box[2]), std::llround(box[3])};
    CAGE_CHECK(b.x1 > b.x0 && b.y1 > b.y0, where, ": body box '", box_text, "' is empty (needs x1 < x2, y1 < y2)");
    rec.crop = b;

    std::vector<std::string> names;
    const std::string& cat_text = csv.field(row, col[3], "categories");
    CAGE_CHECK(parse_string_list(cat_text, names), where, ": categories '", cat_text, "' are not a list of names");
    rec.multi_label.assign(26, 0.0f);
    for (const std::string& n : names) {
      int k = 0;
      while (k < 26 && n != kEmoticCategories[k]) ++k;
      CAGE_CHECK(k < 26, where, ": unknown EMOTIC category '", n, "'");
      rec.multi_label[k] = 1.0f;
    }

    std::vector<double> vad;
    const std::string& vad_text = csv.field(row, col[4], "continuous labels");
    CAGE_CHECK(parse_number_list(vad_text, vad) && vad.size() == 3, where, ": continuous labels '", vad_text,
               "' are not a list [V, A, D]");
    for (int k = 0; k < 3; ++k) {
      CAGE_CHECK(vad[k] >= 1 && vad[k] <= 10, where, ": ", "VAD"[k], " = ", vad[k], " outside the 1..10 scale");
      rec.targets.push_back(static_cast<float>((2.0 * vad[k] - 11.0) / 9.0));  // 1 -> -1, 10 -> 1
    }
    rec.line = row.line;
    rec.source_file = csv.name();
    ds.add(rec);
  }
  return ds;
}

}  // namespace cage::data
