// The metric computations of metrics.h: classification counts, rankings, regression moments, threshold curves.
#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace cage::train {

namespace {

// Neumaier-compensated sum: metrics over thousands of samples stay correctly rounded to within an ulp or two,
// so the numbers do not depend on the summation order (numpy sums pairwise).
class Sum {
 public:
  void add(double x) {
    const double t = s_ + x;
    c_ += std::fabs(s_) >= std::fabs(x) ? (s_ - t) + x : (x - t) + s_;
    s_ = t;
  }
  double value() const { return s_ + c_; }

 private:
  double s_ = 0, c_ = 0;
};

void check_pair(std::span<const double> truth, std::span<const double> pred, const char* what) {
  CAGE_CHECK(truth.size() == pred.size(), what, ": ", truth.size(), " targets but ", pred.size(), " predictions");
  CAGE_CHECK(!truth.empty(), what, ": no samples");
}

void check_scores(std::span<const double> scores, int64_t num_classes, size_t n, const char* what) {
  CAGE_CHECK(num_classes > 0, what, ": num_classes must be positive, got ", num_classes);
  CAGE_CHECK(scores.size() == n * static_cast<size_t>(num_classes), what, ": ", scores.size(), " scores for ", n,
             " samples x ", num_classes, " classes");
  for (double s : scores) CAGE_CHECK(!std::isnan(s), what, ": NaN score (rankings need ordered scores)");
}

}  // namespace

std::vector<std::string> affectnet_class_names(int64_t num_classes) {
  CAGE_CHECK(num_classes == 7 || num_classes == 8, "AffectNet has 7 or 8 classes, not ", num_classes);
  std::vector<std::string> names{"Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger", "Contempt"};
  names.resize(static_cast<size_t>(num_classes));
  return names;
}

const std::vector<std::string>& emotic_category_names() {
  static const std::vector<std::string> names{
      "Affection",    "Anger",         "Annoyance",   "Anticipation",    "Aversion",   "Confidence", "Disapproval",
      "Disconnection", "Disquietment", "Doubt/Confusion", "Embarrassment", "Engagement", "Esteem",    "Excitement",
      "Fatigue",      "Fear",          "Happiness",   "Pain",            "Peace",      "Pleasure",   "Sadness",
      "Sensitivity",  "Suffering",     "Surprise",    "Sympathy",        "Yearning"};
  return names;
}

ClassificationMetrics classification_metrics(std::span<const int64_t> y_true, std::span<const int64_t> y_pred,
                                             int64_t num_classes, const std::vector<std::string>& class_names) {
  CAGE_CHECK(num_classes > 0, "classification_metrics: num_classes must be positive, got ", num_classes);
  CAGE_CHECK(y_true.size() == y_pred.size(), "classification_metrics: ", y_true.size(), " true labels but ",
             y_pred.size(), " predictions");
  CAGE_CHECK(!y_true.empty(), "classification_metrics: no samples");
  CAGE_CHECK(class_names.empty() || static_cast<int64_t>(class_names.size()) == num_classes,
             "classification_metrics: ", class_names.size(), " class names for ", num_classes, " classes");
  const auto k = static_cast<size_t>(num_classes);
  ClassificationMetrics m;
  m.num_classes = num_classes;
  m.n = static_cast<int64_t>(y_true.size());
  m.confusion.assign(k, std::vector<int64_t>(k, 0));
  for (size_t i = 0; i < y_true.size(); ++i) {
    CAGE_CHECK(y_true[i] >= 0 && y_true[i] < num_classes, "classification_metrics: true label ", y_true[i],
               " of sample ", i, " outside [0, ", num_classes, ")");
    CAGE_CHECK(y_pred[i] >= 0 && y_pred[i] < num_classes, "classification_metrics: predicted label ", y_pred[i],
               " of sample ", i, " outside [0, ", num_classes, ")");
    ++m.confusion[static_cast<size_t>(y_true[i])][static_cast<size_t>(y_pred[i])];
  }
  int64_t correct = 0;
  const double n = static_cast<double>(m.n);
  for (size_t c = 0; c < k; ++c) {
    ClassMetrics cm;
    cm.name = class_names.empty() ? "class " + std::to_string(c) : class_names[c];
    const int64_t tp = m.confusion[c][c];
    for (size_t j = 0; j < k; ++j) {
      cm.support += m.confusion[c][j];
      cm.predicted += m.confusion[j][c];
    }
    correct += tp;
    // zero_division = 0: an empty denominator gives 0. F1 from the counts (2 tp + fp + fn = support + predicted)
    // rounds once, and equals 2PR / (P + R) wherever that is defined.
    cm.precision = cm.predicted > 0 ? double(tp) / double(cm.predicted) : 0.0;
    cm.recall = cm.support > 0 ? double(tp) / double(cm.support) : 0.0;
    const int64_t f_den = cm.support + cm.predicted;
    cm.f1 = f_den > 0 ? double(2 * tp) / double(f_den) : 0.0;
    m.per_class.push_back(std::move(cm));
  }
  m.accuracy = double(correct) / n;
  Sum pm, rm, fm, pw, rw, fw;
  for (const auto& cm : m.per_class) {
    pm.add(cm.precision);
    rm.add(cm.recall);
    fm.add(cm.f1);
    const double w = double(cm.support);
    pw.add(cm.precision * w);
    rw.add(cm.recall * w);
    fw.add(cm.f1 * w);
  }
  const double kd = static_cast<double>(num_classes);
  m.precision_macro = pm.value() / kd;
  m.recall_macro = rm.value() / kd;
  m.f1_macro = fm.value() / kd;
  m.precision_weighted = pw.value() / n;
  m.recall_weighted = rw.value() / n;
  m.f1_weighted = fw.value() / n;
  return m;
}

