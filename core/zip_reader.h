// Read-only access to a zip archive through libzip, with the checks a hostile file needs: entry sizes are
// checked against what the archive can hold before anything is allocated, and every read is exact and
// CRC-verified. Used by the torch.save reader (core/pth.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

// libzip's handles, declared here so that users of this header need not include <zip.h>.
struct zip;
struct zip_source;
struct zip_error;

namespace cage {

class ZipReader {
 public:
  // The archive in a file of `file_bytes` bytes, or in memory (not copied: it must outlive the reader).
  // A failure to open leaves ok() false with error_code() and message() set.
  ZipReader(const std::string& path, uint64_t file_bytes);
  ZipReader(const void* data, size_t size);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  bool ok() const { return za_ != nullptr; }
  int error_code() const { return error_code_; }  // libzip's ZIP_ER_* when !ok()
  const std::string& message() const { return message_; }

  int64_t entries() const;
  std::string name(int64_t i) const;
  int64_t locate(const std::string& name) const;  // -1 when absent

  // Uncompressed size of entry i, after checking that the entry could hold it: stored data lies inside the
  // archive, deflated data expands at most ~1032:1. A lying size field then cannot make us allocate gigabytes.
  uint64_t size(int64_t i, const std::string& name) const;
  // Reads exactly `bytes` bytes of entry i into dst and checks that the entry ends there; reading to the
  // end makes libzip verify the CRC.
  void read(int64_t i, const std::string& name, void* dst, uint64_t bytes) const;
  std::string read_all(int64_t i, const std::string& name, uint64_t max_bytes) const;

 private:
  void open(::zip_source* src, ::zip_error* err);

  ::zip* za_ = nullptr;
  uint64_t archive_bytes_;
  int error_code_ = 0;
  std::string message_;
};

}  // namespace cage
