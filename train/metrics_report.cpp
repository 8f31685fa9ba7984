// MetricsReport: one evaluation's metrics gathered from EvalInputs, as JSON and as a readable table.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "train/metrics.h"

namespace cage::train {

namespace {

nlohmann::json regression_json(const RegressionMetrics& r) {
  // NaN (ccc_public_code for N = 1) becomes null in the dump: JSON has no NaN.
  return {{"n", r.n},
          {"mse", r.mse},
          {"mae", r.mae},
          {"rmse", r.rmse},
          {"ccc", r.ccc},
          {"ccc_public_code", r.ccc_public_code},
          {"pearson", r.pearson},
          {"mean_true", r.mean_true},
          {"mean_pred", r.mean_pred},
          {"std_true", r.std_true},
          {"std_pred", r.std_pred}};
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string regression_row(const std::string& name, const RegressionMetrics& r) {
  std::string row = "  " + pad(name, 10) + pad(std::to_string(r.n), 7);
  for (double v : {r.mse, r.mae, r.rmse, r.ccc, r.ccc_public_code, r.pearson}) row += fmt("%9.4f", v);
  return row + "\n";
}

}  // namespace

MetricsReport evaluate(const EvalInputs& in) {
  MetricsReport rep;
  rep.title = in.title;
  if (in.num_classes > 0 && !in.true_class.empty()) {
    std::vector<std::string> names = in.class_names;
    if (names.empty() && (in.num_classes == 7 || in.num_classes == 8)) names = affectnet_class_names(in.num_classes);
    // Predicted classes may come as scores only: the argmax is the prediction.
    std::vector<int64_t> pred = in.pred_class;
    if (pred.empty()) pred = argmax_rows(in.class_scores, in.num_classes);
    rep.classification = classification_metrics(in.true_class, pred, in.num_classes, names);
    for (int64_t k : in.top_k) {
      CAGE_CHECK(!in.class_scores.empty(), "evaluate: top-", k, " accuracy needs the class scores");
      rep.top_k.emplace_back(k, top_k_accuracy(in.true_class, in.class_scores, in.num_classes, k));
    }
  }
  if (in.num_categories > 0 && !in.true_categories.empty()) {
    rep.multilabel = multilabel_top_k(in.true_categories, in.category_scores, in.num_categories, in.multilabel_k);
    rep.category_names = in.category_names;
    if (rep.category_names.empty() && in.num_categories == 26) rep.category_names = emotic_category_names();
  }
  CAGE_CHECK(in.dim_names.size() == in.true_dims.size() && in.dim_names.size() == in.pred_dims.size(),
             "evaluate: ", in.dim_names.size(), " dimension names, ", in.true_dims.size(), " true and ",
             in.pred_dims.size(), " predicted vectors");
  rep.thresholds = in.thresholds.empty() ? default_thresholds() : in.thresholds;
  const std::vector<double>* val_t = nullptr;
  const std::vector<double>* val_p = nullptr;
  const std::vector<double>* aro_t = nullptr;
  const std::vector<double>* aro_p = nullptr;
  for (size_t d = 0; d < in.dim_names.size(); ++d) {
    const auto& t = in.true_dims[d];
    const auto& p = in.pred_dims[d];
    rep.dims.push_back({in.dim_names[d], regression_metrics(t, p)});
    rep.within.emplace_back(in.dim_names[d], within_threshold(t, p, rep.thresholds));
    if (in.emotic_raw_scale) {
      std::vector<double> tr(t.size()), pr(p.size());
      std::transform(t.begin(), t.end(), tr.begin(), emotic_to_raw);
      std::transform(p.begin(), p.end(), pr.begin(), emotic_to_raw);
      rep.dims_raw.push_back({in.dim_names[d], regression_metrics(tr, pr)});
    }
    if (in.dim_names[d] == "valence") {
      val_t = &t;
      val_p = &p;
    }
    if (in.dim_names[d] == "arousal") {
      aro_t = &t;
      aro_p = &p;
    }
  }
  if (val_t && aro_t) {
    std::vector<double> t(*val_t), p(*val_p);
    t.insert(t.end(), aro_t->begin(), aro_t->end());
    p.insert(p.end(), aro_p->begin(), aro_p->end());
    rep.pooled = regression_metrics(t, p);
  }
  return rep;
}

nlohmann::json MetricsReport::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  j["title"] = title;
  if (classification) {
    const auto& c = *classification;
    j["n"] = c.n;
    j["num_classes"] = c.num_classes;
    j["accuracy"] = c.accuracy;
    j["precision_macro"] = c.precision_macro;
    j["recall_macro"] = c.recall_macro;
    j["f1_macro"] = c.f1_macro;
    j["precision_weighted"] = c.precision_weighted;
    j["recall_weighted"] = c.recall_weighted;
    j["f1_weighted"] = c.f1_weighted;
    nlohmann::json per = nlohmann::json::array();
    for (const auto& pc : c.per_class) {
      per.push_back({{"name", pc.name},
                     {"precision", pc.precision},
                     {"recall", pc.recall},
                     {"f1", pc.f1},
                     {"support", pc.support},
                     {"predicted", pc.predicted}});
    }
    j["per_class"] = per;
    j["confusion"] = c.confusion;
  }
  if (!top_k.empty()) {
    nlohmann::json tk = nlohmann::json::object();
    for (const auto& [k, acc] : top_k) tk[std::to_string(k)] = acc;
    j["top_k"] = tk;
  }
  if (multilabel) {
    j["multilabel_top_k"] = {
        {"k", multilabel->k}, {"any_hit", multilabel->any_hit}, {"precision_at_k", multilabel->precision_at_k}};
    if (!category_names.empty()) j["categories"] = category_names;
  }
  for (const auto& d : dims) j[d.name] = regression_json(d.metrics);
  if (pooled) j["pooled"] = regression_json(*pooled);
  if (!dims_raw.empty()) {
    nlohmann::json raw = nlohmann::json::object();
    for (const auto& d : dims_raw) raw[d.name] = regression_json(d.metrics);
    j["raw_scale"] = raw;
  }
  if (!within.empty()) {
    nlohmann::json w = {{"thresholds", thresholds}};
    for (const auto& [name, share] : within) w[name] = share;
    j["within"] = w;
  }
  return j;
}

std::string MetricsReport::to_text() const {
  std::ostringstream os;
  if (!title.empty()) os << title << "\n\n";
  if (classification) {
    const auto& c = *classification;
    size_t w = 14;
    for (const auto& pc : c.per_class) w = std::max(w, pc.name.size() + 2);
    os << "Expression (" << c.n << " samples, " << c.num_classes << " classes): accuracy "
       << fmt("%.4f", c.accuracy) << "\n";
    os << "  " << pad("class", w) << "precision   recall       f1  support predicted\n";
    for (const auto& pc : c.per_class) {
      os << "  " << pad(pc.name, w) << fmt("%9.4f", pc.precision) << fmt("%9.4f", pc.recall)
         << fmt("%9.4f", pc.f1) << fmt("%9.0f", double(pc.support)) << fmt("%10.0f", double(pc.predicted)) << "\n";
    }
    os << "  " << pad("macro avg", w) << fmt("%9.4f", c.precision_macro) << fmt("%9.4f", c.recall_macro)
       << fmt("%9.4f", c.f1_macro) << fmt("%9.0f", double(c.n)) << "\n";
    os << "  " << pad("weighted avg", w) << fmt("%9.4f", c.precision_weighted) << fmt("%9.4f", c.recall_weighted)
       << fmt("%9.4f", c.f1_weighted) << fmt("%9.0f", double(c.n)) << "\n";
    for (const auto& [k, acc] : top_k) os << "  top-" << k << " accuracy " << fmt("%.4f", acc) << "\n";
    os << "\nConfusion matrix (rows: true class, columns: predicted class)\n  " << pad("", w);
    for (const auto& pc : c.per_class) {
      char head[16];  // right-aligned over the counts below, names cut to 8 characters
      std::snprintf(head, sizeof head, "%8.8s ", pc.name.c_str());
      os << head;
    }
    os << "\n";
    for (size_t i = 0; i < c.confusion.size(); ++i) {
      os << "  " << pad(c.per_class[i].name, w);
      for (int64_t v : c.confusion[i]) os << fmt("%8.0f ", double(v));
      os << "\n";
    }
    os << "\n";
  }
  if (multilabel) {
    os << "Categories: top-" << multilabel->k << " accuracy (a true category among the top " << multilabel->k
       << ") " << fmt("%.4f", multilabel->any_hit) << ", precision@" << multilabel->k << " "
       << fmt("%.4f", multilabel->precision_at_k) << "\n\n";
  }
  auto table = [&](const char* heading, const std::vector<NamedRegression>& rows, bool with_pooled) {
    os << heading << "\n  " << pad("", 10) << pad("n", 7)
       << "      MSE      MAE     RMSE      CCC CCC(pub)  Pearson\n";
    for (const auto& d : rows) os << regression_row(d.name, d.metrics);
    if (with_pooled && pooled) os << regression_row("pooled", *pooled);
    os << "\n";
  };
  if (!dims.empty()) table("Continuous dimensions on [-1, 1]", dims, true);
  if (!dims_raw.empty()) table("Continuous dimensions on EMOTIC's 1..10 scale", dims_raw, false);
  if (!within.empty()) {
    os << "Share of predictions with |error| <= e\n  " << pad("e", 10);
    std::vector<size_t> cols;  // the grid points nearest 0.05, 0.1, 0.2, ... 1.0
    for (double e : {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0}) {
      size_t best = 0;
      for (size_t i = 1; i < thresholds.size(); ++i) {
        if (std::fabs(thresholds[i] - e) < std::fabs(thresholds[best] - e)) best = i;
      }
      if (cols.empty() || cols.back() != best) cols.push_back(best);
    }
    for (size_t i : cols) os << fmt("%7.2f", thresholds[i]);
    os << "\n";
    for (const auto& [name, share] : within) {
      os << "  " << pad(name, 10);
      for (size_t i : cols) os << fmt("%7.3f", share[i]);
      os << "\n";
    }
  }
  return os.str();
}

}  // namespace cage::train
