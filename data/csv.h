// A small CSV reader for dataset annotation files, and the field parsers the dataset readers share.
// Every value it hands out carries its file and line, so a bad row is reported as "train.csv:17: ...":
// annotation files are edited by hand and converted by ad-hoc scripts, and the row is what the user must fix.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cage::data {

// One record of a CSV file: RFC 4180 quoting (fields with commas, quotes "" and newlines), CR LF or LF,
// a UTF-8 byte-order mark at the start ignored. `line` is the 1-based line on which the record starts.
struct CsvRow {
  std::vector<std::string> fields;
  int64_t line = 0;
};

class CsvFile {
 public:
  // Reads the whole file; an unreadable file or an unterminated quote is an Error naming the file.
  explicit CsvFile(const std::string& path);

  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }  // the file name without folders, for messages
  const std::vector<CsvRow>& rows() const { return rows_; }  // blank lines are not records

  // Column positions of a header row by name (exact match after trimming spaces): an Error at the header's line
  // when a required column is missing, listing the columns present.
  std::vector<int> columns(const CsvRow& header, const std::vector<std::string>& required) const;
  int optional_column(const CsvRow& header, const std::string& name) const;  // -1 when absent

  // "train.csv:17"
  std::string where(const CsvRow& row) const { return name_ + ":" + std::to_string(row.line); }
  // The field of `row` at column `col`, or an Error "train.csv:17: 3 fields, column 'exp' (5) missing".
  const std::string& field(const CsvRow& row, int col, const std::string& what) const;

  int64_t parse_int(const CsvRow& row, int col, const std::string& what) const;
  double parse_double(const CsvRow& row, int col, const std::string& what) const;

 private:
  std::string path_, name_;
  std::vector<CsvRow> rows_;
};

// Trims ASCII spaces and tabs at both ends.
std::string trim(const std::string& s);

// Strict number parsing of a whole (trimmed) string; false when anything else is there.
bool parse_int64(const std::string& s, int64_t& out);
bool parse_float64(const std::string& s, double& out);

// Python / NumPy list literals as pandas writes them into a CSV cell: "[1, 2, 3]", "[215 111 580 352]",
// "['Peace', 'Happiness']", "[]". Numbers: separated by commas and/or spaces. Strings: quoted with ' or ".
// Returns false when the text is not such a list.
bool parse_number_list(const std::string& s, std::vector<double>& out);
bool parse_string_list(const std::string& s, std::vector<std::string>& out);

}  // namespace cage::data
