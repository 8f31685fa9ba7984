// A Python pickle evaluator (protocol 2, plus the cheap opcodes of protocols 0-1 and 3-5) for reading data,
// never for running code. The stack machine builds plain values; every global it meets, every call (REDUCE,
// NEWOBJ), every BUILD and every persistent id goes through a PickleHooks object, which decides what is
// allowed (core/pth.cpp allows the handful of torch and collections names a state_dict needs).
// Malformed input (truncation, stack underflow, a bad memo index, an oversized length) is a cage::Error that
// names the byte offset; work and memory are linear in the input size, with no recursion.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cage {

enum class PickleKind : uint8_t {
  none, boolean, integer, floating, string, bytes, tuple, list, dict, set, global, opaque
};
const char* pickle_kind_name(PickleKind k);

// One Python object. Values live in a PickleArena and point at each other with raw pointers, so the
// reference cycles a pickle may build (a list appended to itself) cost nothing and leak nothing.
struct PickleValue {
  PickleKind kind = PickleKind::none;
  bool ordered = false;   // dict: an OrderedDict rather than a plain dict
  uint8_t tag = 0;        // opaque: what the hooks made (their own numbering)
  int64_t integer = 0;    // boolean (0/1), integer; opaque: the hooks' handle
  double floating = 0;
  std::string text;       // string (UTF-8 as stored), bytes; global: module
  std::string name;       // global: the attribute name
  std::vector<PickleValue*> items;                // tuple, list, set; dict: key0, value0, key1, value1, ...
  std::unique_ptr<std::unordered_map<std::string, size_t>> string_keys;  // dict: string key -> item index

  bool is_string(const char* s) const { return kind == PickleKind::string && text == s; }
  size_t dict_size() const { return items.size() / 2; }
  // dict: the value stored under a string key, or nullptr.
  PickleValue* find(const std::string& key) const;
  std::string qualified_name() const { return text + "." + name; }  // global
};

// Owns every value of one evaluation. Caps the number of objects so that a hostile pickle cannot exhaust
// memory faster than its own size allows.
class PickleArena {
 public:
  explicit PickleArena(size_t max_values = size_t{8} << 20) : max_values_(max_values) {}
  PickleValue* make(PickleKind kind);
  PickleValue* make_int(int64_t v);
  PickleValue* make_string(std::string s);
  // dict[key] = value: a string key that is already present is replaced in place (Python semantics);
  // other keys are appended.
  void dict_set(PickleValue* dict, PickleValue* key, PickleValue* value);

 private:
  std::deque<PickleValue> values_;
  size_t max_values_;
};

class PickleHooks {
 public:
  virtual ~PickleHooks() = default;
  // GLOBAL / STACK_GLOBAL: a value standing for module.name (make it with kind global), or throw naming it.
  virtual PickleValue* find_class(PickleArena& arena, const std::string& module, const std::string& name) = 0;
  // REDUCE (is_new false): callable(*args). NEWOBJ (is_new true): cls.__new__(cls, *args). args is a tuple.
  virtual PickleValue* call(PickleArena& arena, PickleValue* callable, PickleValue* args, bool is_new) = 0;
  // BINPERSID: the object a persistent id stands for.
  virtual PickleValue* persistent_load(PickleArena& arena, PickleValue* pid) = 0;
  // BUILD: obj.__setstate__(state) or obj.__dict__.update(state).
  virtual void build(PickleArena& arena, PickleValue* obj, PickleValue* state) = 0;
};

// Evaluates the pickle in data[0, size) up to STOP and returns the result. Errors thrown by the hooks are
// passed on with the byte offset prefixed.
PickleValue* unpickle(const uint8_t* data, size_t size, PickleHooks& hooks, PickleArena& arena);

}  // namespace cage
