// Dataset readers on fixtures written in each layout: counts of loaded and skipped samples, labels, V/A(/D) scaling,
// EMOTIC multi-hot and box clipping, and bad rows reported with file and line.
#include <gtest/gtest.h>

#include <functional>

#include "core/error.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/npy.h"
#include "tests/data/data_fixtures.h"

namespace cage::data {
namespace {

using test::TempDir;

// The Error's message contains `needle` (the whole message is printed when it does not).
void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no Error; expected one containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

struct LoadCounts {
  int64_t ok = 0, missing = 0, corrupt = 0, empty_crop = 0;
};
LoadCounts load_all(const Dataset& ds) {
  LoadCounts c;
  for (int64_t i = 0; i < ds.size(); ++i) {
    Sample s = ds.get(i);
    if (s.ok()) ++c.ok;
    else if (s.skip == kSkipMissing) ++c.missing;
    else if (s.skip == kSkipCorrupt) ++c.corrupt;
    else if (s.skip == kSkipEmptyCrop) ++c.empty_crop;
    if (!s.ok()) {
      EXPECT_TRUE(s.image.pixels.empty()) << "a skipped sample must carry no image (never a blank one)";
    }
  }
  return c;
}

// AffectNet 224 release: 10 images of classes 0..7 (0 and 1 twice), one listed but missing, one corrupt, and
// rows of expressions 8, 9, 10 (plus one more 9) that are left out at indexing, then a truncated JPEG.
TEST(AffectNetCsv, CountsLabelsAndSkips) {
  TempDir dir;
  std::string csv = "number,exp,val,aro\n";
  for (int n = 0; n < 10; ++n) {
    test::write_jpeg(dir / ("train_set/images/" + std::to_string(n) + ".jpg"), test::smooth_image(24, 24, n));
    csv += std::to_string(n) + "," + std::to_string(n % 8) + "," + std::to_string(-0.5 + 0.1 * n) + ",0.25\n";
  }
  test::write_corrupt_jpeg(dir / "train_set/images/10.jpg");
  csv += "10,3,0.1,0.2\n";
  csv += "11,4,-1,1\n";  // no 11.jpg
  csv += "12,8,-2,-2\n13,9,-2,-2\n14,10,-2,-2\n15,9,-2,-2\n";
  // A real JPEG cut in half: the header decodes, the data ends early.
  std::vector<uint8_t> jpeg = encode_jpeg_memory(test::smooth_image(24, 24, 16), 90);
  test::write_text(dir / "train_set/images/16.jpg", std::string(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
  csv += "16,2,0,0\n";
  test::write_text(dir / "train.csv", csv);

  RecordDataset ds = read_affectnet_csv(dir / "train.csv", dir / "train_set/images");
  ASSERT_EQ(ds.size(), 13);
  EXPECT_EQ(ds.num_classes(), 8);
  EXPECT_EQ(ds.num_targets(), 2);
  EXPECT_EQ(ds.index_skips().count("expression 8 (None)"), 1);
  EXPECT_EQ(ds.index_skips().count("expression 9 (Uncertain)"), 2);
  EXPECT_EQ(ds.index_skips().count("expression 10 (No-Face)"), 1);
  EXPECT_EQ(ds.index_skips().total(), 4);
  EXPECT_EQ(ds.label(9), 1);
  EXPECT_EQ(class_counts(ds), (std::vector<int64_t>{2, 2, 2, 2, 2, 1, 1, 1}));

  Sample s = ds.get(7);
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(s.label, 7);
  EXPECT_EQ(s.image.width, 24);
  EXPECT_EQ(s.image.channels, 3);
  EXPECT_FLOAT_EQ(s.targets[0], 0.2f);
  EXPECT_FLOAT_EQ(s.targets[1], 0.25f);
  EXPECT_EQ(s.source, "train.csv:9");

  LoadCounts c = load_all(ds);
  EXPECT_EQ(c.ok, 10);
  EXPECT_EQ(c.missing, 1);
  EXPECT_EQ(c.corrupt, 2);
  EXPECT_EQ(ds.get(11).skip, kSkipMissing);
  EXPECT_EQ(ds.get(12).skip, kSkipCorrupt);
  EXPECT_EQ(ds.get(10).skip, kSkipCorrupt);
  EXPECT_FALSE(ds.get(10).error.empty());

  // AffectNet-7: class 7 (Contempt) is left out and counted.
  RecordDataset seven = read_affectnet_csv(dir / "train.csv", dir / "train_set/images", {.seven_classes = true});
  EXPECT_EQ(seven.size(), 12);
  EXPECT_EQ(seven.num_classes(), 7);
  EXPECT_EQ(seven.index_skips().count("contempt (AffectNet-7)"), 1);
  for (int64_t i = 0; i < seven.size(); ++i) EXPECT_LT(seven.label(i), 7);
}

TEST(AffectNetCsv, ColumnsByNameOrInTheDocumentedOrder) {
  TempDir dir;
  test::write_text(dir / "indexed.csv", ",number,exp,val,aro\n0,17,5,0.1,-0.2\n1,18.jpg,2,0,0\n");
  RecordDataset a = read_affectnet_csv(dir / "indexed.csv", dir / "img");
  ASSERT_EQ(a.size(), 2);
  EXPECT_EQ(a.record(0).path, dir / "img/17.jpg");
  EXPECT_EQ(a.record(1).path, dir / "img/18.jpg");
  EXPECT_EQ(a.label(0), 5);
  EXPECT_FLOAT_EQ(a.record(0).targets[1], -0.2f);
  test::write_text(dir / "plain.csv", "17,5,0.1,-0.2\n");
  RecordDataset b = read_affectnet_csv(dir / "plain.csv", dir / "img");
  ASSERT_EQ(b.size(), 1);
  EXPECT_EQ(b.label(0), 5);
  EXPECT_EQ(b.record(0).line, 1);
}

TEST(AffectNetCsv, BadRowsNameFileAndLine) {
  TempDir dir;
  test::write_text(dir / "train.csv", "number,exp,val,aro\n0,1,0.1,0.2\n1,x,0.1,0.2\n");
  expect_error([&] { read_affectnet_csv(dir / "train.csv", dir.path().string()); },
               "train.csv:3: expression 'x' is not an integer");
  test::write_text(dir / "val.csv", "number,exp,val,aro\n0,1,0.1,0.2\n\n1,2,1.5,0.2\n");
  expect_error([&] { read_affectnet_csv(dir / "val.csv", dir.path().string()); }, "val.csv:4: valence 1.5 outside");
  test::write_text(dir / "short.csv", "number,exp,val,aro\n0,1,0.1\n");
  expect_error([&] { read_affectnet_csv(dir / "short.csv", dir.path().string()); }, "short.csv:2:");
  test::write_text(dir / "cols.csv", "number,expression,val,aro\n0,1,0.1,0.2\n");
  expect_error([&] { read_affectnet_csv(dir / "cols.csv", dir.path().string()); }, "cols.csv:1: no column 'exp'");
  test::write_text(dir / "range.csv", "number,exp,val,aro\n0,11,0.1,0.2\n");
  expect_error([&] { read_affectnet_csv(dir / "range.csv", dir.path().string()); }, "range.csv:2: expression 11");
  test::write_text(dir / "quote.csv", "number,exp,val,aro\n\"0,1,0.1,0.2\n");
  expect_error([&] { read_affectnet_csv(dir / "quote.csv", dir.path().string()); }, "quote.csv:2: quoted field");
}

// Per-image .npy annotations, with the dtypes seen in the wild: '<U1' strings, int64, float64 and float32, v1 and v2.
TEST(AffectNetNpy, ReadsScalarsOfEveryDtypeInNumericOrder) {
  TempDir dir;
  const std::string ann = dir / "train_set/annotations/";
  test::write_npy(ann + "10_exp.npy", "<U1", "()", test::ucs4("3"));
  test::write_npy(ann + "10_val.npy", "<U7", "()", test::ucs4("-0.3125"));
  test::write_npy(ann + "10_aro.npy", "<f8", "()", test::bytes_of<double>(0.5));
  test::write_npy(ann + "2_exp.npy", "<i8", "(1,)", test::bytes_of<int64_t>(6));
  test::write_npy(ann + "2_val.npy", "<f4", "(1,)", test::bytes_of<float>(0.75f), 2);
  test::write_npy(ann + "2_aro.npy", "<f8", "(1, 1)", test::bytes_of<double>(-1.0));
  test::write_npy(ann + "7_exp.npy", "<f8", "()", test::bytes_of<double>(9.0));  // Uncertain: left out
  test::write_npy(ann + "7_val.npy", "<f8", "()", test::bytes_of<double>(-2.0));
  test::write_npy(ann + "7_aro.npy", "<f8", "()", test::bytes_of<double>(-2.0));
  test::write_jpeg(dir / "train_set/images/2.jpg", test::smooth_image(16, 16, 2));

  RecordDataset ds = read_affectnet_npy(dir / "train_set");
  ASSERT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.index_skips().count("expression 9 (Uncertain)"), 1);
  Record a = ds.record(0), b = ds.record(1);  // 2 before 10
  EXPECT_EQ(a.label, 6);
  EXPECT_FLOAT_EQ(a.targets[0], 0.75f);
  EXPECT_FLOAT_EQ(a.targets[1], -1.0f);
  EXPECT_EQ(b.label, 3);
  EXPECT_FLOAT_EQ(b.targets[0], -0.3125f);
  EXPECT_FLOAT_EQ(b.targets[1], 0.5f);
  EXPECT_TRUE(ds.get(0).ok());
  EXPECT_EQ(ds.get(1).skip, kSkipMissing);

  test::write_npy(ann + "3_exp.npy", "<U1", "()", test::ucs4("x"));
  expect_error([&] { read_affectnet_npy(dir / "train_set"); }, "3_exp.npy: .npy string 'x' is not a number");
  test::write_npy(ann + "3_exp.npy", "<i8", "()", test::bytes_of<int64_t>(1));
  expect_error([&] { read_affectnet_npy(dir / "train_set"); }, "3_val.npy");  // its val file is missing
  test::write_text(ann + "3_val.npy", "\x93NUMPY");
  expect_error([&] { read_npy_scalar(ann + "3_val.npy"); }, "3_val.npy: not a .npy file");
  test::write_npy(ann + "4.npy", "<f8", "(2,)", test::bytes_of<double>(1.0));  // promises 2 values, holds 1
  expect_error([&] { read_npy(ann + "4.npy"); }, "truncated");
}

// The original release: face boxes cropped (clipped to the image), expressions 8-10 left out, optional header.
TEST(AffectNetOriginal, CropsFaceBoxClippedToTheImage) {
  TempDir dir;
  test::write_png(dir / "Manually_Annotated_Images/1/a.png", test::pattern_image(40, 50, 1));
  test::write_png(dir / "Manually_Annotated_Images/2/b.png", test::pattern_image(30, 30, 2));
  const std::string rows =
      "1/a.png,10,5,20,15,\"1.0;2.0;3.0\",1,0.5,-0.25\n"
      "2/b.png,-4,20,12,30,\"1;2\",6,-0.5,0.75\n"  // box runs off the left and bottom edges
      "2/b.png,0,0,10,10,,10,-2,-2\n"
      "2/b.png,40,40,10,10,,4,0,0\n";  // box entirely outside: the sample is skipped at load time
  test::write_text(dir / "training.csv", "subDirectory_filePath,face_x,face_y,face_width,face_height,"
                                         "facial_landmarks,expression,valence,arousal\n" + rows);
  test::write_text(dir / "validation.csv", rows);  // no header: the documented column order
  for (const char* file : {"training.csv", "validation.csv"}) {
    SCOPED_TRACE(file);
    RecordDataset ds = read_affectnet_original(dir / file, dir / "Manually_Annotated_Images");
    ASSERT_EQ(ds.size(), 3);
    EXPECT_EQ(ds.index_skips().count("expression 10 (No-Face)"), 1);
    Sample a = ds.get(0);
    ASSERT_TRUE(a.ok()) << a.error;
    EXPECT_EQ(a.label, 1);
    EXPECT_EQ(a.image.width, 20);
    EXPECT_EQ(a.image.height, 15);
    EXPECT_EQ(a.image.row(0)[0], test::pattern_value(1, 5, 10, 0));
    EXPECT_EQ(a.image.row(14)[19 * 3 + 2], test::pattern_value(1, 19, 29, 2));
    EXPECT_FLOAT_EQ(a.targets[1], -0.25f);
    Sample b = ds.get(1);
    ASSERT_TRUE(b.ok()) << b.error;
    EXPECT_EQ(b.image.width, 8);    // x in [-4, 8) -> [0, 8)
    EXPECT_EQ(b.image.height, 10);  // y in [20, 50) -> [20, 30)
    EXPECT_EQ(b.image.row(0)[0], test::pattern_value(2, 20, 0, 0));
    EXPECT_EQ(ds.get(2).skip, kSkipEmptyCrop);
  }
}

// EMOTIC: multi-hot in the spec's category order, V/A/D from 1..10 to [-1, 1], body box clipped.
TEST(Emotic, MultiHotScalingAndClippedBox) {
  TempDir dir;
  test::write_png(dir / "emotic/mscoco/images/p.png", test::pattern_image(60, 80, 3));
  test::write_text(dir / "train.csv",
                   ",Index,Folder,Filename,Image Size,BBox,Categorical_Labels,Continuous_Labels,Gender,Age\n"
                   "0,0,mscoco/images,p.png,\"[80, 60]\",\"[70, -5, 95, 30]\",\"['Peace', 'Yearning', 'Affection']\","
                   "\"[1, 10, 5.5]\",Male,Adult\n"
                   "1,1,mscoco/images,p.png,\"[80, 60]\",\"[10 20 30 40]\",\"['Doubt/Confusion']\",\"[6, 3, 7]\","
                   "Female,Kid\n"
                   "2,2,mscoco/images,gone.png,\"[80, 60]\",\"[0, 0, 5, 5]\",\"[]\",\"[5, 5, 5]\",Female,Kid\n");
  RecordDataset ds = read_emotic_csv(dir / "train.csv", dir / "emotic");
  ASSERT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.num_classes(), 0);
  EXPECT_EQ(ds.num_targets(), 3);
  EXPECT_EQ(ds.num_multi_labels(), 26);

  Sample a = ds.get(0);
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(a.label, -1);
  std::vector<float> hot(26, 0.0f);
  hot[0] = hot[18] = hot[25] = 1.0f;  // Affection, Peace, Yearning
  EXPECT_EQ(a.multi_label, hot);
  EXPECT_FLOAT_EQ(a.targets[0], -1.0f);
  EXPECT_FLOAT_EQ(a.targets[1], 1.0f);
  EXPECT_FLOAT_EQ(a.targets[2], 0.0f);
  EXPECT_EQ(a.image.width, 10);   // x in [70, 95) -> [70, 80)
  EXPECT_EQ(a.image.height, 30);  // y in [-5, 30) -> [0, 30)
  EXPECT_EQ(a.image.row(0)[0], test::pattern_value(3, 0, 70, 0));

  Sample b = ds.get(1);
  ASSERT_TRUE(b.ok()) << b.error;
  EXPECT_EQ(b.multi_label[9], 1.0f);  // Doubt/Confusion
  EXPECT_FLOAT_EQ(b.targets[0], 1.0f / 9.0f);
  EXPECT_FLOAT_EQ(b.targets[1], -5.0f / 9.0f);
  EXPECT_EQ(b.image.width, 20);
  EXPECT_EQ(b.image.row(0)[0], test::pattern_value(3, 20, 10, 0));
  EXPECT_EQ(ds.get(2).skip, kSkipMissing);
  EXPECT_EQ(ds.get(2).multi_label, std::vector<float>(26, 0.0f));
  // The categories are also answered from the index, without decoding (the trainer's pos_weight uses this).
  EXPECT_EQ(ds.multi_label(0), hot);
  EXPECT_EQ(ds.multi_label(1), b.multi_label);
  SubsetDataset sub(std::make_shared<RecordDataset>(ds), {1, 0});
  EXPECT_EQ(sub.multi_label(1), hot);

  const std::string head = "Index,Folder,Filename,Image Size,BBox,Categorical_Labels,Continuous_Labels,Gender,Age\n";
  test::write_text(dir / "bad1.csv", head + "0,f,p.png,x,\"[0, 0, 5, 5]\",\"['Joy']\",\"[5, 5, 5]\",M,A\n");
  expect_error([&] { read_emotic_csv(dir / "bad1.csv", dir.path().string()); },
               "bad1.csv:2: unknown EMOTIC category 'Joy'");
  test::write_text(dir / "bad2.csv", head + "0,f,p.png,x,\"[0, 0, 5, 5]\",\"['Peace']\",\"[5, 11, 5]\",M,A\n");
  expect_error([&] { read_emotic_csv(dir / "bad2.csv", dir.path().string()); }, "bad2.csv:2: A = 11 outside");
  test::write_text(dir / "bad3.csv", head + "0,f,p.png,x,\"[9, 0, 5, 5]\",\"['Peace']\",\"[5, 5, 5]\",M,A\n");
  expect_error([&] { read_emotic_csv(dir / "bad3.csv", dir.path().string()); }, "bad3.csv:2: body box");
}

TEST(LabeledCsv, RelativePathsOptionalHeaderAndValenceArousal) {
  TempDir dir;
  test::write_jpeg(dir / "imgs/a.jpg", test::smooth_image(10, 10, 1));
  test::write_jpeg(dir / "imgs/b.jpg", test::smooth_image(10, 10, 2));
  test::write_text(dir / "list.csv", "path,label,valence,arousal\nimgs/a.jpg,2,0.5,-0.5\nimgs/b.jpg,0,0,1\n");
  RecordDataset ds = read_labeled_csv(dir / "list.csv");
  ASSERT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.num_targets(), 2);
  Sample a = ds.get(0);
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(a.label, 2);
  EXPECT_FLOAT_EQ(a.targets[1], -0.5f);

