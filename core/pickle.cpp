// The pickle stack machine: Python's _Unpickler.load_* methods, one switch case each, over plain values.
// Mirrors CPython's layout of a separate meta-stack for MARK, so a pop can never reach below the last mark.
#include "core/pickle.h"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace cage {

const char* pickle_kind_name(PickleKind k) {
  switch (k) {
    case PickleKind::none: return "None";
    case PickleKind::boolean: return "bool";
    case PickleKind::integer: return "int";
    case PickleKind::floating: return "float";
    case PickleKind::string: return "str";
    case PickleKind::bytes: return "bytes";
    case PickleKind::tuple: return "tuple";
    case PickleKind::list: return "list";
    case PickleKind::dict: return "dict";
    case PickleKind::set: return "set";
    case PickleKind::global: return "global";
    case PickleKind::opaque: return "object";
  }
  return "?";
}

namespace {
constexpr size_t kMaxIndexedKey = 4096;
}  // namespace

PickleValue* PickleValue::find(const std::string& key) const {
  if (kind != PickleKind::dict || !string_keys) return nullptr;
  auto it = string_keys->find(key);
  return it == string_keys->end() ? nullptr : items[it->second + 1];
}

PickleValue* PickleArena::make(PickleKind kind) {
  CAGE_CHECK(values_.size() < max_values_, "pickle builds more than ", max_values_, " objects");
  PickleValue& v = values_.emplace_back();
  v.kind = kind;
  return &v;
}

PickleValue* PickleArena::make_int(int64_t v) {
  PickleValue* p = make(PickleKind::integer);
  p->integer = v;
  return p;
}

PickleValue* PickleArena::make_string(std::string s) {
  PickleValue* p = make(PickleKind::string);
  p->text = std::move(s);
  return p;
}

void PickleArena::dict_set(PickleValue* dict, PickleValue* key, PickleValue* value) {
  // Long keys skip the index: hashing one huge string again for every SETITEM would make a small hostile
  // pickle quadratic. No state_dict key comes near the limit.
  if (key->kind == PickleKind::string && key->text.size() <= kMaxIndexedKey) {
    if (!dict->string_keys) dict->string_keys = std::make_unique<std::unordered_map<std::string, size_t>>();
    auto [it, inserted] = dict->string_keys->emplace(key->text, dict->items.size());
    if (!inserted) {
      dict->items[it->second + 1] = value;
      return;
    }
  }
  dict->items.push_back(key);
  dict->items.push_back(value);
}

namespace {

constexpr int kMaxProtocol = 5;

class Machine {
 public:
  Machine(const uint8_t* data, size_t size, PickleHooks& hooks, PickleArena& arena)
      : p_(data), size_(size), hooks_(hooks), arena_(arena) {}

