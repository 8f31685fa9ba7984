// CSV records with line numbers, and strict field parsers (std::from_chars: no locale, no silent prefixes).
#include "data/csv.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace cage::data {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

bool parse_int64(const std::string& s, int64_t& out) {
  std::string t = trim(s);
  const char* b = t.data();
  const char* e = b + t.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  auto [p, ec] = std::from_chars(b, e, out);
  return ec == std::errc() && p == e;
}

bool parse_float64(const std::string& s, double& out) {
  std::string t = trim(s);
  const char* b = t.data();
  const char* e = b + t.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  auto [p, ec] = std::from_chars(b, e, out);
  // NaN and infinity parse, but no annotation is meaningful with them: reject like any other garbage.
  return ec == std::errc() && p == e && std::isfinite(out);
}

namespace {

// The inside of "[ ... ]", or false when the brackets are missing.
bool list_body(const std::string& s, std::string& body) {
  std::string t = trim(s);
  if (t.size() < 2 || t.front() != '[' || t.back() != ']') return false;
  body = t.substr(1, t.size() - 2);
  return true;
}

}  // namespace

bool parse_number_list(const std::string& s, std::vector<double>& out) {
  out.clear();
  std::string body;
  if (!list_body(s, body)) return false;
  std::string token;
  auto flush = [&]() {
    if (token.empty()) return true;
    double v;
    if (!parse_float64(token, v)) return false;
    out.push_back(v);
    token.clear();
    return true;
  };
  for (char c : body) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!flush()) return false;
    } else {
      token += c;
    }
  }
  return flush();
}

bool parse_string_list(const std::string& s, std::vector<std::string>& out) {
  out.clear();
  std::string body;
  if (!list_body(s, body)) return false;
  size_t i = 0;
  bool need_separator = false;
  while (i < body.size()) {
    char c = body[i];
    if (c == ' ' || c == '\t') {
      ++i;
    } else if (c == ',') {
      if (!need_separator) return false;  // "[, 'a']" or "['a',, 'b']"
      need_separator = false;
      ++i;
    } else if (c == '\'' || c == '"') {
      if (need_separator) return false;
      size_t end = body.find(c, i + 1);
      if (end == std::string::npos) return false;
      out.push_back(body.substr(i + 1, end - i - 1));
      need_separator = true;
      i = end + 1;
    } else {
      return false;
    }
  }
  return true;
}

CsvFile::CsvFile(const std::string& path) : path_(path), name_(std::filesystem::path(path).filename().string()) {
  std::ifstream in(path, std::ios::binary);
  CAGE_CHECK(in, "cannot open '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  size_t i = 0;
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;

  int64_t line = 1;
  CsvRow row;
  std::string field;
  bool in_quotes = false, field_was_quoted = false, row_has_content = false;
  int64_t quote_line = 0;
  row.line = 1;
  auto end_field = [&]() {
    row.fields.push_back(field_was_quoted ? field : trim(field));
    field.clear();
    field_was_quoted = false;
  };
  auto end_row = [&]() {
    end_field();
    // A blank line is a single empty field: not a record.
    if (row_has_content) rows_.push_back(std::move(row));
    row = CsvRow();
    row_has_content = false;
  };
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && trim(field).empty()) {
      in_quotes = field_was_quoted = row_has_content = true;
      quote_line = line;
      field.clear();
    } else if (c == ',') {
      row_has_content = true;
      end_field();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      // CR LF: the LF ends the record.
    } else if (c == '\n') {
      end_row();
      ++line;
      row.line = line;
    } else {
      if (c != ' ' && c != '\t' && c != '\r') row_has_content = true;
      field += c;
    }
  }
  CAGE_CHECK(!in_quotes, name_, ":", quote_line, ": quoted field is never closed");
  if (row_has_content || !field.empty()) end_row();
}

std::vector<int> CsvFile::columns(const CsvRow& header, const std::vector<std::string>& required) const {
  std::vector<int> out;
  for (const std::string& name : required) {
    int c = optional_column(header, name);
    if (c < 0) {
      std::string present;
      for (const std::string& f : header.fields) present += (present.empty() ? "" : ", ") + f;
      fail(where(header), ": no column '", name, "' in the header (columns: ", present, ")");
    }
    out.push_back(c);
  }
  return out;
}

int CsvFile::optional_column(const CsvRow& header, const std::string& name) const {
  for (size_t i = 0; i < header.fields.size(); ++i)
    if (trim(header.fields[i]) == name) return static_cast<int>(i);
  return -1;
}

const std::string& CsvFile::field(const CsvRow& row, int col, const std::string& what) const {
  CAGE_CHECK(col >= 0 && col < static_cast<int>(row.fields.size()), where(row), ": ", row.fields.size(),
             " field(s), no ", what, " (column ", col + 1, ")");
  return row.fields[col];
}

int64_t CsvFile::parse_int(const CsvRow& row, int col, const std::string& what) const {
  const std::string& f = field(row, col, what);
  int64_t v;
  CAGE_CHECK(parse_int64(f, v), where(row), ": ", what, " '", f, "' is not an integer");
  return v;
}

double CsvFile::parse_double(const CsvRow& row, int col, const std::string& what) const {
  const std::string& f = field(row, col, what);
  double v;
  CAGE_CHECK(parse_float64(f, v), where(row), ": ", what, " '", f, "' is not a number");
  return v;
}

}  // namespace cage::data
