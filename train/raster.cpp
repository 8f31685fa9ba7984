// Canvas drawing, the stb_easy_font text path and PNG output (see raster.h).
#include "train/raster.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/decode.h"

// stb_easy_font's functions are static by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

namespace cage::train {

namespace {

uint8_t to_byte(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

struct Quad {
  float x0, y0, x1, y1;
};

// The font's quads for `s` at the origin, in font pixels (one line is 12 high, glyphs about 6 wide).
std::vector<Quad> font_quads(const std::string& s) {
  std::string buf = s;  // stb_easy_font takes a mutable char*
  std::vector<char> vbuf(std::max<size_t>(1, s.size()) * 270 * 4);  // 270 bytes per glyph is stb's own estimate
  const int nq = stb_easy_font_print(0, 0, buf.data(), nullptr, vbuf.data(), static_cast<int>(vbuf.size()));
  std::vector<Quad> quads;
  quads.reserve(static_cast<size_t>(nq));
  for (int q = 0; q < nq; ++q) {
    const char* v = vbuf.data() + q * 64;  // 4 vertices of 16 bytes: x, y, z floats and a colour
    float xs[4], ys[4];
    for (int k = 0; k < 4; ++k) {
      std::memcpy(&xs[k], v + k * 16, sizeof(float));
      std::memcpy(&ys[k], v + k * 16 + 4, sizeof(float));
    }
    quads.push_back({*std::min_element(xs, xs + 4), *std::min_element(ys, ys + 4), *std::max_element(xs, xs + 4),
                     *std::max_element(ys, ys + 4)});
  }
  return quads;
}

// Coverage of a pixel whose centre lies at signed distance d inside an edge (d > 0 inside), 1 pixel of ramp.
double coverage(double d) { return std::clamp(d + 0.5, 0.0, 1.0); }

}  // namespace

Rgb viridis(double t) {
  static const double stops[9][3] = {{68, 1, 84},    {72, 40, 120},  {62, 73, 137},  {49, 104, 142}, {38, 130, 142},
                                     {31, 158, 137}, {53, 183, 121}, {110, 206, 88}, {253, 231, 37}};
  if (!(t >= 0)) t = 0;  // NaN too
  t = std::min(t, 1.0) * 8;
  const int i = std::min(static_cast<int>(t), 7);
  const double f = t - i;
  return {to_byte(stops[i][0] + f * (stops[i + 1][0] - stops[i][0])),
          to_byte(stops[i][1] + f * (stops[i + 1][1] - stops[i][1])),
          to_byte(stops[i][2] + f * (stops[i + 1][2] - stops[i][2]))};
}

Rgb palette(int64_t i) {
  static const Rgb tab10[10] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return tab10[((i % 10) + 10) % 10];
}

double luminance(Rgb c) { return (0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b) / 255.0; }

Canvas::Canvas(int width, int height, Rgb background) : width_(width), height_(height) {
  CAGE_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384, "canvas size ", width, " x ", height,
             " out of range");
  pixels_.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < pixels_.size(); i += 3) {
    pixels_[i] = background.r;
    pixels_[i + 1] = background.g;
    pixels_[i + 2] = background.b;
  }
}

Rgb Canvas::get(int x, int y) const {
  CAGE_CHECK(x >= 0 && y >= 0 && x < width_ && y < height_, "pixel (", x, ", ", y, ") outside the canvas");
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  return {pixels_[i], pixels_[i + 1], pixels_[i + 2]};
}

void Canvas::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  pixels_[i] = c.r;
  pixels_[i + 1] = c.g;
  pixels_[i + 2] = c.b;
}

void Canvas::blend(int x, int y, Rgb c, double alpha) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_ || !(alpha > 0)) return;
  alpha = std::min(alpha, 1.0);
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  pixels_[i] = to_byte(pixels_[i] + alpha * (c.r - pixels_[i]));
  pixels_[i + 1] = to_byte(pixels_[i + 1] + alpha * (c.g - pixels_[i + 1]));
  pixels_[i + 2] = to_byte(pixels_[i + 2] + alpha * (c.b - pixels_[i + 2]));
}

void Canvas::fill_rect(int x0, int y0, int x1, int y1, Rgb c) {
  x0 = std::max(x0, 0);
  y0 = std::max(y0, 0);
  x1 = std::min(x1, width_);
  y1 = std::min(y1, height_);
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) set(x, y, c);
  }
}

