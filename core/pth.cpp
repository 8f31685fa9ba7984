// torch.save zip checkpoints: libzip for the archive, the pickle machine for data.pkl, and the torch rules
// (allowed globals, persistent storage ids, _rebuild_tensor_v2 views) as PickleHooks.
#include "core/pth.h"

#include "core/half.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <unordered_map>

#include "core/pickle.h"
#include "core/zip_reader.h"

namespace cage {

static_assert(std::endian::native == std::endian::little, "storage bytes are little-endian; add a byte swap");

namespace {

constexpr uint64_t kMaxPickleBytes = uint64_t{256} << 20;  // a state_dict's pickle is ~100 bytes per tensor
constexpr size_t kMaxDims = 64;                              // torch's own limit
constexpr size_t kMaxStorageKey = 256;                       // torch writes decimal numbers
// Names and info strings are copied once per entry; the caps keep a small file that repeats one huge string
// under many entries from costing memory quadratic in its size.
constexpr size_t kMaxTensorName = 4096;
constexpr size_t kMaxInfoText = 1024;

std::string clip(const std::string& s, size_t n = 80) { return s.size() <= n ? s : s.substr(0, n) + "..."; }

// ---- storages and the torch globals ----

enum class Convert : uint8_t { none, half, bf16, i32, i16, i8, boolean };

struct StorageType {
  const char* name;
  size_t element_bytes;  // in the file
  DType dtype;           // once loaded
  Convert convert;
};

constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", 4, DType::f32, Convert::none},  {"DoubleStorage", 8, DType::f64, Convert::none},
    {"HalfStorage", 2, DType::f32, Convert::half},   {"BFloat16Storage", 2, DType::f32, Convert::bf16},
    {"LongStorage", 8, DType::i64, Convert::none},   {"IntStorage", 4, DType::i64, Convert::i32},
    {"ShortStorage", 2, DType::i64, Convert::i16},   {"CharStorage", 1, DType::i64, Convert::i8},
    {"ByteStorage", 1, DType::u8, Convert::none},    {"BoolStorage", 1, DType::u8, Convert::boolean},
};

const StorageType* find_storage_type(const std::string& module, const std::string& name) {
  if (module != "torch") return nullptr;
  for (const StorageType& t : kStorageTypes)
    if (name == t.name) return &t;
  return nullptr;
}

// Widens raw file elements into the loaded dtype.
void convert_elements(Convert c, const uint8_t* in, int64_t n, const Tensor& out) {
  auto load = [&](auto zero, int64_t i) {
    decltype(zero) v;
    std::memcpy(&v, in + i * static_cast<int64_t>(sizeof v), sizeof v);
    return v;
  };
  switch (c) {
    case Convert::half: {
      float* o = out.data<float>();
      for (int64_t i = 0; i < n; ++i) o[i] = half_to_float(load(uint16_t{}, i));
      return;
    }
    case Convert::bf16: {
      float* o = out.data<float>();
      for (int64_t i = 0; i < n; ++i) o[i] = bf16_to_float(load(uint16_t{}, i));
      return;
    }
    case Convert::i32: {
      int64_t* o = out.data<int64_t>();
      for (int64_t i = 0; i < n; ++i) o[i] = load(int32_t{}, i);
      return;
    }
    case Convert::i16: {
      int64_t* o = out.data<int64_t>();
      for (int64_t i = 0; i < n; ++i) o[i] = load(int16_t{}, i);
      return;
    }
    case Convert::i8: {
      int64_t* o = out.data<int64_t>();
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<int8_t>(in[i]);
      return;
    }
    case Convert::boolean: {
      uint8_t* o = out.data<uint8_t>();
      for (int64_t i = 0; i < n; ++i) o[i] = in[i] != 0;
      return;
    }
    case Convert::none: return;
  }
}

constexpr uint8_t kStorageTag = 1, kTensorTag = 2;

struct LoadedStorage {
  const StorageType* type;
  int64_t numel;
  Tensor data;  // contiguous, of type->dtype
  PickleValue* value;
};

struct TensorView {
  int64_t storage;
  int64_t offset;
  Shape shape, strides;
};

int64_t as_int(const PickleValue* v, const char* what) {
  CAGE_CHECK(v->kind == PickleKind::integer || v->kind == PickleKind::boolean, what, " is a ",
             pickle_kind_name(v->kind), ", expected an int");
  return v->integer;
}

Shape as_dims(const PickleValue* v, const char* what) {
  CAGE_CHECK(v->kind == PickleKind::tuple || v->kind == PickleKind::list, what, " is a ", pickle_kind_name(v->kind),
             ", expected a tuple of ints");
  CAGE_CHECK(v->items.size() <= kMaxDims, what, " has ", v->items.size(), " dimensions, more than ", kMaxDims);
  Shape s;
  for (const PickleValue* d : v->items) {
    s.push_back(as_int(d, what));
    CAGE_CHECK(s.back() >= 0, what, " ", s.back(), " is negative");
  }
  return s;
}

class TorchHooks final : public PickleHooks {
 public:
  TorchHooks(const ZipReader& zip, std::string prefix) : zip_(zip), prefix_(std::move(prefix)) {}

