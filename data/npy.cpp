// .npy: "\x93NUMPY", major, minor, header length (u16 in v1, u32 in v2/v3), then a Python dict literal
// {'descr': '<i8', 'fortran_order': False, 'shape': (1,), } padded with spaces, then the raw elements.
#include "data/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "data/csv.h"

namespace cage::data {

namespace {

// The value text after "'key':" in the header dict, up to the next top-level comma or the closing brace.
std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) k = header.find("\"" + key + "\"");
  CAGE_CHECK(k != std::string::npos, path, ": .npy header has no '", key, "': ", header);
  size_t colon = header.find(':', k);
  CAGE_CHECK(colon != std::string::npos, path, ": malformed .npy header: ", header);
  size_t i = colon + 1;
  int depth = 0;
  std::string value;
  for (; i < header.size(); ++i) {
    char c = header[i];
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
    value += c;
  }
  return trim(value);
}

std::string unquote(const std::string& s) {
  if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front())
    return s.substr(1, s.size() - 2);
  return s;
}

bool host_little_endian() {
  const uint16_t one = 1;
  uint8_t b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

// Reads `size` bytes at p as the given byte order into T.
template <typename T>
T load(const uint8_t* p, bool little) {
  uint8_t tmp[sizeof(T)];
  std::memcpy(tmp, p, sizeof(T));
  if (little != host_little_endian())
    for (size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(tmp[i], tmp[sizeof(T) - 1 - i]);
  T v;
  std::memcpy(&v, tmp, sizeof(T));
  return v;
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<double> NpyArray::as_doubles(const std::string& path) const {
  CAGE_CHECK(descr.size() >= 3, path, ": unsupported .npy dtype '", descr, "'");
  const char order = descr[0];
  const char kind = descr[1];
  int64_t size = 0;
  CAGE_CHECK(parse_int64(descr.substr(2), size) && size > 0, path, ": unsupported .npy dtype '", descr, "'");
  const bool little = order == '<' || (order == '|' || order == '=' ? host_little_endian() : false);
  const int64_t n = numel();
  std::vector<double> out;
  out.reserve(static_cast<size_t>(n));
  const int64_t elem = kind == 'U' ? 4 * size : size;  // 'U' counts UCS-4 code points
  CAGE_CHECK(static_cast<int64_t>(data.size()) == n * elem, path, ": .npy payload has ", data.size(), " bytes, ",
             n * elem, " expected");
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = data.data() + i * elem;
    double v = 0;
    if (kind == 'i' || kind == 'u') {
      if (size == 1) v = kind == 'i' ? static_cast<double>(static_cast<int8_t>(*p)) : *p;
      else if (size == 2) v = kind == 'i' ? load<int16_t>(p, little) : load<uint16_t>(p, little);
      else if (size == 4) v = kind == 'i' ? load<int32_t>(p, little) : load<uint32_t>(p, little);
      else if (size == 8) v = kind == 'i' ? static_cast<double>(load<int64_t>(p, little))
                                          : static_cast<double>(load<uint64_t>(p, little));
      else fail(path, ": unsupported .npy dtype '", descr, "'");
    } else if (kind == 'f') {
      if (size == 4) v = load<float>(p, little);
      else if (size == 8) v = load<double>(p, little);
      else fail(path, ": unsupported .npy dtype '", descr, "' (float16/float128)");
    } else if (kind == 'b' && size == 1) {
      v = *p ? 1 : 0;
    } else if (kind == 'U' || kind == 'S') {
      std::string text;
      for (int64_t c = 0; c < size; ++c) {
        uint32_t code = kind == 'U' ? load<uint32_t>(p + 4 * c, little) : p[c];
        if (code == 0) break;  // NumPy pads shorter strings with NULs
        CAGE_CHECK(code < 128, path, ": non-ASCII character in a .npy string where a number was expected");
        text += static_cast<char>(code);
      }
      CAGE_CHECK(parse_float64(text, v), path, ": .npy string '", text, "' is not a number");
    } else {
      fail(path, ": unsupported .npy dtype '", descr, "'");
    }
    out.push_back(v);
  }
  return out;
}

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  CAGE_CHECK(in, "cannot open '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string raw = ss.str();
  CAGE_CHECK(raw.size() >= 10 && raw.compare(0, 6, "\x93NUMPY") == 0, path, ": not a .npy file (bad magic string)");
  const int major = static_cast<uint8_t>(raw[6]);
  CAGE_CHECK(major >= 1 && major <= 3, path, ": .npy format version ", major, " is not supported");
  size_t header_len, start;
  if (major == 1) {
    header_len = static_cast<uint8_t>(raw[8]) | (static_cast<size_t>(static_cast<uint8_t>(raw[9])) << 8);
    start = 10;
  } else {
    CAGE_CHECK(raw.size() >= 12, path, ": truncated .npy header");
    header_len = 0;
    for (int b = 3; b >= 0; --b) header_len = (header_len << 8) | static_cast<uint8_t>(raw[8 + b]);
    start = 12;
  }
  CAGE_CHECK(raw.size() >= start + header_len, path, ": truncated .npy header");
  const std::string header = raw.substr(start, header_len);

  NpyArray a;
  a.descr = unquote(dict_value(header, "descr", path));
  a.fortran_order = dict_value(header, "fortran_order", path) == "True";
  std::string shape = dict_value(header, "shape", path);
  CAGE_CHECK(shape.size() >= 2 && shape.front() == '(' && shape.back() == ')', path, ": malformed .npy shape ", shape);
  std::vector<double> dims;
  std::string as_list = shape;  // "(2, 3)" -> "[2, 3]"; "(1,)" -> "[1,]"
  as_list.front() = '[';
  as_list.back() = ']';
  CAGE_CHECK(parse_number_list(as_list, dims), path, ": malformed .npy shape ", shape);
  for (double d : dims) {
    CAGE_CHECK(d >= 0 && d == static_cast<double>(static_cast<int64_t>(d)), path, ": malformed .npy shape ", shape);
    a.shape.push_back(static_cast<int64_t>(d));
  }
  CAGE_CHECK(a.descr.size() >= 3 && a.descr[1] != 'O', path, ": .npy dtype '", a.descr,
             "' is not supported (object arrays need pickle)");
  int64_t size = 0;
  CAGE_CHECK(parse_int64(a.descr.substr(2), size) && size > 0, path, ": unsupported .npy dtype '", a.descr, "'");
  const int64_t elem = a.descr[1] == 'U' ? 4 * size : size;
  const size_t bytes = static_cast<size_t>(a.numel() * elem);
  const size_t present = raw.size() - start - header_len;
  CAGE_CHECK(present >= bytes, path, ": truncated .npy payload (", present, " bytes, ", bytes, " expected)");
  a.data.assign(raw.begin() + static_cast<std::ptrdiff_t>(start + header_len),
                raw.begin() + static_cast<std::ptrdiff_t>(start + header_len + bytes));
  return a;
}

double read_npy_scalar(const std::string& path) {
  NpyArray a = read_npy(path);
  CAGE_CHECK(a.numel() == 1, path, ": expected one value, the array holds ", a.numel());
  return a.as_doubles(path)[0];
}

}  // namespace cage::data
