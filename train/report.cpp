// The report figures drawn on train/raster.h's Canvas, and the HTML page around them.
#include "train/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "core/error.h"
#include "train/raster.h"

namespace cage::train {

namespace {

constexpr int kFont = 2;  // font magnification of labels: stb_easy_font's 7-pixel capitals are too small alone

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void write_text_file(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  CAGE_CHECK(f, "cannot create '", path, "'");
  f << content;
  CAGE_CHECK(f, "writing '", path, "' failed");
}

// A plot frame mapping data coordinates to pixels.
struct Frame {
  int x0, y0, w, h;              // pixel box
  double dx0, dx1, dy0, dy1;     // data range; y grows upwards in data, downwards on screen
  double px(double x) const { return x0 + (x - dx0) / (dx1 - dx0) * w; }
  double py(double y) const { return y0 + (dy1 - y) / (dy1 - dy0) * h; }
};

// Ticks, grid lines and tick labels for both axes of a frame.
void draw_axes(Canvas& c, const Frame& f, const std::vector<double>& xt, const std::vector<double>& yt,
               int digits, const std::string& xlabel, const std::string& ylabel) {
  for (double x : xt) {
    c.line(f.px(x), f.y0, f.px(x), f.y0 + f.h, kLightGrey);
    c.text_centered(static_cast<int>(std::lround(f.px(x))), f.y0 + f.h + 14, fixed(x, digits), kBlack, kFont);
  }
  for (double y : yt) {
    c.line(f.x0, f.py(y), f.x0 + f.w, f.py(y), kLightGrey);
    const std::string s = fixed(y, digits);
    c.text(f.x0 - 8 - Canvas::text_width(s, kFont), static_cast<int>(std::lround(f.py(y))) - 7, s, kBlack, kFont);
  }
  c.rect(f.x0, f.y0, f.x0 + f.w + 1, f.y0 + f.h + 1, kBlack);
  c.text_centered(f.x0 + f.w / 2, f.y0 + f.h + 40, xlabel, kBlack, kFont);
  const int lw = Canvas::text_width(ylabel, kFont);
  c.text_up(f.x0 - 78, f.y0 + f.h / 2 - lw / 2, ylabel, kBlack, kFont);
}

std::vector<double> ticks(double lo, double hi, double step) {
  std::vector<double> t;
  for (int i = 0;; ++i) {
    const double v = lo + i * step;
    if (v > hi + 1e-9) break;
    t.push_back(std::fabs(v) < 1e-12 ? 0.0 : v);
  }
  return t;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

}  // namespace

PictureSize plot_confusion(const ClassificationMetrics& m, const std::string& path, const std::string& title) {
  const int k = static_cast<int>(m.num_classes);
  CAGE_CHECK(k > 0 && static_cast<int>(m.confusion.size()) == k, "plot_confusion: no confusion matrix");
  const int cell = std::clamp(640 / k, 28, 80);
  int name_w = 0;
  for (const auto& pc : m.per_class) name_w = std::max(name_w, Canvas::text_width(pc.name, kFont));
  const int gx = 60 + name_w, gy = 70;  // grid origin: room for the rotated axis label and the row names
  const int grid = k * cell;
  const int width = gx + grid + 150, height = gy + grid + name_w + 70;
  Canvas c(width, height);
  c.text_centered(width / 2, 24, title.empty() ? "Confusion matrix (row-normalised)" : title, kBlack, kFont);
  const bool show_counts = cell >= 56;  // a second line of text fits in large cells only
  for (int i = 0; i < k; ++i) {
    int64_t row = 0;
    for (int64_t v : m.confusion[i]) row += v;
    for (int j = 0; j < k; ++j) {
      const double share = row > 0 ? double(m.confusion[i][j]) / double(row) : 0.0;
      const Rgb col = viridis(share);
      const int x = gx + j * cell, y = gy + i * cell;
      c.fill_rect(x, y, x + cell, y + cell, col);
      const Rgb ink = luminance(col) > 0.5 ? kBlack : kWhite;
      const int cx = x + cell / 2, cy = y + cell / 2;
      if (cell >= 48) {
        c.text_centered(cx, show_counts ? cy - 7 : cy, fixed(share, 2), ink, kFont);
        if (show_counts) c.text_centered(cx, cy + 14, std::to_string(m.confusion[i][j]), ink, 1);
      } else {
        c.text_centered(cx, cy, fixed(share * 100, 0), ink, 1);
      }
    }
    const auto& name = m.per_class[i].name;
    c.text(gx - 10 - Canvas::text_width(name, kFont), gy + i * cell + cell / 2 - 7, name, kBlack, kFont);
  }
  c.rect(gx - 1, gy - 1, gx + grid + 1, gy + grid + 1, kBlack);
  for (int j = 0; j < k; ++j) {  // column names read upwards below the grid, right-aligned at the grid's edge
    const auto& name = m.per_class[j].name;
    const int w = Canvas::text_width(name, kFont);
    c.text_up(gx + j * cell + cell / 2 - 7, gy + grid + 8 + (name_w - w), name, kBlack, kFont);
  }
  c.text_centered(gx + grid / 2, gy + grid + name_w + 36, "predicted class", kBlack, kFont);
  const int tw = Canvas::text_width("true class", kFont);
  c.text_up(14, gy + grid / 2 - tw / 2, "true class", kBlack, kFont);
  // Colour scale: 0 at the bottom, 1 at the top, ticks every 0.25.
  const int bx = gx + grid + 30, bw = 22;
  for (int y = 0; y < grid; ++y) c.fill_rect(bx, gy + y, bx + bw, gy + y + 1, viridis(1.0 - double(y) / (grid - 1)));
  c.rect(bx - 1, gy - 1, bx + bw + 1, gy + grid + 1, kBlack);
  for (int t = 0; t <= 4; ++t) {
    const int y = gy + static_cast<int>(std::lround((1.0 - t / 4.0) * (grid - 1)));
    c.fill_rect(bx + bw, y, bx + bw + 6, y + 1, kBlack);
    c.text(bx + bw + 10, y - 7, fixed(t / 4.0, 2), kBlack, kFont);
  }
  c.write_png(path);
  return {c.width(), c.height()};
}

PictureSize plot_circumplex(std::span<const double> true_v, std::span<const double> true_a,
                            std::span<const double> pred_v, std::span<const double> pred_a,
                            std::span<const int64_t> true_class, const std::vector<std::string>& class_names,
                            const std::string& path, const std::string& title) {
  const size_t n = true_v.size();
  CAGE_CHECK(true_a.size() == n && pred_v.size() == n && pred_a.size() == n, "plot_circumplex: vectors of ",
             true_v.size(), ", ", true_a.size(), ", ", pred_v.size(), ", ", pred_a.size(), " values");
  CAGE_CHECK(true_class.empty() || true_class.size() == n, "plot_circumplex: ", true_class.size(),
             " classes for ", n, " points");
  const int panel = 440, left = 110, gap = 120, top = 80;
  const bool legend = !true_class.empty();
  int legend_w = 0;
  for (const auto& s : class_names) legend_w = std::max(legend_w, Canvas::text_width(s, kFont));
  const int width = left + 2 * panel + gap + (legend ? legend_w + 80 : 40), height = top + panel + 80;
  Canvas c(width, height);
  c.text_centered((left + 2 * panel + gap) / 2, 20, title.empty() ? "Valence / arousal on the circumplex" : title,
                  kBlack, kFont);
  const double lim = 1.1;
  // Points in a fixed pseudo-random order, so no class is drawn entirely on top of the others.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  auto mix = [](uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return mix(a + 1) < mix(b + 1); });
  const double radius = n > 2000 ? 1.8 : 2.5, alpha = n > 2000 ? 0.45 : 0.7;
  for (int p = 0; p < 2; ++p) {
    const Frame f{left + p * (panel + gap), top, panel, panel, -lim, lim, -lim, lim};
    c.text_centered(f.x0 + panel / 2, top - 22, p == 0 ? "predicted (V, A)" : "true (V, A)", kBlack, kFont);
    draw_axes(c, f, ticks(-1, 1, 0.5), ticks(-1, 1, 0.5), 1, "valence", "arousal");
    c.line(f.px(0), f.py(lim), f.px(0), f.py(-lim), kGrey, 1.5);
    c.line(f.px(-lim), f.py(0), f.px(lim), f.py(0), kGrey, 1.5);
    c.ring(f.px(0), f.py(0), panel / (2 * lim), kBlack, 1.5);
    const auto& vs = p == 0 ? pred_v : true_v;
    const auto& as = p == 0 ? pred_a : true_a;
    for (size_t i : order) {
      if (std::isnan(vs[i]) || std::isnan(as[i])) continue;
      const double v = std::clamp(vs[i], -lim, lim), a = std::clamp(as[i], -lim, lim);
      c.disc(f.px(v), f.py(a), radius, legend ? palette(true_class[i]) : palette(0), alpha);
    }
  }
  if (legend) {
    const int lx = left + 2 * panel + gap + 10;
    c.text(lx, top, "true class", kBlack, kFont);
    for (size_t i = 0; i < class_names.size(); ++i) {
      const int y = top + 34 + static_cast<int>(i) * 26;
      c.disc(lx + 8, y + 7, 7, palette(static_cast<int64_t>(i)));
      c.text(lx + 24, y, class_names[i], kBlack, kFont);
    }
  }
  c.write_png(path);
  return {c.width(), c.height()};
}

PictureSize plot_within(const std::vector<double>& thresholds,
                        const std::vector<std::pair<std::string, std::vector<double>>>& curves,
                        const std::string& path, const std::string& title) {
  CAGE_CHECK(thresholds.size() >= 2, "plot_within: need at least 2 thresholds");
  for (const auto& [name, share] : curves) {
    CAGE_CHECK(share.size() == thresholds.size(), "plot_within: curve '", name, "' has ", share.size(),
               " points for ", thresholds.size(), " thresholds");
  }
  const int left = 110, top = 60, w = 600, h = 420;
  Canvas c(left + w + 40, top + h + 80);
  const std::string heading = title.empty() ? "Share of predictions within an absolute error e" : title;
  c.text_centered(left + w / 2, 22, heading, kBlack, kFont);
  const double emax = thresholds.back() > thresholds.front() ? thresholds.back() : thresholds.front() + 1;
  const Frame f{left, top, w, h, thresholds.front(), emax, 0, 1};
  draw_axes(c, f, ticks(thresholds.front(), emax, (emax - thresholds.front()) / 5), ticks(0, 1, 0.2), 1,
            "absolute error threshold e", "share within e");
  for (size_t k = 0; k < curves.size(); ++k) {
    const auto& share = curves[k].second;
    for (size_t i = 1; i < thresholds.size(); ++i) {
      c.line(f.px(thresholds[i - 1]), f.py(share[i - 1]), f.px(thresholds[i]), f.py(share[i]), palette(int64_t(k)),
             2.5);
    }
  }
  // Legend in the lower right, where rising curves leave room.
  for (size_t k = 0; k < curves.size(); ++k) {
    const int y = top + h - 30 - static_cast<int>(curves.size() - 1 - k) * 26;
    c.line(left + w - 170, y + 7, left + w - 140, y + 7, palette(int64_t(k)), 3);
    c.text(left + w - 130, y, curves[k].first, kBlack, kFont);
  }
  c.write_png(path);
  return {c.width(), c.height()};
}

namespace {

std::string regression_table(const MetricsReport& r) {
  std::string s = "<table><tr><th></th><th>n</th><th>MSE</th><th>MAE</th><th>RMSE</th><th>CCC</th>"
                  "<th>CCC (public code)</th><th>Pearson r</th></tr>\n";
  auto row = [&](const std::string& name, const RegressionMetrics& m) {
    s += "<tr><td>" + html_escape(name) + "</td><td>" + std::to_string(m.n) + "</td>";
    for (double v : {m.mse, m.mae, m.rmse, m.ccc, m.ccc_public_code, m.pearson}) s += "<td>" + fixed(v, 4) + "</td>";
    s += "</tr>\n";
  };
  for (const auto& d : r.dims) row(d.name, d.metrics);
  if (r.pooled) row("pooled (V, A)", *r.pooled);
  for (const auto& d : r.dims_raw) row(d.name + " (1..10 scale)", d.metrics);
  return s + "</table>\n";
}

std::string classification_tables(const MetricsReport& r) {
  const auto& c = *r.classification;
  std::string s = "<p>Accuracy <b>" + fixed(c.accuracy, 4) + "</b> over " + std::to_string(c.n) + " samples";
  for (const auto& [k, acc] : r.top_k) s += ", top-" + std::to_string(k) + " " + fixed(acc, 4);
  s += ".</p>\n<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th>"
       "<th>predicted</th></tr>\n";
  for (const auto& pc : c.per_class) {
    s += "<tr><td>" + html_escape(pc.name) + "</td><td>" + fixed(pc.precision, 4) + "</td><td>" +
         fixed(pc.recall, 4) + "</td><td>" + fixed(pc.f1, 4) + "</td><td>" + std::to_string(pc.support) +
         "</td><td>" + std::to_string(pc.predicted) + "</td></tr>\n";
  }
  s += "<tr class=avg><td>macro avg</td><td>" + fixed(c.precision_macro, 4) + "</td><td>" +
       fixed(c.recall_macro, 4) + "</td><td>" + fixed(c.f1_macro, 4) + "</td><td>" + std::to_string(c.n) +
       "</td><td></td></tr>\n";
  s += "<tr class=avg><td>weighted avg</td><td>" + fixed(c.precision_weighted, 4) + "</td><td>" +
       fixed(c.recall_weighted, 4) + "</td><td>" + fixed(c.f1_weighted, 4) + "</td><td>" + std::to_string(c.n) +
       "</td><td></td></tr>\n</table>\n";
  return s;
}

}  // namespace

ReportFiles write_report(const std::string& dir, const MetricsReport& report, const EvalInputs& inputs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  CAGE_CHECK(!ec, "creating report directory '", dir, "': ", ec.message());
  const fs::path d(dir);
  ReportFiles files;
  files.json = (d / "metrics.json").string();
  files.text = (d / "metrics.txt").string();
  files.html = (d / "report.html").string();
  write_text_file(files.json, report.to_json().dump(2) + "\n");
  write_text_file(files.text, report.to_text());

  std::string body;
  if (report.classification) {
    body += "<h2>Expression</h2>\n" + classification_tables(report);
    plot_confusion(*report.classification, (d / "confusion.png").string());
    files.pictures.push_back((d / "confusion.png").string());
    body += "<p><img src=\"confusion.png\" alt=\"confusion matrix\"></p>\n";
  }
  if (report.multilabel) {
    body += "<h2>Categories</h2>\n<p>Top-" + std::to_string(report.multilabel->k) +
            " accuracy (a true category among the " + std::to_string(report.multilabel->k) +
            " highest scores): <b>" + fixed(report.multilabel->any_hit, 4) + "</b>; precision@" +
            std::to_string(report.multilabel->k) + ": " + fixed(report.multilabel->precision_at_k, 4) + "</p>\n";
  }
  if (!report.dims.empty()) {
    body += "<h2>Continuous dimensions</h2>\n" + regression_table(report);
    int vi = -1, ai = -1;
    for (size_t i = 0; i < inputs.dim_names.size(); ++i) {
      if (inputs.dim_names[i] == "valence") vi = static_cast<int>(i);
      if (inputs.dim_names[i] == "arousal") ai = static_cast<int>(i);
    }
    if (vi >= 0 && ai >= 0) {
      // Points take the colour of their true expression class when the run has one per sample.
      const bool by_class = report.classification && inputs.true_class.size() == inputs.true_dims[vi].size();
      std::vector<int64_t> classes;
      std::vector<std::string> names;
      if (by_class) {
        classes = inputs.true_class;
        for (const auto& pc : report.classification->per_class) names.push_back(pc.name);
      }
      plot_circumplex(inputs.true_dims[vi], inputs.true_dims[ai], inputs.pred_dims[vi], inputs.pred_dims[ai], classes,
                      names, (d / "circumplex.png").string());
      files.pictures.push_back((d / "circumplex.png").string());
      body += "<p><img src=\"circumplex.png\" alt=\"valence and arousal on the circumplex\"></p>\n";
    }
  }
  if (!report.within.empty()) {
    plot_within(report.thresholds, report.within, (d / "within_error.png").string());
    files.pictures.push_back((d / "within_error.png").string());
    body += "<p><img src=\"within_error.png\" alt=\"share of predictions within an absolute error\"></p>\n";
  }
  const std::string title = report.title.empty() ? "Evaluation report" : report.title;
  std::string html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
                     "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1400px}"
                     "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 10px;"
                     "text-align:right}td:first-child{text-align:left}tr.avg{font-weight:bold}"
                     "img{max-width:100%;border:1px solid #ddd}</style></head><body>\n<h1>" +
                     html_escape(title) + "</h1>\n" + body +
                     "<p>All numbers: <a href=\"metrics.json\">metrics.json</a>, <a href=\"metrics.txt\">"
                     "metrics.txt</a>.</p>\n</body></html>\n";
  write_text_file(files.html, html);
  return files;
}

}  // namespace cage::train