std::vector<int64_t> argmax_rows(std::span<const double> scores, int64_t num_classes) {
  CAGE_CHECK(num_classes > 0 && scores.size() % static_cast<size_t>(num_classes) == 0, "argmax_rows: ",
             scores.size(), " scores do not split into rows of ", num_classes);
  const size_t n = scores.size() / static_cast<size_t>(num_classes);
  check_scores(scores, num_classes, n, "argmax_rows");
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = top_k_classes(scores.subspan(i * num_classes, num_classes), 1)[0];
  return out;
}

std::vector<int64_t> top_k_classes(std::span<const double> row, int64_t k) {
  CAGE_CHECK(k >= 1 && k <= static_cast<int64_t>(row.size()), "top-k: k = ", k, " for ", row.size(), " classes");
  std::vector<int64_t> idx(row.size());
  std::iota(idx.begin(), idx.end(), int64_t(0));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
    return row[a] > row[b] || (row[a] == row[b] && a < b);
  });
  idx.resize(static_cast<size_t>(k));
  return idx;
}

double top_k_accuracy(std::span<const int64_t> y_true, std::span<const double> scores, int64_t num_classes,
                      int64_t k) {
  CAGE_CHECK(!y_true.empty(), "top_k_accuracy: no samples");
  check_scores(scores, num_classes, y_true.size(), "top_k_accuracy");
  CAGE_CHECK(k >= 1, "top_k_accuracy: k must be at least 1, got ", k);
  k = std::min(k, num_classes);  // k >= K: every label is among the top k (sklearn also gives 1 there)
  int64_t hits = 0;
  for (size_t i = 0; i < y_true.size(); ++i) {
    CAGE_CHECK(y_true[i] >= 0 && y_true[i] < num_classes, "top_k_accuracy: label ", y_true[i], " of sample ", i,
               " outside [0, ", num_classes, ")");
    const auto top = top_k_classes(scores.subspan(i * num_classes, num_classes), k);
    hits += std::find(top.begin(), top.end(), y_true[i]) != top.end();
  }
  return double(hits) / double(y_true.size());
}

MultiLabelTopK multilabel_top_k(std::span<const int64_t> targets, std::span<const double> scores, int64_t num_classes,
                                int64_t k) {
  CAGE_CHECK(num_classes > 0 && !targets.empty() && targets.size() % static_cast<size_t>(num_classes) == 0,
             "multilabel_top_k: ", targets.size(), " targets do not split into rows of ", num_classes);
  const size_t n = targets.size() / static_cast<size_t>(num_classes);
  check_scores(scores, num_classes, n, "multilabel_top_k");
  for (int64_t t : targets) CAGE_CHECK(t == 0 || t == 1, "multilabel_top_k: targets must be 0 or 1, got ", t);
  MultiLabelTopK r;
  r.k = k;
  int64_t any = 0;
  Sum prec;
  for (size_t i = 0; i < n; ++i) {
    const auto top = top_k_classes(scores.subspan(i * num_classes, num_classes), k);
    int64_t hits = 0;
    for (int64_t c : top) hits += targets[i * num_classes + static_cast<size_t>(c)];
    any += hits > 0;
    prec.add(double(hits) / double(k));
  }
  r.any_hit = double(any) / double(n);
  r.precision_at_k = prec.value() / double(n);
  return r;
}

