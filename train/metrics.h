// Evaluation metrics of the CAGE protocol (paper Tables 6-8 and Figure 10), all computed in double.
//
// Conventions (every function takes the truth first, then the prediction, as sklearn does):
// - Classification follows sklearn's precision_recall_fscore_support(labels=range(K), zero_division=0): a class that
//   is never predicted has precision 0, a class absent from the truth has recall 0, F1 = 2 tp / (2 tp + fp + fn)
//   (0 when that denominator is 0). Macro averages run over all K classes, weighted averages weight by support.
//   The confusion matrix has rows = true class, columns = predicted class.
// - Regression moments are population moments (ddof = 0) throughout:
//     CCC = 2 cov / (var_t + var_p + (mean_t - mean_p)^2).
//   The public CAGE evaluation mixes np.cov (ddof = 1) in the numerator with np.var (ddof = 0) in the denominator,
//   which inflates CCC by N / (N - 1); ccc_public_code() reproduces that formula so numbers can be set against the
//   paper's. Degenerate inputs are defined rather than NaN: when var_t + var_p + (mean_t - mean_p)^2 = 0 (both
//   vectors constant and equal) CCC = 1, the agreement being perfect; a constant prediction for varying targets has
//   cov = 0 and so CCC = 0. Pearson r is 0 when either side has zero variance (no linear association measurable).
// - "Pooled" regression concatenates valence and arousal into one vector, as the public code does (its Table 6
//   numbers); the paper's Table 7 is per dimension.
// - Figure 10's curve: within(e) = share of predictions with |pred - true| <= e, for thresholds e in [0, 1].
// - Top-k (single label): the true class is among the k highest scores. Multi-label top-k (EMOTIC, k = 3): the paper
//   reports "Top-3 Accuracy" without a definition and the public code has no evaluation for it, so we define
//     any_hit        = share of samples whose k highest-scoring categories contain at least one true category,
//     precision_at_k = mean over samples of |top-k ∩ true| / k (a stricter companion number).
//   (The paper's 14.73 % sits against a Papers-with-Code EMOTIC leaderboard entry; with any_hit a model that always
//   ranks Engagement, present in most EMOTIC samples, first would score far higher, so treat the paper's number
//   as not comparable until its definition is known.) Ranking: higher score first, ties to the lower class index.
// - EMOTIC's continuous labels live on 1..10; the model works on (2x - 11) / 9 in [-1, 1]. Errors on the raw scale
//   are the scaled errors times 9/2 (MSE times 81/4); CCC and Pearson r do not change.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace cage::train {

// Class names in label order: AffectNet-8 (Neutral ... Contempt) or AffectNet-7 (without Contempt).
std::vector<std::string> affectnet_class_names(int64_t num_classes);
// EMOTIC's 26 categories in label order.
const std::vector<std::string>& emotic_category_names();

// ---------------------------------------------------------------------------------------------- classification

struct ClassMetrics {
  std::string name;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  int64_t support = 0;    // true samples of the class
  int64_t predicted = 0;  // samples predicted as the class
};

struct ClassificationMetrics {
  int64_t num_classes = 0;
  int64_t n = 0;
  double accuracy = 0;
  double precision_macro = 0, recall_macro = 0, f1_macro = 0;
  double precision_weighted = 0, recall_weighted = 0, f1_weighted = 0;
  std::vector<ClassMetrics> per_class;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
};

// Labels must lie in [0, num_classes); class_names (optional) must have num_classes entries.
ClassificationMetrics classification_metrics(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                                             int64_t num_classes, const std::vector<std::string>& class_names = {});

// scores: N x num_classes, row-major.
std::vector<int64_t> argmax_rows(std::span<const double> scores, int64_t num_classes);
// The k best classes of one row of scores, best first (ties: lower index first).
std::vector<int64_t> top_k_classes(std::span<const double> row, int64_t k);
// k >= num_classes gives 1 (every label is among the top k), as sklearn's top_k_accuracy_score does.
double top_k_accuracy(std::span<const int64_t> y_true, std::span<const double> scores, int64_t num_classes,
                      int64_t k);

struct MultiLabelTopK {
  int64_t k = 0;
  double any_hit = 0;         // the "top-k accuracy" of the protocol
  double precision_at_k = 0;
};
// targets: N x num_classes multi-hot (0 or 1), scores: N x num_classes.
MultiLabelTopK multilabel_top_k(std::span<const int64_t> targets, std::span<const double> scores, int64_t num_classes,
                                int64_t k);

// -------------------------------------------------------------------------------------------------- regression

