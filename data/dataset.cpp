// The index-backed dataset, subsets, skip accounting, and the seeded class-balanced subsample and stratified split.
#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "data/decode.h"

namespace cage::data {

// ---- SkipReport --------------------------------------------------------------------------------------------------

bool SkipReport::add(const std::string& reason, const std::string& file, const std::string& detail) {
  Entry& e = entries_[reason];
  if (e.count++ == 0) {
    e.first_file = file;
    e.first_detail = detail;
    return true;
  }
  return false;
}

void SkipReport::merge(const SkipReport& other) {
  for (const auto& [reason, o] : other.entries_) {
    Entry& e = entries_[reason];
    if (e.count == 0) {
      e.first_file = o.first_file;
      e.first_detail = o.first_detail;
    }
    e.count += o.count;
  }
}

int64_t SkipReport::count(const std::string& reason) const {
  auto it = entries_.find(reason);
  return it == entries_.end() ? 0 : it->second.count;
}

int64_t SkipReport::total() const {
  int64_t n = 0;
  for (const auto& [reason, e] : entries_) n += e.count;
  return n;
}

std::string SkipReport::summary() const {
  if (entries_.empty()) return "none";
  std::string s;
  for (const auto& [reason, e] : entries_) {
    if (!s.empty()) s += ", ";
    s += reason + " " + std::to_string(e.count) + " (first: " + e.first_file;
    if (!e.first_detail.empty()) s += ": " + e.first_detail;
    s += ")";
  }
  return s;
}

// ---- RecordDataset -----------------------------------------------------------------------------------------------

namespace {
std::string source_string(const std::string& file, int64_t line) {  // "train.csv:17", or the file alone
  std::string s = file;
  if (line > 0) s.append(":").append(std::to_string(line));
  return s;
}
}  // namespace

RecordDataset::RecordDataset(std::string name, int64_t num_classes, int64_t num_targets, int64_t num_multi_labels)
    : name_(std::move(name)), num_classes_(num_classes), num_targets_(num_targets), num_multi_(num_multi_labels) {}

void RecordDataset::add(const Record& r) {
  const std::string where = source_string(r.source_file, r.line);
  CAGE_CHECK(num_classes_ == 0 ? r.label == -1 : (r.label >= 0 && r.label < num_classes_), where, ": label ", r.label,
             " outside [0, ", num_classes_, ")");
  CAGE_CHECK(static_cast<int64_t>(r.targets.size()) == num_targets_, where, ": ", r.targets.size(), " targets, ",
             num_targets_, " expected");
  CAGE_CHECK(static_cast<int64_t>(r.multi_label.size()) == num_multi_, where, ": ", r.multi_label.size(),
             " multi-labels, ", num_multi_, " expected");
  paths_.push_back(r.path);
  crops_.push_back(r.crop.value_or(CropBox{}));
  has_crop_.push_back(r.crop.has_value());
  labels_.push_back(r.label);
  targets_.insert(targets_.end(), r.targets.begin(), r.targets.end());
  for (float m : r.multi_label) multi_.push_back(m != 0.0f);
  lines_.push_back(r.line);
  // Records of one reader share one or a few source files: remember the last one instead of searching.
  if (last_source_ < 0 || source_files_[last_source_] != r.source_file) {
    auto it = std::find(source_files_.begin(), source_files_.end(), r.source_file);
    if (it == source_files_.end()) it = source_files_.insert(it, r.source_file);
    last_source_ = static_cast<int32_t>(it - source_files_.begin());
  }
  source_file_of_.push_back(last_source_);
}

Record RecordDataset::record(int64_t i) const {
  CAGE_CHECK(i >= 0 && i < size(), name_, ": sample ", i, " out of range [0, ", size(), ")");
  Record r;
  r.path = paths_[i];
  if (has_crop_[i]) r.crop = crops_[i];
  r.label = labels_[i];
  r.targets.assign(targets_.begin() + i * num_targets_, targets_.begin() + (i + 1) * num_targets_);
  for (int64_t k = 0; k < num_multi_; ++k) r.multi_label.push_back(multi_[i * num_multi_ + k]);
  r.line = lines_[i];
  r.source_file = source_files_[source_file_of_[i]];
  return r;
}

int64_t RecordDataset::label(int64_t i) const {
  CAGE_CHECK(i >= 0 && i < size(), name_, ": sample ", i, " out of range [0, ", size(), ")");
  return labels_[i];
}

namespace {

// The box clipped to the image; false when nothing is left.
bool crop_image(const Image& src, const CropBox& box, Image& out) {
  const int64_t x0 = std::clamp<int64_t>(box.x0, 0, src.width), x1 = std::clamp<int64_t>(box.x1, 0, src.width);
  const int64_t y0 = std::clamp<int64_t>(box.y0, 0, src.height), y1 = std::clamp<int64_t>(box.y1, 0, src.height);
  if (x1 <= x0 || y1 <= y0) return false;
  out = Image(y1 - y0, x1 - x0, src.channels);
  const size_t row_bytes = static_cast<size_t>((x1 - x0) * src.channels);
  for (int64_t y = y0; y < y1; ++y) std::copy_n(src.row(y) + x0 * src.channels, row_bytes, out.row(y - y0));
  return true;
}

}  // namespace

Sample RecordDataset::get(int64_t i) const {
  Record r = record(i);
  Sample s;
  s.label = r.label;
  s.targets = std::move(r.targets);
  s.multi_label = std::move(r.multi_label);
  s.path = r.path;
  s.source = source_string(r.source_file, r.line);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(r.path, ec)) {
    s.skip = kSkipMissing;
    s.error = "no such file";
    return s;
  }
  Image decoded;
  try {
    decoded = decode_image(r.path);
  } catch (const Error& e) {
    s.skip = kSkipCorrupt;
    s.error = e.what();
    return s;
  }
  if (!r.crop) {
    s.image = std::move(decoded);
  } else if (!crop_image(decoded, *r.crop, s.image)) {
    const CropBox& b = *r.crop;
    s.skip = kSkipEmptyCrop;
    s.error = "box [" + std::to_string(b.x0) + ", " + std::to_string(b.y0) + ", " + std::to_string(b.x1) + ", " +
              std::to_string(b.y1) + ") outside the " + std::to_string(decoded.width) + "x" +
              std::to_string(decoded.height) + " image";
  }
  return s;
}