  PickleValue* run() {
    while (true) {
      CAGE_CHECK(pos_ < size_, "the pickle ends at byte ", size_, " without a STOP opcode (truncated?)");
      op_pos_ = pos_;
      const uint8_t op = p_[pos_++];
      try {
        if (PickleValue* result = step(op)) return result;
      } catch (const Error& e) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "pickle byte %zu (opcode 0x%02x)", op_pos_, op);
        throw e.with_context(buf);
      }
    }
  }

 private:
  // ---- reading the input ----
  void need(size_t n) const {
    CAGE_CHECK(size_ - pos_ >= n, "truncated: needs ", n, " more bytes, ", size_ - pos_, " left");
  }
  uint64_t read_le(size_t n) {
    need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  std::string read_bytes(uint64_t n) {
    CAGE_CHECK(n <= size_ - pos_, "length ", n, " exceeds the ", size_ - pos_, " bytes left");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  std::string read_line() {  // text-protocol argument, up to '\n'
    const void* nl = std::memchr(p_ + pos_, '\n', size_ - pos_);
    CAGE_CHECK(nl, "truncated: no end of line");
    size_t end = static_cast<const uint8_t*>(nl) - p_;
    std::string s(reinterpret_cast<const char*>(p_ + pos_), end - pos_);
    pos_ = end + 1;
    return s;
  }
  static int64_t parse_int(const std::string& s) {
    int64_t v = 0;
    const char* b = s.data();
    const char* e = s.data() + s.size();
    if (b != e && *b == '+') ++b;
    auto [ptr, ec] = std::from_chars(b, e, v);
    CAGE_CHECK(ec == std::errc() && ptr == e && b != e, "'", s.substr(0, 40), "' is not a 64-bit integer");
    return v;
  }

  // ---- the stack ----
  void push(PickleValue* v) { stack_.push_back(v); }
  PickleValue* pop() {
    CAGE_CHECK(!stack_.empty(), "stack underflow");
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PickleValue* top() const {
    CAGE_CHECK(!stack_.empty(), "stack underflow");
    return stack_.back();
  }
  std::vector<PickleValue*> pop_mark() {
    CAGE_CHECK(!metastack_.empty(), "no MARK on the stack");
    std::vector<PickleValue*> items = std::move(stack_);
    stack_ = std::move(metastack_.back());
    metastack_.pop_back();
    return items;
  }
  PickleValue* top_of(PickleKind kind, const char* op) const {
    PickleValue* v = top();
    CAGE_CHECK(v->kind == kind, op, " on a ", pickle_kind_name(v->kind), ", expected a ", pickle_kind_name(kind));
    return v;
  }

  // ---- building values ----
  PickleValue* make_tuple(std::vector<PickleValue*> items) {
    PickleValue* t = arena_.make(PickleKind::tuple);
    t->items = std::move(items);
    return t;
  }
  PickleValue* make_bytes(PickleKind kind, uint64_t n) {
    PickleValue* v = arena_.make(kind);
    v->text = read_bytes(n);
    return v;
  }
  PickleValue* make_long(uint64_t n) {  // little-endian two's complement of n bytes
    CAGE_CHECK(n <= 8, "integer of ", n, " bytes does not fit 64 bits");
    uint64_t u = read_le(static_cast<size_t>(n));
    if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~uint64_t{0} << (8 * n);  // sign-extend
    return arena_.make_int(static_cast<int64_t>(u));
  }
  void set_items(PickleValue* dict, const std::vector<PickleValue*>& kv) {
    CAGE_CHECK(kv.size() % 2 == 0, "odd number of items (", kv.size(), ") for a dict");
    for (size_t i = 0; i < kv.size(); i += 2) arena_.dict_set(dict, kv[i], kv[i + 1]);
  }
  void memo_put(uint64_t index) { memo_[index] = top(); }
  PickleValue* memo_get(uint64_t index) const {
    auto it = memo_.find(index);
    CAGE_CHECK(it != memo_.end(), "memo index ", index, " was never stored");
    return it->second;
  }
  PickleValue* global(const std::string& module, const std::string& name) {
    PickleValue* g = hooks_.find_class(arena_, module, name);
    CAGE_CHECK(g && g->kind == PickleKind::global, "global '", module, ".", name, "' did not resolve to a global");
    return g;
  }

  // One opcode; the result of the pickle on STOP, else nullptr.
  PickleValue* step(uint8_t op) {
    switch (op) {
      case 0x80: {  // PROTO
        uint64_t proto = read_le(1);
        CAGE_CHECK(proto <= kMaxProtocol, "pickle protocol ", proto, " is newer than ", kMaxProtocol);
        break;
      }
      case 0x95: read_le(8); break;  // FRAME: a read-ahead hint, the opcodes follow inline
      case '.': return pop();        // STOP
      // ---- stack manipulation ----
      case '(': metastack_.push_back(std::move(stack_)); stack_.clear(); break;  // MARK
      case '0': if (stack_.empty()) pop_mark(); else pop(); break;              // POP
      case '1': pop_mark(); break;                                               // POP_MARK
      case '2': push(top()); break;                                              // DUP
      // ---- memo ----
      case 'q': memo_put(read_le(1)); break;                        // BINPUT
      case 'r': memo_put(read_le(4)); break;                        // LONG_BINPUT
      case 'p': memo_put(static_cast<uint64_t>(parse_int(read_line()))); break;  // PUT
      case 0x94: memo_put(memo_.size()); break;                     // MEMOIZE
      case 'h': push(memo_get(read_le(1))); break;                  // BINGET
      case 'j': push(memo_get(read_le(4))); break;                  // LONG_BINGET
      case 'g': push(memo_get(static_cast<uint64_t>(parse_int(read_line())))); break;  // GET
      // ---- scalars ----
      case 'N': push(arena_.make(PickleKind::none)); break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        PickleValue* b = arena_.make(PickleKind::boolean);
        b->integer = op == 0x88;
        push(b);
        break;
      }
      case 'J': push(arena_.make_int(static_cast<int32_t>(read_le(4)))); break;  // BININT
      case 'K': push(arena_.make_int(static_cast<int64_t>(read_le(1)))); break;  // BININT1
      case 'M': push(arena_.make_int(static_cast<int64_t>(read_le(2)))); break;  // BININT2
      case 0x8a: push(make_long(read_le(1))); break;                             // LONG1
      case 0x8b: push(make_long(read_le(4))); break;                             // LONG4
      case 'I': {  // INT (text); protocol 0 spells booleans "01" / "00"
        std::string s = read_line();
        if (s == "01" || s == "00") {
          PickleValue* b = arena_.make(PickleKind::boolean);
          b->integer = s == "01";
          push(b);
        } else {
          push(arena_.make_int(parse_int(s)));
        }
        break;
      }
      case 'L': {  // LONG (text), "123L"
        std::string s = read_line();
        if (!s.empty() && s.back() == 'L') s.pop_back();
        push(arena_.make_int(parse_int(s)));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        need(8);
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) u = (u << 8) | p_[pos_ + i];
        pos_ += 8;
        PickleValue* f = arena_.make(PickleKind::floating);
        std::memcpy(&f->floating, &u, 8);
        push(f);
        break;
      }
      case 'X': push(make_bytes(PickleKind::string, read_le(4))); break;   // BINUNICODE
      case 0x8c: push(make_bytes(PickleKind::string, read_le(1))); break;  // SHORT_BINUNICODE
      case 0x8d: push(make_bytes(PickleKind::string, read_le(8))); break;  // BINUNICODE8
      // Python 2 str: torch never writes it, but protocol 2 pickles of str from Python 2 would.
      case 'T': push(make_bytes(PickleKind::string, read_le(4))); break;   // BINSTRING
      case 'U': push(make_bytes(PickleKind::string, read_le(1))); break;   // SHORT_BINSTRING
      case 'B': push(make_bytes(PickleKind::bytes, read_le(4))); break;    // BINBYTES
      case 'C': push(make_bytes(PickleKind::bytes, read_le(1))); break;    // SHORT_BINBYTES
      case 0x8e:                                                           // BINBYTES8
      case 0x96: push(make_bytes(PickleKind::bytes, read_le(8))); break;   // BYTEARRAY8
      // ---- containers ----
      case ')': push(make_tuple({})); break;  // EMPTY_TUPLE
      case 't': push(make_tuple(pop_mark())); break;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1, TUPLE2, TUPLE3
        size_t n = op - 0x84u;
        CAGE_CHECK(stack_.size() >= n, "stack underflow");
        std::vector<PickleValue*> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
        stack_.resize(stack_.size() - n);
        push(make_tuple(std::move(items)));
        break;
      }
      case ']': push(arena_.make(PickleKind::list)); break;  // EMPTY_LIST
      case 'l': {                                             // LIST
        PickleValue* l = arena_.make(PickleKind::list);
        l->items = pop_mark();
        push(l);
        break;
      }
      case 'a': {  // APPEND
        PickleValue* v = pop();
        top_of(PickleKind::list, "APPEND")->items.push_back(v);
        break;
      }
      case 'e': {  // APPENDS
        std::vector<PickleValue*> vs = pop_mark();
        PickleValue* l = top_of(PickleKind::list, "APPENDS");
        l->items.insert(l->items.end(), vs.begin(), vs.end());
        break;
      }
      case '}': push(arena_.make(PickleKind::dict)); break;  // EMPTY_DICT
      case 'd': {                                             // DICT
        std::vector<PickleValue*> kv = pop_mark();
        PickleValue* d = arena_.make(PickleKind::dict);
        set_items(d, kv);
        push(d);
        break;
      }
      case 's': {  // SETITEM
        PickleValue* v = pop();
        PickleValue* k = pop();
        arena_.dict_set(top_of(PickleKind::dict, "SETITEM"), k, v);
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<PickleValue*> kv = pop_mark();
        set_items(top_of(PickleKind::dict, "SETITEMS"), kv);
        break;
      }
      case 0x8f: push(arena_.make(PickleKind::set)); break;  // EMPTY_SET
      case 0x90: {                                            // ADDITEMS
        std::vector<PickleValue*> vs = pop_mark();
        PickleValue* s = top_of(PickleKind::set, "ADDITEMS");
        s->items.insert(s->items.end(), vs.begin(), vs.end());
        break;
      }
      case 0x91: {  // FROZENSET
        PickleValue* s = arena_.make(PickleKind::set);
        s->items = pop_mark();
        push(s);
        break;
      }
      // ---- objects: every one goes through the hooks ----
      case 'c': {  // GLOBAL "module\nname\n"
        std::string module = read_line();
        std::string name = read_line();
        push(global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        PickleValue* name = pop();
        PickleValue* module = pop();
        CAGE_CHECK(name->kind == PickleKind::string && module->kind == PickleKind::string,
                   "STACK_GLOBAL needs two strings, got ", pickle_kind_name(module->kind), " and ",
                   pickle_kind_name(name->kind));
        push(global(module->text, name->text));
        break;
      }
      case 'R':      // REDUCE
      case 0x81: {   // NEWOBJ
        PickleValue* args = pop();
        PickleValue* callable = pop();
        CAGE_CHECK(callable->kind == PickleKind::global, op == 'R' ? "REDUCE" : "NEWOBJ", " calls a ",
                   pickle_kind_name(callable->kind), ", not a class or function");
        CAGE_CHECK(args->kind == PickleKind::tuple, "call arguments are a ", pickle_kind_name(args->kind),
                   ", not a tuple");
        PickleValue* r = hooks_.call(arena_, callable, args, op == 0x81);
        CAGE_CHECK(r, "call of '", callable->qualified_name(), "' returned nothing");
        push(r);
        break;
      }
      case 0x92: {  // NEWOBJ_EX: keyword arguments are not part of any call we allow
        PickleValue* kwargs = pop();
        PickleValue* args = pop();
        PickleValue* cls = pop();
        CAGE_CHECK(kwargs->kind == PickleKind::dict && kwargs->items.empty(), "NEWOBJ_EX with keyword arguments");
        CAGE_CHECK(cls->kind == PickleKind::global && args->kind == PickleKind::tuple, "malformed NEWOBJ_EX");
        PickleValue* r = hooks_.call(arena_, cls, args, true);
        CAGE_CHECK(r, "call of '", cls->qualified_name(), "' returned nothing");
        push(r);
        break;
      }
      case 'b': {  // BUILD
        PickleValue* state = pop();
        hooks_.build(arena_, top(), state);
        break;
      }
      case 'Q': {  // BINPERSID
        PickleValue* r = hooks_.persistent_load(arena_, pop());
        CAGE_CHECK(r, "persistent id resolved to nothing");
        push(r);
        break;
      }
      case 'i':
      case 'o': fail("old-style instance creation (INST/OBJ) is not allowed");
      case 0x82:
      case 0x83:
      case 0x84: fail("the copyreg extension registry (EXT1/2/4) is not supported");
      default: {
        char buf[48];
        std::snprintf(buf, sizeof buf, "unsupported opcode 0x%02x", op);
        fail(buf, op >= 0x20 && op < 0x7f ? std::string(" ('") + char(op) + "')" : std::string());
      }
    }
    return nullptr;
  }

  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0, op_pos_ = 0;
  PickleHooks& hooks_;
  PickleArena& arena_;
  std::vector<PickleValue*> stack_;
  std::vector<std::vector<PickleValue*>> metastack_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

}  // namespace

PickleValue* unpickle(const uint8_t* data, size_t size, PickleHooks& hooks, PickleArena& arena) {
  return Machine(data, size, hooks, arena).run();
}

}  // namespace cage
