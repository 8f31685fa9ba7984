#include "core/zip_reader.h"

#include <zip.h>

#include <memory>

#include "core/error.h"

namespace cage {

ZipReader::ZipReader(const std::string& path, uint64_t file_bytes) : archive_bytes_(file_bytes) {
  zip_error_t err;
  zip_error_init(&err);
  open(zip_source_file_create(path.c_str(), 0, -1, &err), &err);  // -1: to the end of the file
  zip_error_fini(&err);
}

ZipReader::ZipReader(const void* data, size_t size) : archive_bytes_(size) {
  static const char empty = 0;  // libzip wants a non-null pointer even for no bytes
  zip_error_t err;
  zip_error_init(&err);
  open(zip_source_buffer_create(size ? data : &empty, size, 0, &err), &err);
  zip_error_fini(&err);
}

void ZipReader::open(zip_source_t* src, zip_error_t* err) {
  if (src) {
    za_ = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, err);
    if (!za_) zip_source_free(src);
  }
  if (!za_) {
    error_code_ = zip_error_code_zip(err);
    message_ = zip_error_strerror(err);
  }
}

ZipReader::~ZipReader() {
  if (za_) zip_discard(za_);
}

int64_t ZipReader::entries() const { return zip_get_num_entries(za_, 0); }

std::string ZipReader::name(int64_t i) const {
  const char* n = zip_get_name(za_, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
  return n ? n : "";
}

int64_t ZipReader::locate(const std::string& name) const {
  return zip_name_locate(za_, name.c_str(), ZIP_FL_ENC_RAW);
}

uint64_t ZipReader::size(int64_t i, const std::string& name) const {
  zip_stat_t st;
  zip_stat_init(&st);
  CAGE_CHECK(zip_stat_index(za_, static_cast<zip_uint64_t>(i), 0, &st) == 0, "entry '", name, "': cannot stat (",
             zip_strerror(za_), ")");
  CAGE_CHECK((st.valid & ZIP_STAT_SIZE) && (st.valid & ZIP_STAT_COMP_SIZE), "entry '", name, "' has no size");
  if (st.comp_method == ZIP_CM_STORE)
    CAGE_CHECK(st.comp_size == st.size && st.size <= archive_bytes_, "entry '", name, "' claims ", st.size,
               " bytes, more than the archive holds");
  else
    CAGE_CHECK(st.size / 1100 <= st.comp_size, "entry '", name, "' claims ", st.size, " bytes from ", st.comp_size,
               " compressed bytes");
  return st.size;
}

void ZipReader::read(int64_t i, const std::string& name, void* dst, uint64_t bytes) const {
  zip_file_t* f = zip_fopen_index(za_, static_cast<zip_uint64_t>(i), 0);
  CAGE_CHECK(f, "entry '", name, "': cannot open (", zip_strerror(za_), ")");
  std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> guard(f, zip_fclose);
  char* out = static_cast<char*>(dst);
  uint64_t done = 0;
  while (done < bytes) {
    zip_int64_t n = zip_fread(f, out + done, bytes - done);
    CAGE_CHECK(n >= 0, "entry '", name, "': ", zip_file_strerror(f));
    CAGE_CHECK(n > 0, "entry '", name, "' ends after ", done, " of ", bytes, " bytes");
    done += static_cast<uint64_t>(n);
  }
  char extra;
  zip_int64_t n = zip_fread(f, &extra, 1);
  CAGE_CHECK(n >= 0, "entry '", name, "': ", zip_file_strerror(f));
  CAGE_CHECK(n == 0, "entry '", name, "' is longer than ", bytes, " bytes");
}

std::string ZipReader::read_all(int64_t i, const std::string& name, uint64_t max_bytes) const {
  uint64_t n = size(i, name);
  CAGE_CHECK(n <= max_bytes, "entry '", name, "' is ", n, " bytes, more than the ", max_bytes, " allowed");
  std::string s(static_cast<size_t>(n), '\0');
  read(i, name, s.data(), n);
  return s;
}

}  // namespace cage