  test::write_text(dir / "plain.csv", "imgs/a.jpg,1\nimgs/b.jpg,4\nimgs/c.jpg,0\n");
  RecordDataset plain = read_labeled_csv(dir / "plain.csv", 5);
  EXPECT_EQ(plain.size(), 3);
  EXPECT_EQ(plain.num_targets(), 0);
  EXPECT_EQ(load_all(plain).missing, 1);
  expect_error([&] { read_labeled_csv(dir / "plain.csv", 3); }, "plain.csv:2: label 4 outside [0, 3)");
}

TEST(ImageFolder, OneClassPerFolderInSortedOrder) {
  TempDir dir;
  test::write_png(dir / "b_sad/2.png", test::pattern_image(8, 8, 1));
  test::write_png(dir / "b_sad/1.png", test::pattern_image(8, 8, 2));
  test::write_png(dir / "a_happy/x.png", test::pattern_image(8, 8, 3));
  test::write_text(dir / "a_happy/notes.txt", "not an image");
  RecordDataset ds = read_image_folder(dir.path().string());
  EXPECT_EQ(ds.class_names(), (std::vector<std::string>{"a_happy", "b_sad"}));
  ASSERT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.label(0), 0);
  EXPECT_EQ(ds.label(2), 1);
  EXPECT_NE(ds.get(1).path.find("1.png"), std::string::npos);
  EXPECT_EQ(load_all(ds).ok, 3);
}

