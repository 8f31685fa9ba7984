// Datasets: an index of samples read up front (image path, crop box, labels), and images decoded on demand.
// A sample whose image file is missing or does not decode is not an exception and never a blank image (the public
// CAGE code turned a missing file into a white image): get() returns it marked with the reason, and the loader skips
// and counts it (SkipReport). Rows left out on purpose when the index is read (AffectNet expression 8-10, Contempt
// for AffectNet-7) are counted in the dataset's own index_skips().
// The readers of each layout are in affectnet.cpp, emotic.cpp, csv_dataset.cpp and fashion_mnist_dataset.cpp.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/philox.h"
#include "core/tensor.h"
#include "data/image.h"

namespace cage::data {

// Why a sample was left out. Load-time reasons (the loader's SkipReport):
inline constexpr const char* kSkipMissing = "missing";    // the image file does not exist
inline constexpr const char* kSkipCorrupt = "corrupt";    // the file exists but does not decode
inline constexpr const char* kSkipEmptyCrop = "empty crop";  // the crop box lies outside the decoded image

struct Sample {
  Image image;             // cropped when the record has a box; empty when skip is set
  std::string skip;        // empty when the sample is usable, else one of the kSkip* reasons
  std::string error;       // what went wrong, for the warning line
  int64_t label = -1;      // class index, -1 when the dataset has no single-label classes
  std::vector<float> targets;      // continuous targets: AffectNet (V, A), EMOTIC (V, A, D) in [-1, 1]
  std::vector<float> multi_label;  // EMOTIC: 26 multi-hot categories
  std::string path;        // the image file
  std::string source;      // where the sample was described: "train.csv:17", "annotations/17_exp.npy", "t10k[42]"

  bool ok() const { return skip.empty(); }
};

// Counts of left-out samples by reason, with the first occurrence of each (file and detail) for the message.
class SkipReport {
 public:
  struct Entry {
    int64_t count = 0;
    std::string first_file, first_detail;
  };
  // Returns true when this is the first sample skipped for `reason` (the caller may warn once per kind).
  bool add(const std::string& reason, const std::string& file, const std::string& detail = "");
  void merge(const SkipReport& other);
  void clear() { entries_.clear(); }

  int64_t count(const std::string& reason) const;
  int64_t total() const;
  const std::map<std::string, Entry>& entries() const { return entries_; }
  // "none" or "missing 2 (first: a/1.jpg), corrupt 1 (first: a/7.jpg: <decoder message>)"
  std::string summary() const;

 private:
  std::map<std::string, Entry> entries_;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Thread-safe. Missing and corrupt images come back marked (Sample::skip), never thrown; an index out of range
  // throws.
  virtual Sample get(int64_t i) const = 0;
  // The class of sample i without decoding anything (for balancing and splitting); -1 when there is none.
  virtual int64_t label(int64_t i) const = 0;
  // The multi-hot categories of sample i (num_multi_labels() values); decodes the image only when a dataset
  // cannot answer from its index (the default).
  virtual std::vector<float> multi_label(int64_t i) const { return get(i).multi_label; }
  virtual int64_t num_classes() const = 0;       // 0: no single-label classes (EMOTIC)
  virtual int64_t num_targets() const = 0;       // 0, 2 (V, A) or 3 (V, A, D)
  virtual int64_t num_multi_labels() const = 0;  // 0 or 26
  virtual std::string name() const = 0;          // for messages: the annotation file or folder
};

// A crop box in pixels: columns [x0, x1), rows [y0, y1) of the decoded image; clipped to the image when applied.
struct CropBox {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// One row of an index, as the layout readers build it.
struct Record {
  std::string path;
  std::optional<CropBox> crop;
  int64_t label = -1;
  std::vector<float> targets;      // num_targets() values
  std::vector<float> multi_label;  // num_multi_labels() values
  int64_t line = 0;                // line of the annotation file (0: the file itself is the source, e.g. .npy)
  std::string source_file;         // for the source string; consecutive records usually share it
};

// A dataset of image files described by an index (every layout except Fashion-MNIST). Labels are stored flat:
// AffectNet's ~290k rows take a few tens of MB, not one heap block per float vector.
class RecordDataset : public Dataset {
 public:
  RecordDataset(std::string name, int64_t num_classes, int64_t num_targets, int64_t num_multi_labels);

