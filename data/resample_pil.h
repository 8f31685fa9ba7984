// Pillow 9.4's resampling engines (libImaging/Resample.c and Geometry.c), reproduced operation for operation so
// results are bit-identical: the building blocks of data/transforms_geometric.cpp. Images are (H, W, C), any C.
#pragma once
#include <array>
#include <cstddef>  // data/image.h uses size_t
#include <cstdint>

#include "data/image.h"

namespace cage::data::pil {

enum class Filter { nearest, bilinear, bicubic };

// Image.resize(size, filter) with the full-image box. `antialias` = false keeps the kernel support unscaled when
// downsampling (not a PIL mode: PIL always scales it).
Image resample(const Image& in, int64_t out_height, int64_t out_width, Filter filter, bool antialias);

// Image.transform(size, AFFINE, a, filter) into an image of the given size, 0 where the source is outside.
// a maps output (x + 0.5, y + 0.5) to input coordinates: x_in = a0 x + a1 y + a2, y_in = a3 x + a4 y + a5.
Image transform_affine(const Image& in, int64_t out_height, int64_t out_width, const std::array<double, 6>& a,
                       Filter filter);
// Image.transform(size, PERSPECTIVE, a, filter): x_in = (a0 x + a1 y + a2) / (a6 x + a7 y + 1), y_in likewise.
Image transform_perspective(const Image& in, int64_t out_height, int64_t out_width, const std::array<double, 8>& a,
                            Filter filter);

// Image.transpose(ROTATE_90 / ROTATE_180 / ROTATE_270): counter-clockwise quarter turns.
Image rotate_quarter(const Image& in, int quarters);

}  // namespace cage::data::pil
