// Builds pickle byte strings the way torch.save (protocol 2) spells a state_dict: the checkpoint tests and the
// fuzzer's seed corpus use it to make hand-crafted, also malformed, checkpoints.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cage::fuzz {

struct PickleWriter {
  std::string s;
  explicit PickleWriter(int protocol = 2) { s = std::string("\x80") + static_cast<char>(protocol); }
  PickleWriter& op(char c) { return s.push_back(c), *this; }
  PickleWriter& raw(const std::string& r) { return s += r, *this; }
  PickleWriter& global(const std::string& module, const std::string& name) {
    return raw("c" + module + "\n" + name + "\n");
  }
  PickleWriter& str(const std::string& v) {
    op('X');
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(static_cast<uint32_t>(v.size()) >> (8 * i)));
    return raw(v);
  }
  PickleWriter& integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K').op(static_cast<char>(v));
    op('J');
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(static_cast<uint32_t>(v) >> (8 * i)));
    return *this;
  }
  PickleWriter& ints(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    return op('t');
  }
  PickleWriter& ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
  // _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())
  PickleWriter& tensor(const std::string& type, const std::string& key, int64_t numel, int64_t offset,
                       const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", type).str(key).str("cpu").integer(numel).op('t').op('Q');
    integer(offset).ints(size).ints(stride).op('\x89').ordered_dict();
    return op('t').op('R');
  }
  std::string done() { return s + "."; }
};

}  // namespace cage::fuzz
