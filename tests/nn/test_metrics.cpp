// Evaluation metrics and the report on small cases computed by hand: perfect predictions, a 2-class confusion
// worked out on paper, zero divisions, CCC's identities and degenerate inputs, the public code's CCC, EMOTIC's
// raw vs scaled scale, top-k ties, the JSON keys, and the report's files (PNG decoded back, HTML, JSON).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "train/metrics.h"
#include "train/raster.h"
#include "train/report.h"

// A private, internal-linkage copy of stb_image to decode the written PNGs independently of the writer.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace cage::train {
namespace {

TEST(Metrics, PerfectPredictionsScoreOne) {
  const std::vector<int64_t> y{0, 1, 2, 3, 4, 5, 6, 7, 7, 3, 1};
  const auto m = classification_metrics(y, y, 8);
  EXPECT_EQ(m.accuracy, 1.0);
  for (double v : {m.precision_macro, m.recall_macro, m.f1_macro, m.precision_weighted, m.recall_weighted,
                   m.f1_weighted})
    EXPECT_EQ(v, 1.0);
  for (const auto& pc : m.per_class) EXPECT_EQ(pc.f1, 1.0) << pc.name;
  const std::vector<double> v{-0.9, -0.2, 0.0, 0.3, 0.75, 1.0};
  const auto r = regression_metrics(v, v);
  EXPECT_EQ(r.mse, 0.0);
  EXPECT_EQ(r.mae, 0.0);
  EXPECT_EQ(r.rmse, 0.0);
  EXPECT_EQ(r.ccc, 1.0);
  EXPECT_DOUBLE_EQ(r.pearson, 1.0);
  for (double s : within_threshold(v, v, default_thresholds())) EXPECT_EQ(s, 1.0);  // e = 0 counts exact hits
}

TEST(Metrics, TwoClassesByHand) {
  // Confusion [[2, 2], [1, 1]]: class 0 P 2/3 R 1/2 F1 4/7, class 1 P 1/3 R 1/2 F1 2/5.
  const std::vector<int64_t> t{0, 0, 0, 0, 1, 1}, p{0, 0, 1, 1, 1, 0};
  const auto m = classification_metrics(t, p, 2, {"neg", "pos"});
  EXPECT_EQ(m.confusion, (std::vector<std::vector<int64_t>>{{2, 2}, {1, 1}}));
  EXPECT_DOUBLE_EQ(m.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(m.per_class[0].precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.per_class[0].recall, 0.5);
  EXPECT_DOUBLE_EQ(m.per_class[0].f1, 4.0 / 7);
  EXPECT_DOUBLE_EQ(m.per_class[1].precision, 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.per_class[1].recall, 0.5);
  EXPECT_DOUBLE_EQ(m.per_class[1].f1, 2.0 / 5);
  EXPECT_EQ(m.per_class[0].support, 4);
  EXPECT_EQ(m.per_class[1].predicted, 3);
  EXPECT_DOUBLE_EQ(m.precision_macro, 0.5);
  EXPECT_DOUBLE_EQ(m.recall_macro, 0.5);
  EXPECT_DOUBLE_EQ(m.f1_macro, 17.0 / 35);
  EXPECT_DOUBLE_EQ(m.precision_weighted, 5.0 / 9);
  EXPECT_DOUBLE_EQ(m.recall_weighted, 0.5);
  EXPECT_DOUBLE_EQ(m.f1_weighted, 18.0 / 35);  // the mean of per-class F1s, not F1 of the mean P and R
  EXPECT_EQ(m.per_class[1].name, "pos");
}

TEST(Metrics, ZeroDivisionGivesZeroAndCountsInMacro) {
  // Class 2 is neither true nor predicted, class 1 is true but never predicted.
  const std::vector<int64_t> t{0, 0, 1}, p{0, 0, 0};
  const auto m = classification_metrics(t, p, 3);
  EXPECT_EQ(m.per_class[1].precision, 0.0);
  EXPECT_EQ(m.per_class[1].f1, 0.0);
  EXPECT_EQ(m.per_class[2].precision, 0.0);
  EXPECT_EQ(m.per_class[2].recall, 0.0);
  EXPECT_DOUBLE_EQ(m.per_class[0].precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.recall_macro, 1.0 / 3);      // (1 + 0 + 0) / 3
  EXPECT_DOUBLE_EQ(m.recall_weighted, 2.0 / 3);   // absent classes weigh 0
  EXPECT_EQ(m.per_class[2].name, "class 2");
}

TEST(Metrics, ClassificationRejectsBadInput) {
  const std::vector<int64_t> a{0, 1}, b{0, 2}, c{0};
  EXPECT_THROW(classification_metrics(a, b, 2), Error);
  EXPECT_THROW(classification_metrics(a, c, 2), Error);
  EXPECT_THROW(classification_metrics(a, a, 2, {"only one name"}), Error);
  EXPECT_THROW(classification_metrics({}, {}, 2), Error);
}

TEST(Metrics, CccIdentities) {
  const std::vector<double> x{-2, -1, 0, 1, 2}, neg{2, 1, 0, -1, -2};
  EXPECT_EQ(ccc(x, x), 1.0);
  EXPECT_EQ(ccc(x, neg), -1.0);  // zero mean: CCC(x, -x) = -1
  // With mean m: CCC(x, -x) = -var / (var + 2 m^2); x = {1, 2, 3}: var 2/3, m 2 -> -1/13.
  const std::vector<double> y{1, 2, 3}, ny{-1, -2, -3};
  EXPECT_DOUBLE_EQ(ccc(y, ny), -1.0 / 13);
  EXPECT_DOUBLE_EQ(pearson(y, ny), -1.0);
  // A shift keeps Pearson r at 1 but lowers CCC: {1,2,3} vs {2,3,4}: 2 (2/3) / (4/3 + 1) = 4/7.
  const std::vector<double> shifted{2, 3, 4};
  EXPECT_DOUBLE_EQ(ccc(y, shifted), 4.0 / 7);
  EXPECT_DOUBLE_EQ(pearson(y, shifted), 1.0);
}

TEST(Metrics, CccDegenerateInputsAreDefined) {
  const std::vector<double> t{0, 1, 2, 3}, c5(4, 5.0);
  EXPECT_EQ(ccc(t, c5), 0.0);  // constant prediction: cov = 0
  EXPECT_EQ(pearson(t, c5), 0.0);
  const std::vector<double> ones(3, 1.0), twos(3, 2.0);
  EXPECT_EQ(ccc(ones, ones), 1.0);  // both constant and equal: perfect agreement
  EXPECT_EQ(pearson(ones, ones), 0.0);
  EXPECT_EQ(ccc(ones, twos), 0.0);  // both constant, apart: 0 / 1
  const auto one = regression_metrics(std::vector<double>{0.5}, std::vector<double>{0.25});
  EXPECT_EQ(one.mse, 0.0625);
  EXPECT_TRUE(std::isnan(one.ccc_public_code));  // np.cov with ddof = 1 over one sample
  EXPECT_THROW(ccc_public_code(std::vector<double>{0.5}, std::vector<double>{0.25}), Error);
  EXPECT_THROW(regression_metrics(std::vector<double>{}, std::vector<double>{}), Error);
  EXPECT_THROW(regression_metrics(std::vector<double>{1, 2}, std::vector<double>{1}), Error);
}

TEST(Metrics, PublicCodeCccIsOursTimesNOverNMinusOne) {
  const std::vector<double> t{0.1, -0.4, 0.8, 0.3, -0.9, 0.0}, p{0.2, -0.1, 0.5, 0.5, -0.6, 0.1};
  const double n = static_cast<double>(t.size());
  EXPECT_NEAR(ccc_public_code(t, p), ccc(t, p) * n / (n - 1), 1e-15);
  EXPECT_GT(ccc_public_code(t, p), ccc(t, p));
}

TEST(Metrics, RegressionAndWithinByHand) {
  const std::vector<double> t(4, 0.0), p{1, -1, 0.5, 0};
  const auto r = regression_metrics(t, p);
  EXPECT_DOUBLE_EQ(r.mse, 0.5625);  // (1 + 1 + 0.25 + 0) / 4
  EXPECT_DOUBLE_EQ(r.mae, 0.625);
  EXPECT_DOUBLE_EQ(r.rmse, 0.75);
  const std::vector<double> th{0, 0.49, 0.5, 0.99, 1};
  EXPECT_EQ(within_threshold(t, p, th), (std::vector<double>{0.25, 0.25, 0.5, 0.5, 1.0}));
  const auto grid = default_thresholds();
  ASSERT_EQ(grid.size(), 101u);
  EXPECT_EQ(grid[0], 0.0);
  EXPECT_EQ(grid[30], 0.3);
  EXPECT_EQ(grid[100], 1.0);
  // A NaN prediction is never within any threshold but still counts in the denominator.
  const std::vector<double> pn{0, NAN};
  EXPECT_EQ(within_threshold(std::vector<double>{0, 0}, pn, std::vector<double>{1.0}), std::vector<double>{0.5});
}

TEST(Metrics, EmoticRawScaleRelatesByNineHalves) {
  EXPECT_EQ(emotic_to_unit(1), -1.0);
  EXPECT_EQ(emotic_to_unit(10), 1.0);
  EXPECT_EQ(emotic_to_unit(5.5), 0.0);
  EXPECT_DOUBLE_EQ(emotic_to_raw(emotic_to_unit(7)), 7.0);
  EvalInputs in;
  in.dim_names = {"valence", "arousal", "dominance"};
  uint64_t s = 12345;
  auto next = [&] {  // a small LCG: deterministic values without a test dependency
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return double(s >> 11) / double(1ULL << 53);
  };
  for (int d = 0; d < 3; ++d) {
    std::vector<double> t, p;
    for (int i = 0; i < 200; ++i) {
      t.push_back(emotic_to_unit(1 + std::floor(next() * 10)));
      p.push_back(0.6 * t.back() + 0.5 * (next() - 0.5));
    }
    in.true_dims.push_back(t);
    in.pred_dims.push_back(p);
  }
  in.emotic_raw_scale = true;
  const auto rep = evaluate(in);
  ASSERT_EQ(rep.dims_raw.size(), 3u);
  for (size_t d = 0; d < 3; ++d) {
    const auto& u = rep.dims[d].metrics;
    const auto& r = rep.dims_raw[d].metrics;
    EXPECT_NEAR(r.mse, u.mse * 81 / 4, 1e-12 * r.mse) << rep.dims[d].name;
    EXPECT_NEAR(r.mae, u.mae * 9 / 2, 1e-12 * r.mae);
    EXPECT_NEAR(r.rmse, u.rmse * 9 / 2, 1e-12 * r.rmse);
    EXPECT_NEAR(r.ccc, u.ccc, 1e-12);
    EXPECT_NEAR(r.pearson, u.pearson, 1e-12);
    EXPECT_NEAR(r.mean_true, emotic_to_raw(u.mean_true), 1e-12);
  }
  ASSERT_TRUE(rep.pooled.has_value());  // valence ++ arousal, dominance left out
  EXPECT_EQ(rep.pooled->n, 400);
}

TEST(Metrics, TopKTiesAndMultiLabel) {
  const std::vector<double> row{0.1, 0.5, 0.5, 0.2};
  EXPECT_EQ(top_k_classes(row, 1), std::vector<int64_t>{1});  // tie: the lower index first
  EXPECT_EQ(top_k_classes(row, 3), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_THROW(top_k_classes(row, 5), Error);
  // Two samples, 4 classes: the label of sample 0 (class 3) is third, that of sample 1 (class 0) first.
  const std::vector<double> scores{0.9, 0.1, 0.0, 0.5, 3.0, 2.0, 1.0, 0.0};
  const std::vector<int64_t> y{3, 0};
  EXPECT_EQ(top_k_accuracy(y, scores, 4, 1), 0.5);
  EXPECT_EQ(top_k_accuracy(y, scores, 4, 2), 1.0);
  EXPECT_EQ(top_k_accuracy(y, scores, 4, 9), 1.0);  // k beyond K: everything is a hit
  EXPECT_THROW(top_k_accuracy(y, scores, 4, 0), Error);
  EXPECT_EQ(argmax_rows(scores, 4), (std::vector<int64_t>{0, 0}));
  // Multi-label: sample 0 has {1, 2} (top-2 is {0, 3}: miss), sample 1 has {0, 1} (top-2 {0, 1}: 2 hits).
  const std::vector<int64_t> targets{0, 1, 1, 0, 1, 1, 0, 0};
  const auto r = multilabel_top_k(targets, scores, 4, 2);
  EXPECT_EQ(r.any_hit, 0.5);
  EXPECT_EQ(r.precision_at_k, 0.5);  // (0/2 + 2/2) / 2
  const auto r3 = multilabel_top_k(targets, scores, 4, 3);
  EXPECT_EQ(r3.any_hit, 1.0);
  EXPECT_DOUBLE_EQ(r3.precision_at_k, (1.0 / 3 + 2.0 / 3) / 2);
  EXPECT_THROW(multilabel_top_k(std::vector<int64_t>{0, 2, 0, 0}, std::vector<double>(4, 0.0), 4, 1), Error);
  EXPECT_THROW(top_k_accuracy(y, std::vector<double>{0, 0, NAN, 0, 0, 0, 0, 0}, 4, 1), Error);
}

// An AffectNet-8 style run: 3 samples per class, predictions right except every Contempt called Neutral.
EvalInputs affectnet_inputs() {
  EvalInputs in;
  in.title = "AffectNet-8 test run";
  in.num_classes = 8;
  in.dim_names = {"valence", "arousal"};
  in.true_dims.resize(2);
  in.pred_dims.resize(2);
  for (int64_t c = 0; c < 8; ++c) {
    for (int i = 0; i < 3; ++i) {
      in.true_class.push_back(c);
      in.pred_class.push_back(c == 7 ? 0 : c);
      const double angle = c * 0.785 + i * 0.1;
      in.true_dims[0].push_back(0.8 * std::cos(angle));
      in.true_dims[1].push_back(0.8 * std::sin(angle));
      in.pred_dims[0].push_back(0.6 * std::cos(angle + 0.2));
      in.pred_dims[1].push_back(0.6 * std::sin(angle + 0.2));
    }
  }
  return in;
}

TEST(Metrics, ReportJsonKeysAndText) {
  const auto rep = evaluate(affectnet_inputs());
  const auto j = rep.to_json();
  for (const char* key : {"accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted",
                          "recall_weighted", "f1_weighted", "per_class", "confusion", "valence", "arousal", "pooled",
                          "within"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 21.0 / 24);
  ASSERT_EQ(j["per_class"].size(), 8u);
  EXPECT_EQ(j["per_class"][0]["name"], "Neutral");
  EXPECT_EQ(j["per_class"][7]["name"], "Contempt");
  EXPECT_EQ(j["per_class"][7]["f1"].get<double>(), 0.0);
  EXPECT_EQ(j["confusion"][7][0].get<int64_t>(), 3);
  for (const char* key : {"n", "mse", "mae", "rmse", "ccc", "ccc_public_code", "pearson"})
    EXPECT_TRUE(j["valence"].contains(key)) << key;
  EXPECT_EQ(j["pooled"]["n"].get<int64_t>(), 48);
  EXPECT_EQ(j["within"]["thresholds"].size(), 101u);
  EXPECT_EQ(j["within"]["valence"].size(), 101u);
  EXPECT_EQ(j["within"]["arousal"].back().get<double>(), 1.0);
  const std::string text = rep.to_text();
  for (const char* s : {"Contempt", "weighted avg", "macro avg", "pooled", "Confusion matrix", "CCC(pub)"})
    EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
}

std::filesystem::path fresh_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d;
}

struct Decoded {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;
};

Decoded decode_png(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Decoded d;
  int channels = 0;
  uint8_t* px = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &d.w, &d.h, &channels, 3);
  if (px) {
    d.rgb.assign(px, px + size_t(d.w) * d.h * 3);
    stbi_image_free(px);
  }
  return d;
}

TEST(Raster, PngRoundTripIsExact) {
  Canvas c(37, 23, Rgb{10, 20, 30});
  c.fill_rect(2, 3, 9, 8, Rgb{200, 0, 0});
  c.line(0, 22, 36, 0, Rgb{0, 120, 0}, 2);
  c.disc(30, 15, 4, palette(3));
  c.text(1, 10, "Ab1", kWhite);
  const auto path = (fresh_dir("cage_raster") += ".png").string();
  c.write_png(path);
  const Decoded d = decode_png(path);
  ASSERT_EQ(d.w, 37);
  ASSERT_EQ(d.h, 23);
  EXPECT_EQ(d.rgb, c.pixels());  // PNG is lossless
  EXPECT_EQ(c.get(5, 5).r, 200);
  EXPECT_EQ(c.get(0, 0).b, 30);
  std::filesystem::remove(path);
}

TEST(Raster, TextStaysInsideItsMeasuredBox) {
  Canvas c(200, 100);
  const std::string s = "Surprise 0.62";
  const int w = Canvas::text_width(s, 2), h = Canvas::text_height(s, 2);
  ASSERT_GT(w, 0);
  c.text(10, 20, s, kBlack, 2);
  int ink = 0, outside = 0;
  for (int y = 0; y < c.height(); ++y) {
    for (int x = 0; x < c.width(); ++x) {
      if (c.get(x, y).r != 0) continue;
      ++ink;
      outside += x < 10 || x >= 10 + w || y < 20 || y >= 20 + h;
    }
  }
  EXPECT_GT(ink, 100);
  EXPECT_EQ(outside, 0);
  // Turned upwards, the same text fills the transposed box.
  Canvas u(100, 200);
  u.text_up(20, 10, s, kBlack, 2);
  int up_outside = 0, up_ink = 0;
  for (int y = 0; y < u.height(); ++y) {
    for (int x = 0; x < u.width(); ++x) {
      if (u.get(x, y).r != 0) continue;
      ++up_ink;
      up_outside += x < 20 || x >= 20 + h || y < 10 || y >= 10 + w;
    }
  }
  EXPECT_EQ(up_ink, ink);
  EXPECT_EQ(up_outside, 0);
}

TEST(Report, WritesReadablePicturesAndHtml) {
  const EvalInputs in = affectnet_inputs();
  const auto rep = evaluate(in);
  const auto dir = fresh_dir("cage_metrics_report");
  const ReportFiles files = write_report(dir.string(), rep, in);
  ASSERT_EQ(files.pictures.size(), 3u);
  for (const auto& f : {files.html, files.json, files.text}) {
    ASSERT_TRUE(std::filesystem::exists(f)) << f;
    EXPECT_GT(std::filesystem::file_size(f), 200u) << f;
  }
  std::ifstream h(files.html);
  const std::string html((std::istreambuf_iterator<char>(h)), std::istreambuf_iterator<char>());
  for (const char* s : {"src=\"confusion.png\"", "src=\"circumplex.png\"", "src=\"within_error.png\"", "Contempt",
                        "weighted avg", "AffectNet-8 test run"})
    EXPECT_NE(html.find(s), std::string::npos) << s;
  std::ifstream js(files.json);
  const auto j = nlohmann::json::parse(js);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), rep.classification->accuracy);

