// An evaluation report on disk: the metrics as JSON and text, PNG figures (confusion heatmap, valence/arousal on
// the circumplex, the error-within-threshold curve of the paper's Figure 10) and report.html tying them together
// with relative links, so the directory can be moved or archived as a whole.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "train/metrics.h"

namespace cage::train {

struct PictureSize {
  int width = 0, height = 0;
};

// Each plot_* writes one PNG and returns its size in pixels (the layout grows with class names and legends).

// The row-normalised confusion matrix as a heatmap (viridis, with a colour scale), each cell labelled with its
// share and its count; rows are true classes, columns predicted ones.
PictureSize plot_confusion(const ClassificationMetrics& m, const std::string& path,
                           const std::string& title = "");

// Two panels over [-1.1, 1.1]^2 with the unit circle and the axes: predicted (V, A) on the left, true (V, A) on the
// right, every point coloured by its true class (one colour when true_class is empty). Values beyond the frame are
// drawn on its edge.
PictureSize plot_circumplex(std::span<const double> true_v, std::span<const double> true_a,
                            std::span<const double> pred_v,
                            std::span<const double> pred_a, std::span<const int64_t> true_class,
                            const std::vector<std::string>& class_names, const std::string& path,
                            const std::string& title = "");

// Share of predictions with |error| <= e against e, one curve per dimension.
PictureSize plot_within(const std::vector<double>& thresholds,
                        const std::vector<std::pair<std::string, std::vector<double>>>& curves,
                        const std::string& path, const std::string& title = "");

struct ReportFiles {
  std::string html, json, text;
  std::vector<std::string> pictures;  // the PNGs written (those the inputs allow)
};

// Writes report.html, metrics.json, metrics.txt and the figures into `dir` (created when missing).
ReportFiles write_report(const std::string& dir, const MetricsReport& report, const EvalInputs& inputs);

}  // namespace cage::train