  PickleValue* find_class(PickleArena& arena, const std::string& module, const std::string& name) override {
    const bool allowed = (module == "collections" && name == "OrderedDict") ||
                         (module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_parameter" ||
                                                       name == "_rebuild_parameter_with_state")) ||
                         find_storage_type(module, name);
    CAGE_CHECK(allowed, "checkpoint needs global '", clip(module + "." + name),
               "', which is not allowed: checkpoints are data");
    PickleValue* g = arena.make(PickleKind::global);
    g->text = module;
    g->name = name;
    return g;
  }

  PickleValue* call(PickleArena& arena, PickleValue* callable, PickleValue* args, bool is_new) override {
    const std::string fn = callable->qualified_name();
    const auto& a = args->items;
    if (fn == "collections.OrderedDict") {
      PickleValue* d = arena.make(PickleKind::dict);
      d->ordered = true;
      CAGE_CHECK(a.size() <= 1, "OrderedDict() with ", a.size(), " arguments");
      if (a.size() == 1) {  // OrderedDict([(k, v), ...])
        CAGE_CHECK(a[0]->kind == PickleKind::list || a[0]->kind == PickleKind::tuple, "OrderedDict() of a ",
                   pickle_kind_name(a[0]->kind));
        for (PickleValue* kv : a[0]->items) {
          CAGE_CHECK((kv->kind == PickleKind::tuple || kv->kind == PickleKind::list) && kv->items.size() == 2,
                     "OrderedDict() item is not a (key, value) pair");
          arena.dict_set(d, kv->items[0], kv->items[1]);
        }
      }
      return d;
    }
    CAGE_CHECK(!is_new, "creating an instance of '", fn, "' is not allowed");
    if (fn == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(arena, a);
    const bool with_state = fn == "torch._utils._rebuild_parameter_with_state";
    if (with_state || fn == "torch._utils._rebuild_parameter") {
      // (data, requires_grad, backward_hooks[, state]): a Parameter is its tensor here.
      CAGE_CHECK(a.size() == (with_state ? 4u : 3u), fn, " with ", a.size(), " arguments");
      CAGE_CHECK(a[0]->kind == PickleKind::opaque && a[0]->tag == kTensorTag, fn, " of a ",
                 pickle_kind_name(a[0]->kind), ", expected a tensor");
      return a[0];
    }
    fail("'", fn, "' cannot be called");
  }

  PickleValue* persistent_load(PickleArena& arena, PickleValue* pid) override {
    // ('storage', torch.<T>Storage, key, location, numel)
    CAGE_CHECK(pid->kind == PickleKind::tuple && pid->items.size() == 5 && pid->items[0]->is_string("storage"),
               "persistent id is not ('storage', type, key, location, numel)");
    const PickleValue* type_v = pid->items[1];
    const PickleValue* key_v = pid->items[2];
    CAGE_CHECK(type_v->kind == PickleKind::global, "storage type is a ", pickle_kind_name(type_v->kind));
    const StorageType* type = find_storage_type(type_v->text, type_v->name);
    CAGE_CHECK(type, "'", type_v->qualified_name(), "' is not a storage type");
    CAGE_CHECK(key_v->kind == PickleKind::string && !key_v->text.empty() && key_v->text.size() <= kMaxStorageKey,
               "storage key is not a short string");
    CAGE_CHECK(pid->items[3]->kind == PickleKind::string, "storage location is not a string");
    const int64_t numel = as_int(pid->items[4], "storage size");
    const std::string& key = key_v->text;

    // Every tensor viewing a shared storage names the same key; it is read once.
    if (auto it = by_key_.find(key); it != by_key_.end()) {
      const LoadedStorage& s = storages_[it->second];
      CAGE_CHECK(s.type == type && s.numel == numel, "storage '", key, "' is declared as ", s.type->name, " of ",
                 s.numel, " elements and again as ", type->name, " of ", numel);
      return s.value;
    }
    try {
      CAGE_CHECK(numel >= 0 && static_cast<uint64_t>(numel) <= (uint64_t{1} << 62) / type->element_bytes,
                 "storage size ", numel, " is out of range");
      const uint64_t bytes = static_cast<uint64_t>(numel) * type->element_bytes;
      const std::string entry = prefix_ + "/data/" + key;
      const int64_t index = zip_.locate(entry);
      CAGE_CHECK(index >= 0, "the archive has no entry '", entry, "'");
      const uint64_t stored = zip_.size(index, entry);
      CAGE_CHECK(stored == bytes, "the pickle declares ", numel, " elements of ", type->name, " (", bytes,
                 " bytes), the entry '", entry, "' holds ", stored, " bytes");
      Tensor data = Tensor::empty({numel}, type->dtype);
      if (type->convert == Convert::none) {
        zip_.read(index, entry, data.raw_data(), bytes);
      } else {
        std::vector<uint8_t> raw(static_cast<size_t>(bytes));
        zip_.read(index, entry, raw.data(), bytes);
        convert_elements(type->convert, raw.data(), numel, data);
      }
      PickleValue* v = arena.make(PickleKind::opaque);
      v->tag = kStorageTag;
      v->integer = static_cast<int64_t>(storages_.size());
      storages_.push_back({type, numel, data, v});
      by_key_.emplace(key, storages_.size() - 1);
      total_storage_elements_ += numel;
      return v;
    } catch (const Error& e) {
      throw e.with_context("storage '" + key + "'");
    }
  }

  void build(PickleArena&, PickleValue* obj, PickleValue* state) override {
    // OrderedDict state carries the state_dict's _metadata (module versions), irrelevant to the weights.
    CAGE_CHECK(obj->kind == PickleKind::dict || (obj->kind == PickleKind::opaque && obj->tag == kTensorTag),
               "BUILD (setting the state) of a ", pickle_kind_name(obj->kind), " is not allowed");
  }

  // The tensor an opaque value stands for, as a tensor owning contiguous data.
  Tensor materialize(const PickleValue* v) {
    const TensorView& view = views_[static_cast<size_t>(v->integer)];
    const Tensor& base = storages_[static_cast<size_t>(view.storage)].data;
    const int64_t numel = shape_numel(view.shape);  // bounded by the check in rebuild_tensor
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = base.storage();
    impl->shape = view.shape;
    impl->strides = view.strides;
    impl->offset = view.offset;
    impl->dtype = base.dtype();
    Tensor t(std::move(impl));
    if (view.offset == 0 && numel == base.numel() && t.is_contiguous()) {
      t.impl()->strides = contiguous_strides(view.shape);  // size-1 dims may carry any stride
      return t;
    }
    // Views copied out may overlap (stride 0, the same slice under two names); the cap keeps a small
    // hostile file from asking for far more memory than it holds. It is compared before adding because a
    // stride-0 view can claim up to 2^63 elements.
    const int64_t cap = 4 * total_storage_elements_ + (int64_t{1} << 24);
    CAGE_CHECK(numel <= cap - copied_elements_, "the tensors view ", numel, " + ", copied_elements_,
               " elements of storages holding ", total_storage_elements_);
    copied_elements_ += numel;
    Tensor out = Tensor::empty(view.shape, base.dtype());
    out.copy_(t);
    return out;
  }

 private:
  PickleValue* rebuild_tensor(PickleArena& arena, const std::vector<PickleValue*>& a) {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    CAGE_CHECK(a.size() == 6 || a.size() == 7, "_rebuild_tensor_v2 with ", a.size(), " arguments");
    CAGE_CHECK(a[0]->kind == PickleKind::opaque && a[0]->tag == kStorageTag, "_rebuild_tensor_v2 of a ",
               pickle_kind_name(a[0]->kind), ", expected a storage");
    TensorView view{a[0]->integer, as_int(a[1], "storage offset"), as_dims(a[2], "size"), as_dims(a[3], "stride")};
    CAGE_CHECK(view.offset >= 0, "storage offset ", view.offset, " is negative");
    CAGE_CHECK(view.shape.size() == view.strides.size(), "size ", shape_str(view.shape), " and stride ",
               shape_str(view.strides), " differ in length");
    // Elements and the last element touched, with overflow checks: the view must lie inside its storage.
    // `extent` skips zero sizes: contiguous strides are built from it even for an empty tensor.
    int64_t numel = 1, extent = 1, last = view.offset;
    bool overflow = false;
    for (size_t d = 0; d < view.shape.size(); ++d) {
      overflow |= __builtin_mul_overflow(numel, view.shape[d], &numel);
      overflow |= __builtin_mul_overflow(extent, std::max<int64_t>(view.shape[d], 1), &extent);
      int64_t span = 0;
      if (view.shape[d] > 0) {
        overflow |= __builtin_mul_overflow(view.shape[d] - 1, view.strides[d], &span);
        overflow |= __builtin_add_overflow(last, span, &last);
      }
    }
    const int64_t storage_numel = storages_[static_cast<size_t>(view.storage)].numel;
    CAGE_CHECK(!overflow, "size ", shape_str(view.shape), " with stride ", shape_str(view.strides), " overflows");
    CAGE_CHECK(numel == 0 || last < storage_numel, "size ", shape_str(view.shape), ", stride ",
               shape_str(view.strides), " and offset ", view.offset, " reach element ", last, " of a storage of ",
               storage_numel);
    PickleValue* v = arena.make(PickleKind::opaque);
    v->tag = kTensorTag;
    v->integer = static_cast<int64_t>(views_.size());
    views_.push_back(std::move(view));
    return v;
  }

  const ZipReader& zip_;
  std::string prefix_;
  std::vector<LoadedStorage> storages_;
  std::unordered_map<std::string, size_t> by_key_;
  std::vector<TensorView> views_;
  int64_t total_storage_elements_ = 0, copied_elements_ = 0;
};

bool is_tensor(const PickleValue* v) { return v->kind == PickleKind::opaque && v->tag == kTensorTag; }

std::string scalar_text(const PickleValue* v) {
  switch (v->kind) {
    case PickleKind::none: return "None";
    case PickleKind::boolean: return v->integer ? "True" : "False";
    case PickleKind::integer: return std::to_string(v->integer);
    case PickleKind::floating: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, v->floating);
      return std::string(buf, r.ptr);
    }
    case PickleKind::string: return v->text;
    default: return "";
  }
}