Moments moments(std::span<const double> truth, std::span<const double> pred) {
  check_pair(truth, pred, "moments");
  Moments m;
  m.n = static_cast<int64_t>(truth.size());
  const double n = static_cast<double>(m.n);
  Sum st, sp;
  for (size_t i = 0; i < truth.size(); ++i) {
    st.add(truth[i]);
    sp.add(pred[i]);
  }
  m.mean_true = st.value() / n;
  m.mean_pred = sp.value() / n;
  // Two passes: centred sums do not cancel catastrophically as sum(x^2) - n mean^2 would.
  Sum vt, vp, cv;
  for (size_t i = 0; i < truth.size(); ++i) {
    const double dt = truth[i] - m.mean_true, dp = pred[i] - m.mean_pred;
    vt.add(dt * dt);
    vp.add(dp * dp);
    cv.add(dt * dp);
  }
  m.var_true = vt.value() / n;
  m.var_pred = vp.value() / n;
  m.cov = cv.value() / n;
  return m;
}

namespace {

double ccc_from(const Moments& m) {
  const double dm = m.mean_true - m.mean_pred;
  const double den = m.var_true + m.var_pred + dm * dm;
  return den > 0 ? 2 * m.cov / den : 1.0;  // den = 0: both constant and equal, perfect agreement
}

double pearson_from(const Moments& m) {
  if (!(m.var_true > 0) || !(m.var_pred > 0)) return 0.0;
  return m.cov / (std::sqrt(m.var_true) * std::sqrt(m.var_pred));
}

double ccc_public_from(const Moments& m) {
  if (m.n < 2) return std::numeric_limits<double>::quiet_NaN();
  const double n = static_cast<double>(m.n);
  const double dm = m.mean_true - m.mean_pred;
  return 2 * (m.cov * n / (n - 1)) / (m.var_true + m.var_pred + dm * dm);  // 0 / 0 = NaN, as numpy gives
}

}  // namespace

double ccc(std::span<const double> truth, std::span<const double> pred) { return ccc_from(moments(truth, pred)); }

double ccc_public_code(std::span<const double> truth, std::span<const double> pred) {
  CAGE_CHECK(truth.size() >= 2, "ccc_public_code: np.cov with ddof = 1 needs at least 2 samples, got ",
             truth.size());
  return ccc_public_from(moments(truth, pred));
}

double pearson(std::span<const double> truth, std::span<const double> pred) {
  return pearson_from(moments(truth, pred));
}

RegressionMetrics regression_metrics(std::span<const double> truth, std::span<const double> pred) {
  const Moments mo = moments(truth, pred);
  RegressionMetrics r;
  r.n = mo.n;
  Sum se, ae;
  for (size_t i = 0; i < truth.size(); ++i) {
    const double e = pred[i] - truth[i];
    se.add(e * e);
    ae.add(std::fabs(e));
  }
  const double n = static_cast<double>(mo.n);
  r.mse = se.value() / n;
  r.mae = ae.value() / n;
  r.rmse = std::sqrt(r.mse);
  r.ccc = ccc_from(mo);
  r.ccc_public_code = ccc_public_from(mo);
  r.pearson = pearson_from(mo);
  r.mean_true = mo.mean_true;
  r.mean_pred = mo.mean_pred;
  r.std_true = std::sqrt(mo.var_true);
  r.std_pred = std::sqrt(mo.var_pred);
  return r;
}

std::vector<double> default_thresholds(int64_t count) {
  CAGE_CHECK(count >= 2, "default_thresholds: need at least 2 thresholds, got ", count);
  std::vector<double> t(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) t[static_cast<size_t>(i)] = double(i) / double(count - 1);
  return t;
}

std::vector<double> within_threshold(std::span<const double> truth, std::span<const double> pred,
                                     std::span<const double> thresholds) {
  check_pair(truth, pred, "within_threshold");
  // Sorted absolute errors: each threshold is one binary search, so a fine grid over N samples stays cheap.
  // A NaN error (a NaN prediction) is never within any threshold; it is left out of the sort, which it would break.
  std::vector<double> err;
  err.reserve(truth.size());
  for (size_t i = 0; i < truth.size(); ++i) {
    const double e = std::fabs(pred[i] - truth[i]);
    if (!std::isnan(e)) err.push_back(e);
  }
  std::sort(err.begin(), err.end());
  std::vector<double> share;
  share.reserve(thresholds.size());
  for (double e : thresholds) {
    const auto upto = std::upper_bound(err.begin(), err.end(), e);
    share.push_back(double(upto - err.begin()) / double(truth.size()));
  }
  return share;
}

}  // namespace cage::train