  // Each figure decodes to the size its plot function reports, and is a picture rather than a blank page.
  const PictureSize conf = plot_confusion(*rep.classification, (dir / "c.png").string());
  const PictureSize circ = plot_circumplex(in.true_dims[0], in.true_dims[1], in.pred_dims[0], in.pred_dims[1],
                                           in.true_class, affectnet_class_names(8), (dir / "v.png").string());
  const PictureSize within = plot_within(rep.thresholds, rep.within, (dir / "w.png").string());
  EXPECT_EQ(within.width, 750);
  EXPECT_EQ(within.height, 560);
  EXPECT_GT(conf.width, 8 * 28);
  EXPECT_GT(circ.width, circ.height);  // two panels side by side
  const std::vector<std::pair<std::string, PictureSize>> expected{
      {"confusion.png", conf}, {"circumplex.png", circ}, {"within_error.png", within}};
  for (const auto& [name, size] : expected) {
    const Decoded d = decode_png((dir / name).string());
    ASSERT_EQ(d.w, size.width) << name;
    ASSERT_EQ(d.h, size.height) << name;
    std::set<uint32_t> colours;
    size_t non_white = 0;
    for (size_t i = 0; i < d.rgb.size(); i += 3) {
      colours.insert(uint32_t(d.rgb[i]) << 16 | uint32_t(d.rgb[i + 1]) << 8 | d.rgb[i + 2]);
      non_white += !(d.rgb[i] == 255 && d.rgb[i + 1] == 255 && d.rgb[i + 2] == 255);
    }
    EXPECT_GT(colours.size(), 20u) << name;
    EXPECT_GT(non_white, d.rgb.size() / 3 / 50) << name;  // at least 2 % ink
  }
  // In this run every row of the heatmap is one-hot (Contempt's row all in the Neutral column), so the cells are
  // viridis(1) and viridis(0) only: both colours must be there.
  const Decoded cm = decode_png((dir / "confusion.png").string());
  std::set<uint32_t> cm_colours;
  for (size_t i = 0; i < cm.rgb.size(); i += 3)
    cm_colours.insert(uint32_t(cm.rgb[i]) << 16 | uint32_t(cm.rgb[i + 1]) << 8 | cm.rgb[i + 2]);
  for (Rgb c : {viridis(0), viridis(1)})
    EXPECT_TRUE(cm_colours.count(uint32_t(c.r) << 16 | uint32_t(c.g) << 8 | c.b)) << int(c.r) << "," << int(c.g);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cage::train