void Canvas::rect(int x0, int y0, int x1, int y1, Rgb c) {
  fill_rect(x0, y0, x1, y0 + 1, c);
  fill_rect(x0, y1 - 1, x1, y1, c);
  fill_rect(x0, y0, x0 + 1, y1, c);
  fill_rect(x1 - 1, y0, x1, y1, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, double width, double alpha) {
  const double half = width / 2;
  const int bx0 = static_cast<int>(std::floor(std::min(x0, x1) - half - 1));
  const int bx1 = static_cast<int>(std::ceil(std::max(x0, x1) + half + 1));
  const int by0 = static_cast<int>(std::floor(std::min(y0, y1) - half - 1));
  const int by1 = static_cast<int>(std::ceil(std::max(y0, y1) + half + 1));
  const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  for (int y = std::max(by0, 0); y <= std::min(by1, height_ - 1); ++y) {
    for (int x = std::max(bx0, 0); x <= std::min(bx1, width_ - 1); ++x) {
      const double px = x + 0.5, py = y + 0.5;
      const double t = len2 > 0 ? std::clamp(((px - x0) * dx + (py - y0) * dy) / len2, 0.0, 1.0) : 0.0;
      const double d = std::hypot(px - (x0 + t * dx), py - (y0 + t * dy));
      blend(x, y, c, alpha * coverage(half - d));
    }
  }
}

void Canvas::dashed_line(double x0, double y0, double x1, double y1, Rgb c, double dash, double width) {
  const double len = std::hypot(x1 - x0, y1 - y0);
  if (len <= 0) return;
  const double ux = (x1 - x0) / len, uy = (y1 - y0) / len;
  for (double s = 0; s < len; s += 2 * dash) {
    const double e = std::min(s + dash, len);
    line(x0 + ux * s, y0 + uy * s, x0 + ux * e, y0 + uy * e, c, width);
  }
}

void Canvas::disc(double cx, double cy, double radius, Rgb c, double alpha) {
  for (int y = static_cast<int>(std::floor(cy - radius - 1)); y <= static_cast<int>(std::ceil(cy + radius + 1)); ++y) {
    for (int x = static_cast<int>(std::floor(cx - radius - 1)); x <= static_cast<int>(std::ceil(cx + radius + 1));
         ++x) {
      blend(x, y, c, alpha * coverage(radius - std::hypot(x + 0.5 - cx, y + 0.5 - cy)));
    }
  }
}

void Canvas::ring(double cx, double cy, double radius, Rgb c, double width) {
  const double reach = radius + width / 2 + 1;
  for (int y = static_cast<int>(std::floor(cy - reach)); y <= static_cast<int>(std::ceil(cy + reach)); ++y) {
    for (int x = static_cast<int>(std::floor(cx - reach)); x <= static_cast<int>(std::ceil(cx + reach)); ++x) {
      const double d = std::fabs(std::hypot(x + 0.5 - cx, y + 0.5 - cy) - radius);
      blend(x, y, c, coverage(width / 2 - d));
    }
  }
}

void Canvas::text(int x, int y, const std::string& s, Rgb c, int scale) {
  for (const Quad& q : font_quads(s)) {
    fill_rect(x + static_cast<int>(q.x0) * scale, y + static_cast<int>(q.y0) * scale,
              x + static_cast<int>(q.x1) * scale, y + static_cast<int>(q.y1) * scale, c);
  }
}

void Canvas::text_up(int x, int y, const std::string& s, Rgb c, int scale) {
  // Text space (u right, v down) turned counter-clockwise: screen x = v, screen y = width - u.
  const int w = text_width(s, scale);
  for (const Quad& q : font_quads(s)) {
    fill_rect(x + static_cast<int>(q.y0) * scale, y + w - static_cast<int>(q.x1) * scale,
              x + static_cast<int>(q.y1) * scale, y + w - static_cast<int>(q.x0) * scale, c);
  }
}

int Canvas::text_width(const std::string& s, int scale) {
  std::string buf = s;
  return stb_easy_font_width(buf.data()) * scale;
}

int Canvas::text_height(const std::string& s, int scale) {
  // stb counts a line as 12 pixels though capitals stand 7 high and descenders reach 9: measure the glyphs.
  float bottom = 0;
  for (const Quad& q : font_quads(s)) bottom = std::max(bottom, q.y1);
  return std::max(static_cast<int>(bottom), s.empty() ? 0 : 7) * scale;
}

void Canvas::text_centered(int cx, int cy, const std::string& s, Rgb c, int scale) {
  // Centre on the capital height (7), so labels with and without descenders line up.
  text(cx - text_width(s, scale) / 2, cy - 7 * scale / 2, s, c, scale);
}

// PNG encoding (and its write-to-temp-then-rename) is the data layer's, shared with the test fixtures.
void Canvas::write_png(const std::string& path) const {
  data::Image img(height_, width_, 3);
  img.pixels = pixels_;
  data::encode_png(img, path);
}

}  // namespace cage::train
