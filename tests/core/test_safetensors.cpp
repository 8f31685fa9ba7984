// safetensors reading and writing: round trips of every stored dtype with metadata, header order, and
// damaged files (truncated, corrupt header, inconsistent offsets) failing with cage::Error, not a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "core/half.h"
#include "core/safetensors.h"

namespace cage {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cage_safetensors_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string read_bytes(const std::string& p) const {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void write_bytes(const std::string& p, const std::string& bytes) const {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  // A file with an arbitrary header and `data_bytes` zero bytes of data.
  void write_raw(const std::string& p, const std::string& header, size_t data_bytes) const {
    std::string bytes(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(n >> (8 * i));
    write_bytes(p, bytes + header + std::string(data_bytes, '\0'));
  }
  std::string load_error(const std::string& p) const {
    try {
      load_safetensors(p);
    } catch (const Error& e) {
      return e.what();
    } catch (...) {
      return "<not a cage::Error>";
    }
    return "";
  }

  fs::path dir_;
};

std::vector<std::pair<std::string, Tensor>> sample_tensors() {
  return {{"zeta.f32", Tensor::from_vector<float>({1.5f, -2.0f, 3.25f, 0.0f, 1e-20f, -7.0f}, {2, 3})},
          {"alpha.f64", Tensor::from_vector<double>({3.141592653589793, -1e300}, {2})},
          {"mid.i64", Tensor::from_vector<int64_t>({-5, 0, (int64_t(1) << 62)}, {3, 1})},
          {"b.u8", Tensor::from_vector<uint8_t>({0, 7, 255, 128}, {2, 2})},
          {"scalar", Tensor::scalar(4.0, DType::f32)}};
}

TEST_F(Safetensors, RoundTripKeepsValuesDtypesOrderAndMetadata) {
  auto tensors = sample_tensors();
  std::map<std::string, std::string> meta{{"format", "pt"}, {"config", "{\"depths\": [2, 2, 5, 2]}"}};
  save_safetensors(path("a.safetensors"), tensors, meta);
  TensorFile f = load_safetensors(path("a.safetensors"));
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, want] = tensors[i];
    const auto& [got_name, got] = f.tensors[i];
    EXPECT_EQ(got_name, name) << "header order not preserved at " << i;
    EXPECT_EQ(got.dtype(), want.dtype()) << name;
    EXPECT_EQ(got.shape(), want.shape()) << name;
  }
  EXPECT_EQ(f.get("zeta.f32").to_vector<float>(), tensors[0].second.to_vector<float>());
  EXPECT_EQ(f.get("alpha.f64").to_vector<double>(), tensors[1].second.to_vector<double>());
  EXPECT_EQ(f.get("mid.i64").to_vector<int64_t>(), tensors[2].second.to_vector<int64_t>());
  EXPECT_EQ(f.get("b.u8").to_vector<uint8_t>(), tensors[3].second.to_vector<uint8_t>());
  EXPECT_EQ(f.get("scalar").item(), 4.0);
  EXPECT_EQ(f.meta("format"), "pt");
  EXPECT_EQ(f.meta("config"), "{\"depths\": [2, 2, 5, 2]}");
  EXPECT_THROW(f.meta("nope"), Error);
  EXPECT_THROW(f.get("nope"), Error);
  EXPECT_TRUE(f.has("b.u8"));
  EXPECT_FALSE(f.has("nope"));
  // The header itself lists the tensors in the order given, not sorted.
  std::string raw = read_bytes(path("a.safetensors"));
  EXPECT_LT(raw.find("zeta.f32"), raw.find("alpha.f64"));
  EXPECT_LT(raw.find("alpha.f64"), raw.find("mid.i64"));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(raw[i]);
  EXPECT_EQ(header_len % 8, 0u);  // padded: the data section starts 8-byte aligned
}

TEST_F(Safetensors, StridedTensorsAreSavedInLogicalOrder) {
  Tensor x = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  save_safetensors(path("t.safetensors"), {{"xt", x.transpose(0, 1)}, {"slice", x.slice(1, 1, 3)}});
  TensorFile f = load_safetensors(path("t.safetensors"));
  EXPECT_EQ(f.get("xt").shape(), (Shape{3, 2}));
  EXPECT_EQ(f.get("xt").to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(f.get("slice").to_vector<float>(), (std::vector<float>{1, 2, 4, 5}));
}

TEST_F(Safetensors, AtomicWriteLeavesNoTemporary) {
  save_safetensors(path("w.safetensors"), sample_tensors());
  EXPECT_TRUE(fs::exists(path("w.safetensors")));
  EXPECT_FALSE(fs::exists(path("w.safetensors.tmp")));
  for (auto& entry : fs::directory_iterator(dir_)) EXPECT_EQ(entry.path().filename(), "w.safetensors");
  // Overwriting an existing file replaces it whole.
  save_safetensors(path("w.safetensors"), {{"only", Tensor::zeros({1})}});
  EXPECT_EQ(load_safetensors(path("w.safetensors")).tensors.size(), 1u);
  EXPECT_FALSE(fs::exists(path("w.safetensors.tmp")));
  // An unwritable destination is an Error and creates nothing.
  EXPECT_THROW(save_safetensors(path("missing_dir/x.safetensors"), sample_tensors()), Error);
  EXPECT_FALSE(fs::exists(path("missing_dir")));
}

TEST_F(Safetensors, TruncatedFilesAreErrors) {
  save_safetensors(path("full.safetensors"), sample_tensors());
  std::string bytes = read_bytes(path("full.safetensors"));
  for (size_t keep : {size_t(0), size_t(4), size_t(8), size_t(20), bytes.size() / 2, bytes.size() - 1}) {
    write_bytes(path("cut.safetensors"), bytes.substr(0, keep));
    std::string m = load_error(path("cut.safetensors"));
    EXPECT_NE(m, "") << "truncated to " << keep << " bytes loaded without error";
    EXPECT_NE(m, "<not a cage::Error>") << keep;
    EXPECT_NE(m.find("cut.safetensors"), std::string::npos) << "message does not name the file: " << m;
  }
  EXPECT_NE(load_error(path("does_not_exist.safetensors")), "");
}

TEST_F(Safetensors, CorruptHeadersAreErrors) {
  const std::string p = path("bad.safetensors");
  auto expect_error = [&](const std::string& header, size_t data, const char* why) {
    write_raw(p, header, data);
    std::string m = load_error(p);
    EXPECT_NE(m, "") << why;
    EXPECT_NE(m, "<not a cage::Error>") << why;
  };
  expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", 8, "unterminated JSON");
  expect_error("\xff\xfe garbage", 0, "not JSON");
  expect_error("[1, 2, 3]", 0, "not an object");
  expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "no data_offsets");
  expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, "shape and size disagree");
  expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8, "offsets past the end");
  expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8, "reversed offsets");
  expect_error("{\"a\": {\"dtype\": \"Q7\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "unknown dtype");
  expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, "negative dim");
  expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": \"2\", \"data_offsets\": [0, 8]}}", 8, "shape not a list");
  expect_error("{\"__metadata__\": {\"k\": 3}}", 0, "non-string metadata");
  // A header length larger than the file.
  std::string bytes(8, '\0');
  bytes[7] = 0x10;
  write_bytes(p, bytes + "{}");
  EXPECT_NE(load_error(p), "");
  // A well-formed file still loads after all that (the checks are not over-eager).
  write_raw(p, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8);
  EXPECT_EQ(load_error(p), "");
}

}  // namespace
}  // namespace cage

