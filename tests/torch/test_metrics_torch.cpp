// The evaluation metrics (train/metrics.h) against independent numpy formulas (tools/reference/ref_metrics.py,
// itself checked against scikit-learn when installed): classification counts and averages, top-k, regression
// moments and CCC (ours and the public code's), within-threshold curves, a whole AffectNet-style report through
// MetricsReport::to_json, and EMOTIC's multi-label top-k with V/A/D on both scales. Everything is float64 on both
// sides, so the tolerance is 1e-12 absolute; each case prints its largest difference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "support/reference.h"
#include "train/metrics.h"

namespace cage::test {
namespace {

using namespace cage::train;

constexpr double kAtol = 1e-12;

std::vector<double> f64(const Tensor& t) { return t.to_vector<double>(); }
std::vector<int64_t> i64(const Tensor& t) { return t.to_vector<int64_t>(); }

// Compares computed numbers with a case's stored ones and remembers the largest difference.
class MetricCase {
 public:
  explicit MetricCase(const ReferenceCase& c) : c_(c) {}
  ~MetricCase() { std::printf("[metrics] %-44s max |diff| %.2e over %d numbers\n", c_.name.c_str(), max_, count_); }

  const Tensor& in(const std::string& name) const { return c_.file.get("in." + name); }

  void near(const std::string& name, double actual) { near(name, std::vector<double>{actual}); }
  void near(const std::string& name, const std::vector<double>& actual) {
    const auto expected = f64(c_.file.get(name));
    ASSERT_EQ(actual.size(), expected.size()) << c_.name << ": " << name;
    for (size_t i = 0; i < actual.size(); ++i) {
      ++count_;
      if (std::isnan(expected[i]) && std::isnan(actual[i])) continue;
      const double d = std::fabs(actual[i] - expected[i]);
      max_ = std::max(max_, std::isnan(d) ? INFINITY : d);
      EXPECT_LE(d, kAtol) << c_.name << ": " << name << "[" << i << "] = " << actual[i] << ", numpy "
                          << expected[i];
    }
  }
  void equal(const std::string& name, const std::vector<int64_t>& actual) {
    count_ += static_cast<int>(actual.size());
    EXPECT_EQ(actual, i64(c_.file.get(name))) << c_.name << ": " << name;
  }
  void regression(const std::string& prefix, const RegressionMetrics& r) {
    near(prefix + ".mse", r.mse);
    near(prefix + ".mae", r.mae);
    near(prefix + ".rmse", r.rmse);
    near(prefix + ".ccc", r.ccc);
    near(prefix + ".ccc_public", r.ccc_public_code);
    near(prefix + ".pearson", r.pearson);
    near(prefix + ".mean_true", r.mean_true);
    near(prefix + ".mean_pred", r.mean_pred);
    near(prefix + ".std_true", r.std_true);
    near(prefix + ".std_pred", r.std_pred);
  }
  // The same numbers as they appear in a MetricsReport's JSON.
  void regression_json(const std::string& prefix, const nlohmann::json& j) {
    for (const char* key : {"mse", "mae", "rmse", "ccc", "pearson", "mean_true", "mean_pred", "std_true", "std_pred"})
      near(prefix + "." + key, j.at(key).get<double>());
    near(prefix + ".ccc_public", j.at("ccc_public_code").get<double>());
  }

