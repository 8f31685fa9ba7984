// A tiny RGB raster for report figures: anti-aliased lines, discs and rings, filled rectangles, text from
// stb_easy_font's segment font (scaled by whole pixels), colour maps, and PNG output through stb_image_write.
// Coordinates are pixels with y pointing down; shapes are clipped to the canvas.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cage::train {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};
inline constexpr Rgb kGrey{128, 128, 128};
inline constexpr Rgb kLightGrey{225, 225, 225};

// Matplotlib's viridis (perceptually uniform, readable in grey), t clamped to [0, 1].
Rgb viridis(double t);
// A categorical palette (matplotlib's tab10), cycling for i >= 10.
Rgb palette(int64_t i);
// Relative luminance in [0, 1], for choosing black or white text on a colour.
double luminance(Rgb c);

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = kWhite);

  int width() const { return width_; }
  int height() const { return height_; }
  Rgb get(int x, int y) const;
  const std::vector<uint8_t>& pixels() const { return pixels_; }  // RGB, row-major

  void set(int x, int y, Rgb c);
  void blend(int x, int y, Rgb c, double alpha);  // alpha in [0, 1]
  void fill_rect(int x0, int y0, int x1, int y1, Rgb c);  // the pixels [x0, x1) x [y0, y1)
  void rect(int x0, int y0, int x1, int y1, Rgb c);       // 1-pixel outline of the same box
  // Anti-aliased by pixel coverage of the ideal shape (distance to the pixel centre).
  void line(double x0, double y0, double x1, double y1, Rgb c, double width = 1, double alpha = 1);
  void dashed_line(double x0, double y0, double x1, double y1, Rgb c, double dash = 6, double width = 1);
  void disc(double cx, double cy, double radius, Rgb c, double alpha = 1);
  void ring(double cx, double cy, double radius, Rgb c, double width = 1);

  // Text with its top-left corner at (x, y); `scale` magnifies the font's pixels. Newlines start new lines.
  void text(int x, int y, const std::string& s, Rgb c, int scale = 1);
  // The same text turned 90 degrees counter-clockwise (reading bottom to top), its box's top-left at (x, y).
  void text_up(int x, int y, const std::string& s, Rgb c, int scale = 1);
  static int text_width(const std::string& s, int scale = 1);
  static int text_height(const std::string& s, int scale = 1);
  // Centred on (cx, cy).
  void text_centered(int cx, int cy, const std::string& s, Rgb c, int scale = 1);

  // Writes a PNG (to a temporary name, then renamed); a cage::Error names the path on failure.
  void write_png(const std::string& path) const;

 private:
  int width_, height_;
  std::vector<uint8_t> pixels_;
};

}  // namespace cage::train
