// torch.save checkpoint reading: the reference maxvit_small.pth (keys in state_dict order, dtypes, and values
// checked by replaying the golden AdamW step from its weights), hand-built archives with strided and shared
// views, every storage type and the wrapper dicts, and hostile or damaged files (a disallowed global, a
// truncated or bit-flipped archive, bad sizes and views), each of which must be a cage::Error, never a crash.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zip.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/philox.h"
#include "core/pth.h"
#include "fuzz/pickle_writer.h"
#include "core/safetensors.h"
#include "support/test_support.h"

namespace cage {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;  // pickles hold NUL bytes
using Entries = std::vector<std::pair<std::string, std::string>>;

std::string reference_dir() {
  return test::env_or("CAGE_REFERENCE_DIR", CAGE_TEST_REFERENCE_DIR);
}

std::string read_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

using Pickle = fuzz::PickleWriter;

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

class Pth : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cage_pth_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  void write_file(const std::string& p, const std::string& bytes) const {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  // A zip of stored entries, as torch.save writes them.
  std::string write_zip(const std::string& name, const Entries& entries) const {
    const std::string p = path(name);
    int err = 0;
    zip_t* z = zip_open(p.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    EXPECT_NE(z, nullptr) << "zip_open " << err;
    if (!z) return p;
    for (auto& [entry, data] : entries) {
      zip_source_t* src = zip_source_buffer(z, data.data(), data.size(), 0);
      zip_int64_t i = zip_file_add(z, entry.c_str(), src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8);
      EXPECT_GE(i, 0) << entry;
      zip_set_file_compression(z, static_cast<zip_uint64_t>(i), ZIP_CM_STORE, 0);
    }
    EXPECT_EQ(zip_close(z), 0) << zip_strerror(z);
    return p;
  }
  std::string checkpoint(const std::string& name, const std::string& pkl, const Entries& data = {},
                         const std::string& prefix = "archive") const {
    Entries e{{prefix + "/data.pkl", pkl}};
    for (auto& [k, v] : data) e.emplace_back(prefix + "/data/" + k, v);
    e.emplace_back(prefix + "/version", "3\n");
    return write_zip(name, e);
  }
  static std::string load_error(const std::string& p) {
    try {
      load_pth(p);
    } catch (const Error& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string("<not a cage::Error: ") + e.what() + ">";
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(Pth, ReferenceMaxvitSmallKeysAndDtypes) {
  const std::string dir = reference_dir();
  PthFile pth = load_pth(dir + "/maxvit_small.pth");
  TensorFile golden = load_safetensors(dir + "/maxvit_small_train_step.safetensors");
  std::vector<std::string> expected;
  for (auto& [k, t] : golden.tensors)
    if (k.rfind("after.", 0) == 0 && k.rfind("after_", 0) != 0) expected.push_back(k.substr(6));
  ASSERT_EQ(expected.size(), 276u);
  ASSERT_EQ(pth.tensors.size(), 276u);
  int64_t counters = 0, indices = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& [key, t] = pth.tensors[i];
    ASSERT_EQ(key, expected[i]) << "state_dict order differs at entry " << i;
    const Tensor& after = golden.get("after." + key);
    EXPECT_EQ(t.shape(), after.shape()) << key;
    EXPECT_EQ(t.dtype(), after.dtype()) << key;
    EXPECT_TRUE(t.is_contiguous()) << key;
    if (key.ends_with("num_batches_tracked")) {
      ++counters;
      EXPECT_EQ(t.dtype(), DType::i64);
      EXPECT_EQ(t.dim(), 0) << key;
      EXPECT_EQ(t.item(), 0.0) << key;  // the checkpoint is from before the step, which counts 1
    } else if (key.ends_with("relative_position_index")) {
      ++indices;
      EXPECT_EQ(t.dtype(), DType::i64);
      EXPECT_EQ(t.shape(), (Shape{4, 4})) << key;  // partition 2: 4 tokens
      EXPECT_EQ(t.to_vector<int64_t>(), after.to_vector<int64_t>()) << key;  // buffers the step leaves alone
    } else if (key.ends_with("running_var")) {
      for (float v : t.to_vector<float>()) ASSERT_TRUE(v >= 0.5f && v < 1.5f) << key << " " << v;
    }
  }
  EXPECT_EQ(counters, 16);
  EXPECT_EQ(indices, 10);
  EXPECT_TRUE(pth.info.empty());
  EXPECT_EQ(pth.source, dir + "/maxvit_small.pth");
}

// The golden step is AdamW from exactly these weights: replaying it from the loaded values and the stored
// gradients must land on the stored results, which a single misplaced byte of any parameter would not.
TEST_F(Pth, ReferenceMaxvitSmallValuesReplayTheGoldenStep) {
  const std::string dir = reference_dir();
  PthFile pth = load_pth(dir + "/maxvit_small.pth");
  TensorFile golden = load_safetensors(dir + "/maxvit_small_train_step.safetensors");
  const double lr = 1e-3, wd = 0.05, bc1 = 1 - 0.9, bc2 = 1 - 0.999;
  const float decay = static_cast<float>(1 - lr * wd), step = static_cast<float>(-(lr / bc1));
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2)), eps = 1e-8f;
  int64_t checked = 0, elements = 0;
  double worst = 0;
  for (auto& [key, p] : pth.tensors) {
    if (!golden.has("grad." + key)) continue;
    std::vector<float> w = p.to_vector<float>(), g = golden.get("grad." + key).to_vector<float>();
    std::vector<float> want = golden.get("after." + key).to_vector<float>();
    ASSERT_EQ(w.size(), g.size()) << key;
    for (size_t i = 0; i < w.size(); ++i) {
      float m = 0.1f * g[i], v = 0.001f * g[i] * g[i];
      float denom = std::sqrt(v) / bc2_sqrt + eps;
      float got = w[i] * decay + step * (m / denom);
      double err = std::fabs(static_cast<double>(got) - want[i]);
      worst = std::max(worst, err);
      ASSERT_LE(err, 2e-7 + 2.4e-7 * std::fabs(want[i])) << key << "[" << i << "] weight " << w[i];
    }
    ++checked;
    elements += static_cast<int64_t>(w.size());
  }
  EXPECT_EQ(checked, 218);
  std::printf("[pth] replayed AdamW on %lld parameters (%lld elements), max |diff| %.3g\n",
              static_cast<long long>(checked), static_cast<long long>(elements), worst);
}

TEST_F(Pth, FromMemoryEqualsFromFile) {
  const std::string p = reference_dir() + "/maxvit_small.pth";
  const std::string bytes = read_bytes(p);
  PthFile a = load_pth(p), b = load_pth_from_memory(bytes.data(), bytes.size(), "in-memory");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const Tensor &x = a.tensors[i].second, &y = b.tensors[i].second;
    ASSERT_EQ(a.tensors[i].first, b.tensors[i].first);
    ASSERT_EQ(x.shape(), y.shape());
    ASSERT_EQ(std::memcmp(x.raw_data(), y.raw_data(), x.numel() * dtype_size(x.dtype())), 0) << a.tensors[i].first;
  }
  EXPECT_EQ(b.source, "in-memory");
}

// Views of one storage (a transposed slice, a row, the whole), every storage type, a scalar, a Parameter.
TEST_F(Pth, ViewsStorageTypesAndScalars) {
  Pickle pk;
  pk.ordered_dict().op('(');
  pk.str("t").tensor("FloatStorage", "0", 6, 1, {2, 2}, {1, 2});  // [[1, 3], [2, 4]]
  pk.str("row").tensor("FloatStorage", "0", 6, 3, {3}, {1});      // [3, 4, 5]
  pk.str("all").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  pk.str("bcast").tensor("FloatStorage", "0", 6, 5, {2, 2}, {0, 0});  // expanded: four 5s
  pk.str("half").tensor("HalfStorage", "1", 5, 0, {5}, {1});
  pk.str("bf16").tensor("BFloat16Storage", "2", 3, 0, {3}, {1});
  pk.str("f64").tensor("DoubleStorage", "3", 2, 0, {2}, {1});
  pk.str("i32").tensor("IntStorage", "4", 2, 0, {2}, {1});
  pk.str("u8").tensor("ByteStorage", "5", 3, 0, {3}, {1});
  pk.str("bool").tensor("BoolStorage", "6", 2, 0, {2}, {1});
  pk.str("scalar").tensor("LongStorage", "7", 1, 0, {}, {});
  pk.str("empty").tensor("FloatStorage", "8", 0, 0, {0, 3}, {3, 1});
  pk.str("param").global("torch._utils", "_rebuild_parameter");
  pk.op('(').tensor("FloatStorage", "0", 6, 2, {2}, {2}).op('\x88').ordered_dict().op('t').op('R');  // [2, 4]
  pk.op('u');
  const Entries data{{"0", bytes_of<float>({0, 1, 2, 3, 4, 5})},
                     {"1", bytes_of<uint16_t>({0x3c00, 0xc100, 0x7bff, 0x0001, 0xfc00})},
                     {"2", bytes_of<uint16_t>({0x3f80, 0xc2f7, 0x0001})},
                     {"3", bytes_of<double>({0.1, -1e300})},
                     {"4", bytes_of<int32_t>({-7, 2147483647})},
                     {"5", bytes_of<uint8_t>({0, 200, 255})},
                     {"6", bytes_of<uint8_t>({1, 0})},
                     {"7", bytes_of<int64_t>({-(int64_t{1} << 40)})},
                     {"8", ""}};
  PthFile f = load_pth(checkpoint("views.pth", pk.done(), data));
  ASSERT_EQ(f.tensors.size(), 13u);
  EXPECT_EQ(f.tensors[0].first, "t");
  EXPECT_EQ(f.tensors[12].first, "param");
  EXPECT_EQ(f.get("t").to_vector<float>(), (std::vector<float>{1, 3, 2, 4}));
  EXPECT_EQ(f.get("row").to_vector<float>(), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(f.get("all").to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(f.get("bcast").to_vector<float>(), (std::vector<float>{5, 5, 5, 5}));
  EXPECT_EQ(f.get("param").to_vector<float>(), (std::vector<float>{2, 4}));
  EXPECT_EQ(f.get("half").dtype(), DType::f32);
  EXPECT_EQ(f.get("half").to_vector<float>(),
            (std::vector<float>{1.0f, -2.5f, 65504.0f, std::ldexp(1.0f, -24), -INFINITY}));
  EXPECT_EQ(f.get("bf16").to_vector<float>(), (std::vector<float>{1.0f, -123.5f, std::ldexp(1.0f, -133)}));
  EXPECT_EQ(f.get("f64").to_vector<double>(), (std::vector<double>{0.1, -1e300}));
  EXPECT_EQ(f.get("i32").to_vector<int64_t>(), (std::vector<int64_t>{-7, 2147483647}));
  EXPECT_EQ(f.get("u8").to_vector<uint8_t>(), (std::vector<uint8_t>{0, 200, 255}));
  EXPECT_EQ(f.get("bool").to_vector<uint8_t>(), (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(f.get("scalar").dim(), 0);
  EXPECT_EQ(f.get("scalar").to_vector<int64_t>(), (std::vector<int64_t>{-(int64_t{1} << 40)}));
  EXPECT_EQ(f.get("empty").shape(), (Shape{0, 3}));
  // Copied-out views no longer alias the storage they came from.
  f.get("row").fill_(9);
  EXPECT_EQ(f.get("all").to_vector<float>()[3], 3.0f);
  for (auto& [k, t] : f.tensors) EXPECT_TRUE(t.is_contiguous()) << k;
}

TEST_F(Pth, WrapperDictsAndScalarInfo) {
  for (const char* wrapper : {"state_dict", "model"}) {
    Pickle pk;
    pk.op('}').op('(').str("epoch").integer(3).str("lr").raw(std::string("G\x3f\x50\x62\x4d\xd2\xf1\xa9\xfc", 9));
    pk.str(wrapper).ordered_dict().op('(').str("w").tensor("FloatStorage", "0", 2, 0, {2}, {1}).op('u');
    pk.str("best").op('\x88').str("note").op('N').op('u');
    PthFile f = load_pth(checkpoint(std::string(wrapper) + ".pth", pk.done(), {{"0", bytes_of<float>({1, 2})}}));
    ASSERT_EQ(f.tensors.size(), 1u) << wrapper;
    EXPECT_EQ(f.tensors[0].first, "w");
    EXPECT_EQ(f.info.at("epoch"), "3");
    EXPECT_EQ(f.info.at("lr"), "0.001");
    EXPECT_EQ(f.info.at("best"), "True");
    EXPECT_EQ(f.info.at("note"), "None");
    EXPECT_EQ(f.info.count(wrapper), 0u);
  }
}

TEST_F(Pth, AnyPrefixAndProtocol4Opcodes) {
  // STACK_GLOBAL, SHORT_BINUNICODE, MEMOIZE, FRAME as protocol 4 writes them, under a basename prefix.
  std::string p4 = "\x80\x04\x95"s + std::string(8, '\0');
  p4 += "}\x94(\x8c\x01k\x94\x8c\x0ctorch._utils\x8c\x12_rebuild_tensor_v2\x93("s;
  p4 += "(\x8c\x07storage\x8c\x05torch\x8c\x0c""FloatStorage\x93\x8c\x01""0\x8c\x03""cpuK\x02tQK\x00K\x02\x85K\x01\x85"s;
  p4 += "\x89\x8c\x0b""collections\x8c\x0bOrderedDict\x93)R\x94tR\x94u."s;
  PthFile f = load_pth(checkpoint("p4.pth", p4, {{"0", bytes_of<float>({7, 8})}}, "my_model"));
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.get("k").to_vector<float>(), (std::vector<float>{7, 8}));
}

TEST_F(Pth, DisallowedGlobalIsNamed) {
  Pickle pk;  // os.system('ls'): what a malicious checkpoint would run under pickle.load
  pk.global("os", "system").str("ls").op('\x85').op('R');
  std::string e = load_error(checkpoint("evil.pth", pk.done()));
  EXPECT_NE(e.find("'os.system'"), std::string::npos) << e;
  EXPECT_NE(e.find("not allowed"), std::string::npos) << e;
  EXPECT_NE(e.find("evil.pth"), std::string::npos) << e;

  std::string p4 = "\x80\x04\x8c\x08""builtins\x8c\x04""eval\x93\x8c\x01x\x85R."s;  // through STACK_GLOBAL
  e = load_error(checkpoint("evil4.pth", p4));
  EXPECT_NE(e.find("'builtins.eval'"), std::string::npos) << e;
}

TEST_F(Pth, NotAZipArchive) {
  write_file(path("text.pth"), "this is not a checkpoint at all, just text");
  std::string e = load_error(path("text.pth"));
  EXPECT_NE(e.find("not a torch.save zip archive"), std::string::npos) << e;
  EXPECT_NE(e.find("text.pth"), std::string::npos) << e;
  write_file(path("legacy.pth"), "\x80\x02\x8a\x0a" "a bare pickle stream"s);
  e = load_error(path("legacy.pth"));
  EXPECT_NE(e.find("legacy"), std::string::npos) << e;
  write_file(path("empty.pth"), "");
  EXPECT_NE(load_error(path("empty.pth")), "");
  EXPECT_NE(load_error(path("missing.pth")).find("cannot open"), std::string::npos);
  EXPECT_NE(load_error(dir_.string()), "");
  EXPECT_NE(load_error(write_zip("other.zip", {{"readme.txt", "hello"}})).find("data.pkl"), std::string::npos);
}

TEST_F(Pth, TruncatedAndCorruptCopiesFail) {
  const std::string bytes = read_bytes(reference_dir() + "/maxvit_small.pth");
  ASSERT_GT(bytes.size(), 100000u);
  for (size_t keep : {size_t{0}, size_t{10}, size_t{4096}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 23,
                      bytes.size() - 1}) {
    write_file(path("cut.pth"), bytes.substr(0, keep));
    std::string e = load_error(path("cut.pth"));
    EXPECT_NE(e, "") << "a copy cut to " << keep << " bytes loaded";
    EXPECT_EQ(e.find("<not a cage::Error"), std::string::npos) << e;
    EXPECT_NE(e.find("cut.pth"), std::string::npos) << e;
  }
  // Flipped bytes in the pickle and in a storage blob: the entries' CRCs catch both.
  for (const char* needle : {"stem.0.0.weight", "_rebuild_tensor_v2"}) {
    std::string bad = bytes;
    size_t at = bad.find(needle);
    ASSERT_NE(at, std::string::npos);
    bad[at + 2] ^= 0x20;
    write_file(path("flip.pth"), bad);
    std::string e = load_error(path("flip.pth"));
    EXPECT_NE(e.find("CRC"), std::string::npos) << e;
  }
  std::string bad = bytes;
  bad[bad.size() / 2] ^= 0x01;  // inside some storage
  write_file(path("flip_data.pth"), bad);
  EXPECT_NE(load_error(path("flip_data.pth")), "");
}

TEST_F(Pth, InconsistentStoragesAndViewsFail) {
  auto one = [&](const std::string& name, Pickle pk, const Entries& data) {
    return load_error(checkpoint(name, pk.op('u').done(), data));
  };
  const Entries two_floats{{"0", bytes_of<float>({1, 2})}};
  std::string e = one("short.pth", Pickle().ordered_dict().op('(').str("w").tensor("FloatStorage", "0", 3, 0, {3}, {1}),
                      two_floats);
  EXPECT_NE(e.find("holds 8 bytes"), std::string::npos) << e;
  e = one("absent.pth", Pickle().ordered_dict().op('(').str("w").tensor("FloatStorage", "9", 2, 0, {2}, {1}),
          two_floats);
  EXPECT_NE(e.find("no entry 'archive/data/9'"), std::string::npos) << e;
  e = one("outside.pth", Pickle().ordered_dict().op('(').str("w").tensor("FloatStorage", "0", 2, 1, {2}, {1}),
          two_floats);
  EXPECT_NE(e.find("reach element 2"), std::string::npos) << e;
  e = one("overflow.pth",
          Pickle().ordered_dict().op('(').str("w").tensor("FloatStorage", "0", 2, 0, {1 << 30, 1 << 30, 1 << 30},
                                                          {1, 1, 1}),
          two_floats);
  EXPECT_NE(e.find("overflows"), std::string::npos) << e;
  e = one("empty_overflow.pth",  // no elements, but the other sizes multiply past 2^63
          Pickle().ordered_dict().op('(').str("w").tensor("FloatStorage", "0", 2, 0, {0, 1 << 30, 1 << 30, 1 << 30},
                                                          {1, 1, 1, 1}),
          two_floats);
  EXPECT_NE(e.find("overflows"), std::string::npos) << e;
  e = one("broadcast_bomb.pth",  // in bounds through stride 0, but 2^62 elements to copy
          Pickle().ordered_dict().op('(').str("w").tensor("FloatStorage", "0", 2, 0, {1 << 30, 1 << 30, 1 << 2},
                                                          {0, 0, 0}),
          two_floats);
  EXPECT_NE(e.find("elements of storages holding 2"), std::string::npos) << e;
  e = one("retyped.pth",
          Pickle().ordered_dict().op('(').str("a").tensor("FloatStorage", "0", 2, 0, {2}, {1}).str("b").tensor(
              "IntStorage", "0", 2, 0, {2}, {1}),
          two_floats);
  EXPECT_NE(e.find("declared as FloatStorage"), std::string::npos) << e;
  e = one("negative.pth", Pickle().ordered_dict().op('(').str("w").tensor("FloatStorage", "0", 2, 0, {-2}, {1}),
          two_floats);
  EXPECT_NE(e.find("negative"), std::string::npos) << e;
}

TEST_F(Pth, MalformedPicklesFail) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no_stop", "\x80\x02}"s},
      {"underflow", "\x80\x02s."s},
      {"bad_memo", "\x80\x02h\x07."s},
      {"no_mark", "\x80\x02}u."s},
      {"long_string", "\x80\x02X\xff\xff\xff\x7f" "abc."s},
      {"odd_setitems", "\x80\x02}(K\x01u."s},
      {"unknown_op", "\x80\x02\xff."s},
      {"call_a_string", "\x80\x02X\x01\x00\x00\x00x)R."s},
      {"huge_long", "\x80\x02\x8a\x09" "123456789."s},
      {"protocol_9", "\x80\x09}."s},
      {"storage_call", "\x80\x02" "ctorch\nFloatStorage\n)R."s},
      {"bad_pid", "\x80\x02K\x01Q."s},
  };
  for (auto& [name, pkl] : cases) {
    std::string e = load_error(checkpoint(name + ".pth", pkl));
    EXPECT_NE(e, "") << name << " loaded";
    EXPECT_EQ(e.find("<not a cage::Error"), std::string::npos) << name << ": " << e;
    EXPECT_NE(e.find("data.pkl"), std::string::npos) << name << ": " << e;
  }
  std::string e = load_error(checkpoint("list.pth", "\x80\x02]."s));
  EXPECT_NE(e.find("holds a list, expected a dict"), std::string::npos) << e;
}

// One huge string stored once and referenced by thousands of entries (memo BINGET): the reader must not copy
// it per entry (30000 x 200 KB would be 6 GB).
TEST_F(Pth, RepeatedHugeStringsStayCheap) {
  const std::string huge(200000, 'x');
  Pickle info;  // {"k0": huge, "k1": huge, ...}: scalar info entries
  info.str(huge).op('q').op('\0').op('}');
  for (int i = 0; i < 30000; ++i) info.str(std::to_string(i)).op('h').op('\0').op('s');
  PthFile f = load_pth(checkpoint("info.pth", info.done()));
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.info.empty());  // too long to be info