TEST(FashionMnistDataset, GreyOrReplicatedChannels) {
  if (!test::fs::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  FashionMnistDataset grey(kFashionMnistDir, "t10k"), rgb(kFashionMnistDir, "t10k", 3);
  ASSERT_EQ(grey.size(), 10000);
  Sample g = grey.get(5), c = rgb.get(5);
  EXPECT_EQ(g.image.channels, 1);
  EXPECT_EQ(c.image.channels, 3);
  EXPECT_EQ(g.label, c.label);
  for (int64_t p = 0; p < 28 * 28; ++p) ASSERT_EQ(c.image.pixels[p * 3 + 2], g.image.pixels[p]);
  EXPECT_EQ(class_counts(grey), std::vector<int64_t>(10, 1000));
}

// ---- Class-balanced subsets and stratified splits (labels only: no image is read) --------------------------------

RecordDataset labeled(const std::vector<int64_t>& counts) {
  RecordDataset ds("synthetic", static_cast<int64_t>(counts.size()), 0, 0);
  for (size_t c = 0; c < counts.size(); ++c)
    for (int64_t k = 0; k < counts[c]; ++k) {
      Record r;
      r.path = "x.jpg";
      r.label = static_cast<int64_t>(c);
      ds.add(r);
    }
  return ds;
}

std::vector<int64_t> counts_of(const Dataset& ds, const std::vector<int64_t>& indices) {
  std::vector<int64_t> c(static_cast<size_t>(ds.num_classes()), 0);
  for (int64_t i : indices) ++c[ds.label(i)];
  return c;
}

TEST(BalancedSubset, MinClassCountOrGivenCountSeeded) {
  RecordDataset ds = labeled({50, 12, 30, 7});
  std::vector<int64_t> a = balanced_subset_indices(ds, 0, 42);
  EXPECT_EQ(counts_of(ds, a), (std::vector<int64_t>{7, 7, 7, 7}));
  EXPECT_EQ(a, balanced_subset_indices(ds, 0, 42));
  EXPECT_NE(a, balanced_subset_indices(ds, 0, 43));
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end()) << "drawn without replacement";
  EXPECT_EQ(counts_of(ds, balanced_subset_indices(ds, 5, 1)), (std::vector<int64_t>{5, 5, 5, 5}));
  expect_error([&] { balanced_subset_indices(ds, 8, 1); }, "class 3 has 7 samples, 8 asked");

  auto shared = std::make_shared<RecordDataset>(ds);
  SubsetDataset sub(shared, a);
  EXPECT_EQ(sub.size(), 28);
  EXPECT_EQ(class_counts(sub), (std::vector<int64_t>{7, 7, 7, 7}));
}