struct Moments {  // population (ddof = 0) moments, two-pass
  int64_t n = 0;
  double mean_true = 0, mean_pred = 0, var_true = 0, var_pred = 0, cov = 0;
};
Moments moments(std::span<const double> truth, std::span<const double> pred);

double ccc(std::span<const double> truth, std::span<const double> pred);
// The public code's formula 2 cov_{ddof=1} / (var_{ddof=0} + var_{ddof=0} + dmean^2); needs N >= 2.
double ccc_public_code(std::span<const double> truth, std::span<const double> pred);
double pearson(std::span<const double> truth, std::span<const double> pred);

struct RegressionMetrics {
  int64_t n = 0;
  double mse = 0, mae = 0, rmse = 0;
  double ccc = 0;
  double ccc_public_code = 0;  // NaN for N = 1, where the public formula divides by zero
  double pearson = 0;
  double mean_true = 0, mean_pred = 0, std_true = 0, std_pred = 0;  // ddof = 0
};
RegressionMetrics regression_metrics(std::span<const double> truth, std::span<const double> pred);

// count thresholds i / (count - 1), i = 0 .. count - 1 (0.00, 0.01, ..., 1.00 for 101).
std::vector<double> default_thresholds(int64_t count = 101);
// Share of |pred - true| <= e for each threshold e.
std::vector<double> within_threshold(std::span<const double> truth, std::span<const double> pred,
                                     std::span<const double> thresholds);

// EMOTIC's 1..10 scale to [-1, 1] and back.
inline double emotic_to_unit(double raw) { return (2 * raw - 11) / 9; }
inline double emotic_to_raw(double unit) { return (9 * unit + 11) / 2; }

// ------------------------------------------------------------------------------------------ a whole evaluation

// What an evaluation run collected. Leave a part empty when the model has no such output.
struct EvalInputs {
  std::string title;  // e.g. "AffectNet-8 validation, MaxViT combined"
  // Single-label expression (AffectNet): true and predicted classes, optionally the scores (N x K) for top-k.
  int64_t num_classes = 0;
  std::vector<std::string> class_names;  // defaults: AffectNet names for K = 7 / 8, else "class i"
  std::vector<int64_t> true_class, pred_class;
  std::vector<double> class_scores;
  std::vector<int64_t> top_k;  // extra top-k accuracies to report, e.g. {2, 3}
  // Multi-label categories (EMOTIC): multi-hot targets and scores, N x num_categories.
  int64_t num_categories = 0;
  std::vector<std::string> category_names;
  std::vector<int64_t> true_categories;
  std::vector<double> category_scores;
  int64_t multilabel_k = 3;
  // Continuous dimensions on [-1, 1]: names ("valence", "arousal"[, "dominance"]) and values, one vector each.
  std::vector<std::string> dim_names;
  std::vector<std::vector<double>> true_dims, pred_dims;
  bool emotic_raw_scale = false;  // also report the dimensions on EMOTIC's 1..10 scale
  std::vector<double> thresholds;  // within-threshold grid; default_thresholds() when empty
};

struct NamedRegression {
  std::string name;
  RegressionMetrics metrics;
};

struct MetricsReport {
  std::string title;
  std::optional<ClassificationMetrics> classification;
  std::vector<std::pair<int64_t, double>> top_k;  // (k, accuracy), single-label
  std::optional<MultiLabelTopK> multilabel;
  std::vector<std::string> category_names;        // multi-label categories, for the record
  std::vector<NamedRegression> dims;              // per dimension, on [-1, 1]
  std::optional<RegressionMetrics> pooled;        // valence ++ arousal
  std::vector<NamedRegression> dims_raw;          // EMOTIC 1..10 scale, when asked for
  std::vector<double> thresholds;
  std::vector<std::pair<std::string, std::vector<double>>> within;  // per dimension

  // Stable keys: accuracy, precision_/recall_/f1_ + macro/weighted, per_class [{name, precision, recall, f1,
  // support, predicted}], confusion, top_k {"k": acc}, multilabel_top_k {k, any_hit, precision_at_k}, one object
  // per dimension name and "pooled" ({n, mse, mae, rmse, ccc, ccc_public_code, pearson, mean_true, mean_pred,
  // std_true, std_pred}), raw_scale {dimension: {...}}, within {thresholds, <dimension>: [...]}.
  nlohmann::json to_json() const;
  // A readable table (class names, averages, confusion matrix, regression, a few within-threshold points).
  std::string to_text() const;
};

MetricsReport evaluate(const EvalInputs& inputs);

}  // namespace cage::train