namespace cage {
namespace {

// Every half value survives half -> float -> half; rounding of values between halves is to nearest even.
TEST(HalfFloat, ConversionsAreExactAndRoundToNearestEven) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h;
  }
  EXPECT_EQ(float_to_half(1.0f / 3.0f), 0x3555);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);   // halfway to the next binade: rounds to infinity
  EXPECT_EQ(float_to_half(2.9802322e-8f), 0x0000);  // exactly 2^-25: tie, rounds to even (zero)
  EXPECT_EQ(float_to_half(6.0e-8f), 0x0001);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(1.0f + 0x1p-11f), 0x3c00);  // tie between 1 and 1+2^-10: even is 1
  EXPECT_EQ(float_to_half(1.0f + 3 * 0x1p-11f), 0x3c02);
  EXPECT_EQ(float_to_bf16(1.0f / 3.0f), 0x3eab);
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);
  for (uint32_t b = 0; b < 65536; ++b) {
    float f = bf16_to_float(static_cast<uint16_t>(b));
    if (!std::isnan(f)) ASSERT_EQ(float_to_bf16(f), b);
  }
}

TEST(SafetensorsHalf, StorageRoundTrip) {
  Tensor t = Tensor::from_vector<float>({1.0f, -0.5f, 1.0f / 3.0f, 65504.0f, 1e-3f, 0.0f}, {2, 3});
  auto dir = std::filesystem::temp_directory_path();
  for (FloatStorage fs : {FloatStorage::f16, FloatStorage::bf16}) {
    std::string path = (dir / "cage_half_roundtrip.safetensors").string();
    save_safetensors(path, {{"t", t}, {"i", Tensor::from_vector<int64_t>({7, 8}, {2})}}, {}, fs);
    TensorFile f = load_safetensors(path);
    std::ifstream raw(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(raw)), std::istreambuf_iterator<char>());
    EXPECT_NE(bytes.find(fs == FloatStorage::f16 ? "\"F16\"" : "\"BF16\""), std::string::npos);
    std::vector<float> back = f.get("t").to_vector<float>(), orig = t.to_vector<float>();
    for (size_t i = 0; i < orig.size(); ++i) {
      float expect = fs == FloatStorage::f16 ? half_to_float(float_to_half(orig[i])) : bf16_to_float(float_to_bf16(orig[i]));
      EXPECT_EQ(back[i], expect) << i;
    }
    EXPECT_EQ(f.get("i").to_vector<int64_t>(), (std::vector<int64_t>{7, 8}));  // integers are never converted
    std::filesystem::remove(path);
  }
}

}  // namespace
}  // namespace cage