bool is_scalar(const PickleValue* v) {
  return v->kind == PickleKind::none || v->kind == PickleKind::boolean || v->kind == PickleKind::integer ||
         v->kind == PickleKind::floating || v->kind == PickleKind::string;
}

// The directory holding data.pkl: torch names it after the saved file, or "archive".
std::string find_prefix(const ZipReader& zip) {
  const int64_t n = zip.entries();
  for (int64_t i = 0; i < n; ++i) {
    const std::string name = zip.name(i);
    const size_t slash = name.find('/');
    if (slash != std::string::npos && slash > 0 && name.compare(slash, std::string::npos, "/data.pkl") == 0)
      return name.substr(0, slash);
  }
  fail("no <prefix>/data.pkl entry among the ", n, " entries: not a torch.save checkpoint");
}

PthFile read_archive(const ZipReader& zip) {
  const std::string prefix = find_prefix(zip);
  for (const char* record : {"version", "byteorder"}) {
    const std::string entry = prefix + "/" + record;
    const int64_t i = zip.locate(entry);
    if (i < 0) continue;
    std::string text = zip.read_all(i, entry, 64);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
    if (record[0] == 'b') {
      CAGE_CHECK(text == "little", "byte order '", clip(text), "' is not supported (little-endian only)");
    } else {
      int64_t version = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
      CAGE_CHECK(ec == std::errc() && ptr == text.data() + text.size() && version >= 1, "entry '", entry,
                 "' is not a format version: '", clip(text), "'");
    }
  }

  const std::string pkl_entry = prefix + "/data.pkl";
  const int64_t pkl_index = zip.locate(pkl_entry);
  CAGE_CHECK(pkl_index >= 0, "cannot locate '", pkl_entry, "'");
  const std::string pkl = zip.read_all(pkl_index, pkl_entry, kMaxPickleBytes);
  TorchHooks hooks(zip, prefix);
  PickleArena arena;
  PickleValue* top = nullptr;
  try {
    top = unpickle(reinterpret_cast<const uint8_t*>(pkl.data()), pkl.size(), hooks, arena);
  } catch (const Error& e) {
    throw e.with_context(pkl_entry);
  }

  CAGE_CHECK(top->kind == PickleKind::dict, "the checkpoint holds a ", pickle_kind_name(top->kind),
             ", expected a dict of tensors (a state_dict)");
  PthFile out;
  const PickleValue* state = top;
  for (const char* wrapper : {"state_dict", "model"}) {
    const PickleValue* v = top->find(wrapper);
    if (v && v->kind == PickleKind::dict) {
      state = v;
      break;
    }
  }
  for (size_t i = 0; i + 1 < top->items.size(); i += 2) {
    const PickleValue* k = top->items[i];
    const PickleValue* v = top->items[i + 1];
    if (k->kind == PickleKind::string && k->text.size() <= kMaxInfoText && is_scalar(v) &&
        v->text.size() <= kMaxInfoText)
      out.info[k->text] = scalar_text(v);
  }
  for (size_t i = 0; i + 1 < state->items.size(); i += 2) {
    const PickleValue* k = state->items[i];
    const PickleValue* v = state->items[i + 1];
    if (!is_tensor(v)) continue;
    CAGE_CHECK(k->kind == PickleKind::string || k->kind == PickleKind::integer, "a tensor is stored under a ",
               pickle_kind_name(k->kind), " key");
    CAGE_CHECK(k->text.size() <= kMaxTensorName, "a tensor name of ", k->text.size(), " bytes ('", clip(k->text),
               "') is longer than ", kMaxTensorName);
    const std::string key = k->kind == PickleKind::string ? k->text : std::to_string(k->integer);
    try {
      out.tensors.emplace_back(key, hooks.materialize(v));
    } catch (const Error& e) {
      throw e.with_context("tensor '" + clip(key) + "'");
    }
  }
  return out;
}

