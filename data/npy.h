// A minimal reader of NumPy .npy files (format versions 1, 2 and 3), enough for per-image annotation files:
// AffectNet's 224x224 release stores each image's expression, valence and arousal as one-value arrays, the
// expression as a unicode string ('<U1' holding "3") in the real files and as integers or floats in re-exports.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cage::data {

struct NpyArray {
  std::string descr;           // e.g. "<i8", "<f4", "<U1", "|b1"
  bool fortran_order = false;
  std::vector<int64_t> shape;  // () for a 0-d array
  std::vector<uint8_t> data;   // raw element bytes, as stored

  int64_t numel() const;
  // Every element as a number: integers, floats and booleans of either byte order; unicode ('U') and byte ('S')
  // strings are parsed as numbers. A string that is not a number, or an unsupported dtype, is an Error naming `path`.
  std::vector<double> as_doubles(const std::string& path) const;
};

// Reads a whole .npy file. A bad magic string, a malformed header or a truncated payload is an Error naming the file.
NpyArray read_npy(const std::string& path);

// The single value of a one-element array (shape (), (1,), (1, 1), ...), as a number; an Error otherwise.
double read_npy_scalar(const std::string& path);

}  // namespace cage::data