  void add(const Record& r);  // checks the label range and the vector sizes
  void set_class_names(std::vector<std::string> names) { class_names_ = std::move(names); }
  const std::vector<std::string>& class_names() const { return class_names_; }
  SkipReport& index_skips() { return index_skips_; }
  // Rows of the annotation file left out on purpose, by reason ("expression 9 (Uncertain)", "contempt (AffectNet-7)").
  const SkipReport& index_skips() const { return index_skips_; }
  Record record(int64_t i) const;

  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  Sample get(int64_t i) const override;
  int64_t label(int64_t i) const override;
  std::vector<float> multi_label(int64_t i) const override { return record(i).multi_label; }
  int64_t num_classes() const override { return num_classes_; }
  int64_t num_targets() const override { return num_targets_; }
  int64_t num_multi_labels() const override { return num_multi_; }
  std::string name() const override { return name_; }

 private:
  std::string name_;
  int64_t num_classes_, num_targets_, num_multi_;
  std::vector<std::string> class_names_;
  std::vector<std::string> paths_;
  std::vector<CropBox> crops_;
  std::vector<uint8_t> has_crop_;
  std::vector<int64_t> labels_;
  std::vector<float> targets_;
  std::vector<uint8_t> multi_;
  std::vector<int64_t> lines_;
  std::vector<std::string> source_files_;   // distinct names, in order of appearance
  std::vector<int32_t> source_file_of_;     // per record, into source_files_
  int32_t last_source_ = -1;
  SkipReport index_skips_;
};

// Samples of another dataset at the given indices (a class-balanced subset, one side of a split).
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Sample get(int64_t i) const override;
  int64_t label(int64_t i) const override;
  std::vector<float> multi_label(int64_t i) const override;
  int64_t num_classes() const override { return base_->num_classes(); }
  int64_t num_targets() const override { return base_->num_targets(); }
  int64_t num_multi_labels() const override { return base_->num_multi_labels(); }
  std::string name() const override { return base_->name() + " (subset of " + std::to_string(size()) + ")"; }
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  int64_t at(int64_t i) const;
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

// Philox stream domains of the data pipeline. The loader gives each sample of each epoch its own stream
// (epoch * 2^32 + index, top bit clear); these set the top bits, so no two uses share a stream for one seed.
inline constexpr uint64_t kStreamShuffle = 0x8000000000000000ull;  // + epoch
inline constexpr uint64_t kStreamBalance = 0x8100000000000000ull;  // + class
inline constexpr uint64_t kStreamSplit = 0x8200000000000000ull;    // + class

// Uniform integer in [0, n) without modulo bias (64-bit draws, rejection).
uint64_t philox_below(Philox& rng, uint64_t n);
// Fisher-Yates shuffle of v.
void philox_shuffle(std::vector<int64_t>& v, Philox& rng);

// Per-class sample counts over the labels of `ds` (size num_classes()); labels outside the range are an Error.
std::vector<int64_t> class_counts(const Dataset& ds);

// Class-balanced subsample: `per_class` samples of every class drawn without replacement (0: the smallest class's
// count, as CAGE's VA model: 8 x 3750 on AffectNet-8). A class with fewer samples than asked is an Error naming it.
// Deterministic from the seed; returned in ascending index order.
std::vector<int64_t> balanced_subset_indices(const Dataset& ds, int64_t per_class, uint64_t seed);

// Stratified held-out split: from each class, round(fraction * count) samples go to `holdout` (a dataset without
// classes is one stratum). Used to choose the best checkpoint on data that is not the reported test set.
struct Split {
  std::vector<int64_t> train, holdout;  // ascending
};
Split stratified_split(const Dataset& ds, double holdout_fraction, uint64_t seed);

// ---- Layout readers --------------------------------------------------------------------------------------------

inline constexpr const char* kAffectNetClasses[8] = {"Neutral", "Happy", "Sad",   "Surprise",
                                                     "Fear",    "Disgust", "Anger", "Contempt"};
inline constexpr const char* kEmoticCategories[26] = {
    "Affection",  "Anger",     "Annoyance",  "Anticipation", "Aversion",  "Confidence",      "Disapproval",
    "Disconnection", "Disquietment", "Doubt/Confusion", "Embarrassment", "Engagement", "Esteem", "Excitement",
    "Fatigue",    "Fear",      "Happiness",  "Pain",         "Peace",     "Pleasure",        "Sadness",
    "Sensitivity", "Suffering", "Surprise",  "Sympathy",     "Yearning"};

struct AffectNetOptions {
  bool seven_classes = false;  // AffectNet-7: rows of class 7 (Contempt) are left out (counted)
};

// AffectNet 224x224 release, annotation CSV "number,exp,val,aro" (header row); images at {image_dir}/{number}.jpg
// (a number that already has an extension is used as is).
RecordDataset read_affectnet_csv(const std::string& csv_path, const std::string& image_dir,
                                 const AffectNetOptions& options = {});
// The same release's per-image files: {set_dir}/annotations/{number}_exp.npy, _val.npy, _aro.npy and
// {set_dir}/images/{number}.jpg (set_dir is e.g. root/train_set). Records are in ascending number order.
RecordDataset read_affectnet_npy(const std::string& set_dir, const AffectNetOptions& options = {});
// The original release: CSV "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,
// valence,arousal"; images at {image_root}/{subDirectory_filePath}, cropped to the face box. Expressions 8, 9, 10
// (None, Uncertain, No-Face) are left out, counted by reason.
RecordDataset read_affectnet_original(const std::string& csv_path, const std::string& image_root,
                                      const AffectNetOptions& options = {});

// EMOTIC from Annotations.mat converted to CSV: "Index,Folder,Filename,Image Size,BBox,Categorical_Labels,
// Continuous_Labels,Gender,Age"; images at {image_root}/{Folder}/{Filename}, cropped to the body box [x1, y1, x2, y2];
// 26 categories -> multi-hot in kEmoticCategories order; V, A, D in 1..10 -> (2x - 11) / 9 in [-1, 1].
RecordDataset read_emotic_csv(const std::string& csv_path, const std::string& image_root);

// Generic CSV "path,label[,valence,arousal]" with paths relative to the CSV's folder; a header row is optional
// (recognised by a column named "path"). num_classes: 0 takes the largest label + 1.
RecordDataset read_labeled_csv(const std::string& csv_path, int64_t num_classes = 0);
// One sub-folder per class (classes in sorted name order), image files (.jpg .jpeg .png .bmp .ppm .pgm) in sorted
// order.
RecordDataset read_image_folder(const std::string& root);

// Fashion-MNIST from the idx files (data/idx.h): 28x28 grey images as 1 channel (what cage_demo's MaxViT takes) or
// replicated to 3 channels (for a model with an RGB stem). 10 classes, no targets.
class FashionMnistDataset : public Dataset {
 public:
  FashionMnistDataset(const std::string& dir, const std::string& split, int channels = 1);
  int64_t size() const override { return images_.size(0); }
  Sample get(int64_t i) const override;
  int64_t label(int64_t i) const override;
  int64_t num_classes() const override { return 10; }
  int64_t num_targets() const override { return 0; }
  int64_t num_multi_labels() const override { return 0; }
  std::string name() const override { return name_; }

 private:
  std::string name_;
  int channels_;
  Tensor images_;  // u8 (N, 28, 28)
  std::vector<int64_t> labels_;
};

}  // namespace cage::data