  Pickle names;  // {huge: t, huge: t, ...}: tensor names
  names.str(huge).op('q').op('\0').op('0');
  names.tensor("FloatStorage", "0", 2, 0, {2}, {1}).op('q').op('\1').op('0').op('}').op('(');
  for (int i = 0; i < 30000; ++i) names.op('h').op('\0').op('h').op('\1');
  std::string e = load_error(checkpoint("names.pth", names.op('u').done(), {{"0", bytes_of<float>({1, 2})}}));
  EXPECT_NE(e.find("tensor name of 200000 bytes"), std::string::npos) << e.substr(0, 300);
}

// Every prefix and many random byte edits of a small valid checkpoint's pickle: each loads or throws Error.
TEST_F(Pth, MutatedPicklesNeverCrash) {
  Pickle pk;
  pk.ordered_dict().op('(');
  pk.str("a").tensor("FloatStorage", "0", 6, 1, {2, 2}, {1, 2});
  pk.str("b").tensor("HalfStorage", "1", 2, 0, {2}, {1});
  const std::string good = pk.op('u').done();
  const Entries data{{"0", bytes_of<float>({0, 1, 2, 3, 4, 5})}, {"1", bytes_of<uint16_t>({0x3c00, 0x4000})}};
  ASSERT_EQ(load_pth(checkpoint("good.pth", good, data)).tensors.size(), 2u);
  Philox rng(7);
  int64_t loaded = 0, failed = 0;
  for (int i = 0; i < 400; ++i) {
    std::string pkl = good;
    if (i < static_cast<int>(good.size())) {
      pkl.resize(static_cast<size_t>(i));
    } else {
      for (uint32_t k = 0, n = 1 + rng.next_u32() % 3; k < n; ++k)
        pkl[rng.next_u32() % pkl.size()] = static_cast<char>(rng.next_u32());
    }
    std::string e = load_error(checkpoint("m.pth", pkl, data));
    EXPECT_EQ(e.find("<not a cage::Error"), std::string::npos) << e;
    (e.empty() ? loaded : failed) += 1;
  }
  EXPECT_GT(failed, 0);
}

}  // namespace
}  // namespace cage
