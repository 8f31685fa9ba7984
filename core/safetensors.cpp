#include "core/safetensors.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/half.h"

namespace cage {

namespace {

// F16 and BF16 are read as f32 (exact), so every loaded tensor supports host arithmetic.
struct StoredType {
  DType dtype;       // of the loaded tensor
  size_t file_size;  // bytes per element in the file
  int half_kind;     // 0: as stored, 1: F16, 2: BF16
};

StoredType parse_stored(const std::string& s, const std::string& key) {
  if (s == "F16") return {DType::f32, 2, 1};
  if (s == "BF16") return {DType::f32, 2, 2};
  DType d = [&] {
    if (s == "F32") return DType::f32;
    if (s == "F64") return DType::f64;
    if (s == "I64") return DType::i64;
    if (s == "U8") return DType::u8;
    fail("tensor '", key, "' has unsupported dtype ", s, " (supported: F32, F64, F16, BF16, I64, U8)");
  }();
  return {d, dtype_size(d), 0};
}

const char* dtype_tag(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
    case DType::bf16: return "BF16";
  }
  return "?";
}

}  // namespace

bool TensorFile::has(const std::string& name) const {
  for (auto& [k, v] : tensors)
    if (k == name) return true;
  return false;
}

const Tensor& TensorFile::get(const std::string& name) const {
  for (auto& [k, v] : tensors)
    if (k == name) return v;
  fail(source, ": no tensor '", name, "' (", tensors.size(), " tensors in the file)");
}

std::string TensorFile::meta(const std::string& key) const {
  auto it = metadata.find(key);
  CAGE_CHECK(it != metadata.end(), source, ": no metadata entry '", key, "'");
  return it->second;
}

TensorFile load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  CAGE_CHECK(in, "cannot open '", path, "'");
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  CAGE_CHECK(file_size >= 8, path, ": too short for a safetensors file (", file_size, " bytes)");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  CAGE_CHECK(header_len <= file_size - 8, path, ": header length ", header_len, " exceeds the file (", file_size,
             " bytes)");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  CAGE_CHECK(in, path, ": cannot read the header");

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const std::exception& e) {
    fail(path, ": header is not valid JSON (", e.what(), ")");
  }
  CAGE_CHECK(j.is_object(), path, ": header is not a JSON object");
  const uint64_t data_start = 8 + header_len, data_len = file_size - data_start;

  TensorFile out;
  out.source = path;
  // nlohmann::json sorts keys; the file's order is recovered from the data offsets.
  std::vector<std::tuple<uint64_t, std::string, nlohmann::json>> entries;
  for (auto& [key, val] : j.items()) {
    if (key == "__metadata__") {
      CAGE_CHECK(val.is_object(), path, ": __metadata__ is not an object");
      for (auto& [mk, mv] : val.items()) {
        CAGE_CHECK(mv.is_string(), path, ": metadata '", mk, "' is not a string");
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    CAGE_CHECK(val.is_object() && val.contains("dtype") && val.contains("shape") && val.contains("data_offsets"), path,
               ": entry '", key, "' lacks dtype, shape or data_offsets");
    entries.emplace_back(val["data_offsets"][0].get<uint64_t>(), key, val);
  }
  std::stable_sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return std::get<0>(a) < std::get<0>(b); });

  for (auto& [begin_unused, key, val] : entries) {
    try {
      StoredType st = parse_stored(val["dtype"].get<std::string>(), key);
      DType dt = st.dtype;
      Shape shape;
      for (auto& d : val["shape"]) {
        int64_t v = d.get<int64_t>();
        CAGE_CHECK(v >= 0, "negative dimension");
        shape.push_back(v);
      }
      uint64_t b = val["data_offsets"][0].get<uint64_t>(), e = val["data_offsets"][1].get<uint64_t>();
      CAGE_CHECK(b <= e && e <= data_len, "data_offsets [", b, ", ", e, "] outside the data section (", data_len,
                 " bytes)");
      uint64_t expect = static_cast<uint64_t>(shape_numel(shape)) * st.file_size;
      CAGE_CHECK(e - b == expect, "shape ", shape_str(shape), " of ", val["dtype"].get<std::string>(), " needs ", expect,
                 " bytes, the offsets give ", e - b);
      Tensor t = Tensor::empty(shape, dt);
      in.seekg(static_cast<std::streamoff>(data_start + b));
      if (st.half_kind == 0) {
        in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(expect));
      } else {
        std::vector<uint16_t> raw(static_cast<size_t>(t.numel()));
        in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(expect));
        float* o = t.data<float>();
        for (size_t i = 0; i < raw.size(); ++i) o[i] = st.half_kind == 1 ? half_to_float(raw[i]) : bf16_to_float(raw[i]);
      }
      CAGE_CHECK(in, "cannot read the data");
      out.tensors.emplace_back(key, t);
    } catch (const nlohmann::json::exception& ex) {
      fail(path, ": tensor '", key, "': malformed entry (", ex.what(), ")");
    } catch (const Error& ex) {
      throw ex.with_context(path + ": tensor '" + key + "'");
    }
  }
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata, FloatStorage float_storage) {
  // nlohmann::ordered_json keeps insertion order, so the header lists tensors in data order.
  nlohmann::ordered_json header;
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  uint64_t offset = 0;
  std::vector<std::string> bodies;  // the bytes of each tensor as stored
  for (auto& [name, t] : tensors) {
    CAGE_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
    Tensor c = t.detach().contiguous();
    std::string tag = dtype_tag(c.dtype());
    std::string body;
    if (c.dtype() == DType::f32 && float_storage != FloatStorage::f32) {
      const float* p = c.data<float>();
      body.resize(static_cast<size_t>(c.numel()) * 2);
      for (int64_t i = 0; i < c.numel(); ++i) {
        uint16_t h = float_storage == FloatStorage::f16 ? float_to_half(p[i]) : float_to_bf16(p[i]);
        std::memcpy(body.data() + 2 * i, &h, 2);
      }
      tag = float_storage == FloatStorage::f16 ? "F16" : "BF16";
    } else {
      body.assign(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
    }
    uint64_t bytes = body.size();
    header[name] = {{"dtype", tag}, {"shape", c.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    bodies.push_back(std::move(body));
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    CAGE_CHECK(out, "cannot write '", tmp, "'");
    uint64_t n = h.size();
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (auto& body : bodies) out.write(body.data(), static_cast<std::streamsize>(body.size()));
    out.flush();
    CAGE_CHECK(out, "error writing '", tmp, "' (disk full?)");
  }
  CAGE_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '", tmp, "' to '", path, "': ",
             std::strerror(errno));
}

}  // namespace cage