 private:
  const ReferenceCase& c_;
  double max_ = 0;
  int count_ = 0;
};

TEST(TorchMetrics, Classification) {
  for (auto& c : load_reference_cases("metrics_classification", 4)) {
    MetricCase t(c);
    const int64_t k = c.params["num_classes"].get<int64_t>();
    const auto y_true = i64(t.in("y_true")), y_pred = i64(t.in("y_pred"));
    const auto scores = f64(t.in("scores"));
    const ClassificationMetrics m = classification_metrics(y_true, y_pred, k);
    std::vector<double> p, r, f;
    std::vector<int64_t> support, predicted, confusion;
    for (const auto& pc : m.per_class) {
      p.push_back(pc.precision);
      r.push_back(pc.recall);
      f.push_back(pc.f1);
      support.push_back(pc.support);
      predicted.push_back(pc.predicted);
    }
    for (const auto& row : m.confusion) confusion.insert(confusion.end(), row.begin(), row.end());
    t.near("out.accuracy", m.accuracy);
    t.near("out.precision", p);
    t.near("out.recall", r);
    t.near("out.f1", f);
    t.equal("out.support", support);
    t.equal("out.predicted", predicted);
    t.equal("out.confusion", confusion);
    t.near("out.precision_macro", m.precision_macro);
    t.near("out.recall_macro", m.recall_macro);
    t.near("out.f1_macro", m.f1_macro);
    t.near("out.precision_weighted", m.precision_weighted);
    t.near("out.recall_weighted", m.recall_weighted);
    t.near("out.f1_weighted", m.f1_weighted);
    t.equal("out.argmax", argmax_rows(scores, k));
    std::vector<double> topk;
    for (const auto& kk : c.params["top_k"]) topk.push_back(top_k_accuracy(y_true, scores, k, kk.get<int64_t>()));
    t.near("out.top_k", topk);
  }
}

TEST(TorchMetrics, ClassificationCasesCoverZeroDivision) {
  // The K = 8 case must exercise both zero divisions, or the comparison above proves less than it claims.
  for (auto& c : load_reference_cases("metrics_classification", 4)) {
    if (c.name != "metrics_classification/k8_empty_predicted") continue;
    const auto predicted = i64(c.file.get("out.predicted"));
    const auto support = i64(c.file.get("out.support"));
    EXPECT_EQ(predicted[5], 0);
    EXPECT_GT(support[5], 0);
    EXPECT_EQ(support[7], 0);
    EXPECT_GT(predicted[7], 0);
    return;
  }
  FAIL() << "case k8_empty_predicted missing";
}

TEST(TorchMetrics, Regression) {
  for (auto& c : load_reference_cases("metrics_regression", 4)) {
    MetricCase t(c);
    const auto truth = f64(t.in("truth")), pred = f64(t.in("pred")), th = f64(t.in("thresholds"));
    t.regression("out", regression_metrics(truth, pred));
    t.near("out.ccc", ccc(truth, pred));
    t.near("out.ccc_public", ccc_public_code(truth, pred));
    t.near("out.pearson", pearson(truth, pred));
    t.near("out.within", within_threshold(truth, pred, th));
    // The stored grid is the default one, so the report's curves use the same thresholds.
    t.near("in.thresholds", default_thresholds(static_cast<int64_t>(th.size())));
  }
}

TEST(TorchMetrics, AffectNetReportJson) {
  auto cases = load_reference_cases("metrics_affect", 1);
  MetricCase t(cases[0]);
  EvalInputs in;
  in.num_classes = cases[0].params["num_classes"].get<int64_t>();
  in.true_class = i64(t.in("y_true"));
  in.class_scores = f64(t.in("scores"));  // predictions are the argmax of the scores
  in.top_k = {2};
  in.dim_names = {"valence", "arousal"};
  in.true_dims = {f64(t.in("val_true")), f64(t.in("aro_true"))};
  in.pred_dims = {f64(t.in("val_pred")), f64(t.in("aro_pred"))};
  const nlohmann::json j = evaluate(in).to_json();
  for (const char* key : {"accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted",
                          "recall_weighted", "f1_weighted"})
    t.near(std::string("out.") + key, j.at(key).get<double>());
  std::vector<double> f1;
  std::vector<std::string> names;
  for (const auto& pc : j.at("per_class")) {
    f1.push_back(pc.at("f1").get<double>());
    names.push_back(pc.at("name").get<std::string>());
  }
  t.near("out.f1", f1);
  EXPECT_EQ(names, cases[0].params["class_names"].get<std::vector<std::string>>());
  std::vector<int64_t> confusion;
  for (const auto& row : j.at("confusion")) {
    for (const auto& v : row) confusion.push_back(v.get<int64_t>());
  }
  t.equal("out.confusion", confusion);
  t.near("out.top_2", j.at("top_k").at("2").get<double>());
  t.regression_json("out.valence", j.at("valence"));
  t.regression_json("out.arousal", j.at("arousal"));
  t.regression_json("out.pooled", j.at("pooled"));
  EXPECT_EQ(j.at("pooled").at("n").get<int64_t>(), 2 * static_cast<int64_t>(in.true_class.size()));
  t.near("out.within.valence", j.at("within").at("valence").get<std::vector<double>>());
  t.near("out.within.arousal", j.at("within").at("arousal").get<std::vector<double>>());
}

TEST(TorchMetrics, EmoticMultiLabelAndScales) {
  auto cases = load_reference_cases("metrics_emotic", 1);
  MetricCase t(cases[0]);
  const int64_t c = cases[0].params["num_categories"].get<int64_t>();
  const auto targets = i64(t.in("targets"));
  const auto scores = f64(t.in("scores"));
  for (int64_t k : {1, 3, 5}) {
    const MultiLabelTopK r = multilabel_top_k(targets, scores, c, k);
    t.near("out.top" + std::to_string(k) + ".any_hit", r.any_hit);
    t.near("out.top" + std::to_string(k) + ".precision_at_k", r.precision_at_k);
  }
  EvalInputs in;
  in.num_categories = c;
  in.true_categories = targets;
  in.category_scores = scores;
  in.multilabel_k = 3;
  in.dim_names = {"valence", "arousal", "dominance"};
  for (const auto& d : in.dim_names) {
    in.true_dims.push_back(f64(t.in(d + "_true")));
    in.pred_dims.push_back(f64(t.in(d + "_pred")));
  }
  in.emotic_raw_scale = true;
  const nlohmann::json j = evaluate(in).to_json();
  t.near("out.top3.any_hit", j.at("multilabel_top_k").at("any_hit").get<double>());
  EXPECT_EQ(j.at("categories").size(), 26u);
  for (const auto& d : in.dim_names) {
    t.regression_json("out." + d, j.at(d));
    // numpy computed the raw-scale numbers from the integer ratings themselves, not by unscaling.
    t.regression_json("out.raw." + d, j.at("raw_scale").at(d));
  }
}

}  // namespace
}  // namespace cage::test