// `head` is the input's first bytes, for a better message when it is not a zip archive.
PthFile load_archive(const ZipReader& zip, const std::string& name, const std::string& head) {
  try {
    if (!zip.ok()) {
      // torch.save(..., _use_new_zipfile_serialization=False) and torch < 1.6 write a bare pickle stream.
      if (head.size() >= 2 && static_cast<uint8_t>(head[0]) == 0x80)
        fail("not a zip archive but a bare pickle: the legacy torch.save format (PyTorch < 1.6 or "
             "_use_new_zipfile_serialization=False) is not supported; re-save it with a current torch.save");
      if (head.size() >= 2 && head[0] == 'P' && head[1] == 'K')
        fail("a damaged zip archive, truncated or corrupt (", zip.message(), ")");
      fail("not a torch.save zip archive (", zip.message(), ")");
    }
    PthFile out = read_archive(zip);
    out.source = name;
    return out;
  } catch (const Error& e) {
    throw e.with_context(name);
  } catch (const std::bad_alloc&) {
    fail(name, ": out of memory while loading");
  }
}

}  // namespace

bool PthFile::has(const std::string& name) const {
  for (auto& [k, v] : tensors)
    if (k == name) return true;
  return false;
}

const Tensor& PthFile::get(const std::string& name) const {
  for (auto& [k, v] : tensors)
    if (k == name) return v;
  fail(source, ": no tensor '", name, "' (", tensors.size(), " tensors in the checkpoint)");
}

PthFile load_pth(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  CAGE_CHECK(in, "cannot open '", path, "'");
  char head[2] = {0, 0};
  in.read(head, 2);
  std::error_code ec;
  const uint64_t bytes = std::filesystem::file_size(path, ec);
  CAGE_CHECK(!ec, "cannot read the size of '", path, "': ", ec.message());
  ZipReader zip(path, bytes);
  return load_archive(zip, path, std::string(head, static_cast<size_t>(in.gcount())));
}

PthFile load_pth_from_memory(const void* data, size_t size, const std::string& name) {
  ZipReader zip(data, size);
  const std::string head = size ? std::string(static_cast<const char*>(data), std::min<size_t>(size, 2)) : "";
  return load_archive(zip, name, head);
}

}  // namespace cage