// ---- SubsetDataset -----------------------------------------------------------------------------------------------

SubsetDataset::SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  CAGE_CHECK(base_, "SubsetDataset of a null dataset");
  for (int64_t i : indices_)
    CAGE_CHECK(i >= 0 && i < base_->size(), base_->name(), ": subset index ", i, " out of range [0, ", base_->size(),
               ")");
}

int64_t SubsetDataset::at(int64_t i) const {
  CAGE_CHECK(i >= 0 && i < size(), name(), ": sample ", i, " out of range [0, ", size(), ")");
  return indices_[i];
}
Sample SubsetDataset::get(int64_t i) const { return base_->get(at(i)); }
int64_t SubsetDataset::label(int64_t i) const { return base_->label(at(i)); }
std::vector<float> SubsetDataset::multi_label(int64_t i) const { return base_->multi_label(at(i)); }

// ---- Seeded selection --------------------------------------------------------------------------------------------

uint64_t philox_below(Philox& rng, uint64_t n) {
  CAGE_CHECK(n > 0, "philox_below(0)");
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n: draws below it would bias the low residues
  for (;;) {
    const uint64_t hi = rng.next_u32();
    const uint64_t r = (hi << 32) | rng.next_u32();
    if (r >= threshold) return r % n;
  }
}

void philox_shuffle(std::vector<int64_t>& v, Philox& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[philox_below(rng, i)]);
}

std::vector<int64_t> class_counts(const Dataset& ds) {
  const int64_t k = ds.num_classes();
  CAGE_CHECK(k > 0, ds.name(), ": the dataset has no classes to count");
  std::vector<int64_t> counts(static_cast<size_t>(k), 0);
  for (int64_t i = 0; i < ds.size(); ++i) {
    const int64_t l = ds.label(i);
    CAGE_CHECK(l >= 0 && l < k, ds.name(), ": sample ", i, " has label ", l, " outside [0, ", k, ")");
    ++counts[l];
  }
  return counts;
}

namespace {

// Indices of each class (ascending), or one group of all indices for a dataset without classes.
std::vector<std::vector<int64_t>> indices_by_class(const Dataset& ds) {
  if (ds.num_classes() == 0) {
    std::vector<int64_t> all(static_cast<size_t>(ds.size()));
    for (int64_t i = 0; i < ds.size(); ++i) all[i] = i;
    return {all};
  }
  class_counts(ds);  // validates every label
  std::vector<std::vector<int64_t>> groups(static_cast<size_t>(ds.num_classes()));
  for (int64_t i = 0; i < ds.size(); ++i) groups[ds.label(i)].push_back(i);
  return groups;
}

}  // namespace

std::vector<int64_t> balanced_subset_indices(const Dataset& ds, int64_t per_class, uint64_t seed) {
  CAGE_CHECK(ds.num_classes() > 0, ds.name(), ": class-balanced subsampling needs class labels");
  CAGE_CHECK(per_class >= 0, "balanced subset: negative count per class ", per_class);
  std::vector<std::vector<int64_t>> groups = indices_by_class(ds);
  if (per_class == 0) {
    per_class = static_cast<int64_t>(groups[0].size());
    for (const auto& g : groups) per_class = std::min<int64_t>(per_class, static_cast<int64_t>(g.size()));
    CAGE_CHECK(per_class > 0, ds.name(), ": a class has no samples, a balanced subset would be empty");
  }
  std::vector<int64_t> out;
  for (size_t c = 0; c < groups.size(); ++c) {
    std::vector<int64_t>& g = groups[c];
    CAGE_CHECK(static_cast<int64_t>(g.size()) >= per_class, ds.name(), ": class ", c, " has ", g.size(),
               " samples, ", per_class, " asked for a balanced subset");
    // Partial Fisher-Yates: the first per_class positions become a uniform sample without replacement.
    Philox rng(seed, kStreamBalance + c);
    for (int64_t i = 0; i < per_class; ++i)
      std::swap(g[i], g[i + philox_below(rng, g.size() - static_cast<uint64_t>(i))]);
    out.insert(out.end(), g.begin(), g.begin() + per_class);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Split stratified_split(const Dataset& ds, double holdout_fraction, uint64_t seed) {
  CAGE_CHECK(holdout_fraction >= 0 && holdout_fraction <= 1, "held-out fraction ", holdout_fraction,
             " outside [0, 1]");
  std::vector<std::vector<int64_t>> groups = indices_by_class(ds);
  Split split;
  for (size_t c = 0; c < groups.size(); ++c) {
    std::vector<int64_t>& g = groups[c];
    Philox rng(seed, kStreamSplit + c);
    philox_shuffle(g, rng);
    const size_t n_hold = static_cast<size_t>(std::llround(holdout_fraction * static_cast<double>(g.size())));
    split.holdout.insert(split.holdout.end(), g.begin(), g.begin() + n_hold);
    split.train.insert(split.train.end(), g.begin() + n_hold, g.end());
  }
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.holdout.begin(), split.holdout.end());
  return split;
}

}  // namespace cage::data