TEST(StratifiedSplit, ProportionPerClassDisjointAndSeeded) {
  RecordDataset ds = labeled({100, 50, 10, 1, 0});
  Split s = stratified_split(ds, 0.2, 7);
  EXPECT_EQ(counts_of(ds, s.holdout), (std::vector<int64_t>{20, 10, 2, 0, 0}));
  EXPECT_EQ(counts_of(ds, s.train), (std::vector<int64_t>{80, 40, 8, 1, 0}));
  std::vector<int64_t> all = s.train;
  all.insert(all.end(), s.holdout.begin(), s.holdout.end());
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < ds.size(); ++i) ASSERT_EQ(all[i], i) << "train and holdout must partition the dataset";
  Split again = stratified_split(ds, 0.2, 7), other = stratified_split(ds, 0.2, 8);
  EXPECT_EQ(again.holdout, s.holdout);
  EXPECT_NE(other.holdout, s.holdout);
  expect_error([&] { stratified_split(ds, 1.5, 7); }, "outside [0, 1]");
}

TEST(Csv, QuotingListsAndNumbers) {
  TempDir dir;
  test::write_text(dir / "q.csv", "\xEF\xBB\xBF" "a,b\r\n\"x, \"\"y\"\"\",2\r\n\r\n\"multi\nline\",3\n");
  CsvFile f(dir / "q.csv");
  ASSERT_EQ(f.rows().size(), 3u);
  EXPECT_EQ(f.rows()[0].fields[0], "a");
  EXPECT_EQ(f.rows()[1].fields[0], "x, \"y\"");
  EXPECT_EQ(f.rows()[2].fields[0], "multi\nline");
  EXPECT_EQ(f.rows()[2].line, 4);
  std::vector<double> v;
  EXPECT_TRUE(parse_number_list("[215 111  580 352]", v));
  EXPECT_EQ(v, (std::vector<double>{215, 111, 580, 352}));
  EXPECT_FALSE(parse_number_list("215, 111", v));
  std::vector<std::string> names;
  EXPECT_TRUE(parse_string_list("['Doubt/Confusion', \"Peace\"]", names));
  EXPECT_EQ(names, (std::vector<std::string>{"Doubt/Confusion", "Peace"}));
  EXPECT_FALSE(parse_string_list("[Peace]", names));
  int64_t i;
  double d;
  EXPECT_FALSE(parse_int64("3.0", i));
  EXPECT_FALSE(parse_int64("7x", i));
  EXPECT_FALSE(parse_float64("nan", d));
  EXPECT_TRUE(parse_float64(" -0.25 ", d));
  EXPECT_EQ(d, -0.25);
}

}  // namespace
}  // namespace cage::data
