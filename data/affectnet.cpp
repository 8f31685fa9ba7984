// AffectNet indexes: the 224x224 release (annotation CSV or per-image .npy files) and the original release (CSV with
// face boxes). Expression codes: 0 Neutral .. 7 Contempt, then 8 None, 9 Uncertain, 10 No-Face, which carry no usable
// expression (and valence/arousal -2), so they are left out and counted rather than rejected.
#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/npy.h"

namespace cage::data {

namespace fs = std::filesystem;

namespace {

const char* const kNonExpressions[3] = {"expression 8 (None)", "expression 9 (Uncertain)", "expression 10 (No-Face)"};

RecordDataset make_affectnet(const std::string& name, const AffectNetOptions& options) {
  RecordDataset ds(name, options.seven_classes ? 7 : 8, 2, 0);
  ds.set_class_names(std::vector<std::string>(kAffectNetClasses, kAffectNetClasses + (options.seven_classes ? 7 : 8)));
  return ds;
}

// True when the row is kept; a left-out row is counted in the dataset's index skips.
bool keep_expression(int64_t exp, const std::string& where, const std::string& file, const AffectNetOptions& options,
                     RecordDataset& ds) {
  CAGE_CHECK(exp >= 0 && exp <= 10, where, ": expression ", exp, " outside 0..10");
  if (exp >= 8) {
    ds.index_skips().add(kNonExpressions[exp - 8], file, where);
    return false;
  }
  if (exp == 7 && options.seven_classes) {
    ds.index_skips().add("contempt (AffectNet-7)", file, where);
    return false;
  }
  return true;
}

float valence_arousal(double v, const std::string& where, const char* what) {
  CAGE_CHECK(v >= -1.0 && v <= 1.0, where, ": ", what, " ", v, " outside [-1, 1]");
  return static_cast<float>(v);
}

std::string image_file(const std::string& dir, const std::string& number) {
  fs::path p(number);
  return (fs::path(dir) / (p.has_extension() ? p : fs::path(number + ".jpg"))).string();
}

}  // namespace

RecordDataset read_affectnet_csv(const std::string& csv_path, const std::string& image_dir,
                                 const AffectNetOptions& options) {
  CsvFile csv(csv_path);
  RecordDataset ds = make_affectnet(csv_path, options);
  const auto& rows = csv.rows();
  CAGE_CHECK(!rows.empty(), csv.name(), ": empty annotation file");
  // A header (a column named "number") names the columns, in any order and with extra columns such as a pandas
  // index; a file without one is read in the documented order.
  const bool header = csv.optional_column(rows[0], "number") >= 0;
  std::vector<int> col = header ? csv.columns(rows[0], {"number", "exp", "val", "aro"}) : std::vector<int>{0, 1, 2, 3};
  for (size_t r = header ? 1 : 0; r < rows.size(); ++r) {
    const CsvRow& row = rows[r];
    const std::string where = csv.where(row);
    const std::string number = trim(csv.field(row, col[0], "image number"));
    CAGE_CHECK(!number.empty(), where, ": empty image number");
    const int64_t exp = csv.parse_int(row, col[1], "expression");
    const std::string path = image_file(image_dir, number);
    if (!keep_expression(exp, where, path, options, ds)) continue;
    Record rec;
    rec.path = path;
    rec.label = exp;
    rec.targets = {valence_arousal(csv.parse_double(row, col[2], "valence"), where, "valence"),
                   valence_arousal(csv.parse_double(row, col[3], "arousal"), where, "arousal")};
    rec.line = row.line;
    rec.source_file = csv.name();
    ds.add(rec);
  }
  return ds;
}

RecordDataset read_affectnet_npy(const std::string& set_dir, const AffectNetOptions& options) {
  const fs::path annotations = fs::path(set_dir) / "annotations";
  const fs::path images = fs::path(set_dir) / "images";
  CAGE_CHECK(fs::is_directory(annotations), "no annotations folder '", annotations.string(), "'");
  std::vector<std::string> numbers;
  for (const auto& entry : fs::directory_iterator(annotations)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = "_exp.npy";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      numbers.push_back(name.substr(0, name.size() - suffix.size()));
  }
  CAGE_CHECK(!numbers.empty(), annotations.string(), ": no *_exp.npy files");
  // Numeric order (2 before 10) when the names are numbers, as the release's are; directory order is arbitrary.
  std::sort(numbers.begin(), numbers.end(), [](const std::string& a, const std::string& b) {
    int64_t x, y;
    if (parse_int64(a, x) && parse_int64(b, y) && x != y) return x < y;
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  RecordDataset ds = make_affectnet(set_dir, options);
  for (const std::string& number : numbers) {
    const std::string stem = (annotations / number).string();
    const std::string exp_file = "annotations/" + number + "_exp.npy";
    const double exp_value = read_npy_scalar(stem + "_exp.npy");
    CAGE_CHECK(exp_value == static_cast<double>(static_cast<int64_t>(exp_value)), exp_file, ": expression ", exp_value,
               " is not an integer");
    const std::string path = image_file(images.string(), number);
    if (!keep_expression(static_cast<int64_t>(exp_value), exp_file, path, options, ds)) continue;
    Record rec;
    rec.path = path;
    rec.label = static_cast<int64_t>(exp_value);
    const std::string val_file = "annotations/" + number + "_val.npy", aro_file = "annotations/" + number + "_aro.npy";
    rec.targets = {valence_arousal(read_npy_scalar(stem + "_val.npy"), val_file, "valence"),
                   valence_arousal(read_npy_scalar(stem + "_aro.npy"), aro_file, "arousal")};
    rec.source_file = exp_file;
    ds.add(rec);
  }
  return ds;
}

RecordDataset read_affectnet_original(const std::string& csv_path, const std::string& image_root,
                                      const AffectNetOptions& options) {
  CsvFile csv(csv_path);
  RecordDataset ds = make_affectnet(csv_path, options);
  const auto& rows = csv.rows();
  CAGE_CHECK(!rows.empty(), csv.name(), ": empty annotation file");
  // training.csv has a header row; copies of validation.csv circulate without one: then the documented order.
  const bool header = csv.optional_column(rows[0], "subDirectory_filePath") >= 0;
  std::vector<int> col = header ? csv.columns(rows[0], {"subDirectory_filePath", "face_x", "face_y", "face_width",
                                                        "face_height", "expression", "valence", "arousal"})
                                : std::vector<int>{0, 1, 2, 3, 4, 6, 7, 8};
  for (size_t r = header ? 1 : 0; r < rows.size(); ++r) {
    const CsvRow& row = rows[r];
    const std::string where = csv.where(row);
    const std::string rel = trim(csv.field(row, col[0], "image path"));
    CAGE_CHECK(!rel.empty(), where, ": empty image path");
    const std::string path = (fs::path(image_root) / rel).string();
    const int64_t exp = csv.parse_int(row, col[5], "expression");
    if (!keep_expression(exp, where, path, options, ds)) continue;
    const int64_t x = csv.parse_int(row, col[1], "face_x"), y = csv.parse_int(row, col[2], "face_y");
    const int64_t w = csv.parse_int(row, col[3], "face_width"), h = csv.parse_int(row, col[4], "face_height");
    CAGE_CHECK(w > 0 && h > 0, where, ": face box ", w, "x", h, " is empty");
    Record rec;
    rec.path = path;
    rec.crop = CropBox{x, y, x + w, y + h};
    rec.label = exp;
    rec.targets = {valence_arousal(csv.parse_double(row, col[6], "valence"), where, "valence"),
                   valence_arousal(csv.parse_double(row, col[7], "arousal"), where, "arousal")};
    rec.line = row.line;
    rec.source_file = csv.name();
    ds.add(rec);
  }
  return ds;
}

}  // namespace cage::data
