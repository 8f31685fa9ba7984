// cage::Error: every failure is an exception that says what failed and where.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace cage {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  // Returns a copy whose message is prefixed with the context ("loading x.pth: " + message).
  Error with_context(const std::string& context) const { return Error(context + ": " + what()); }
};

namespace detail {
inline void build_message(std::ostringstream&) {}
template <typename T, typename... Rest>
void build_message(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  build_message(os, rest...);
}
}  // namespace detail

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  detail::build_message(os, args...);
  throw Error(os.str());
}

}  // namespace cage

#define CAGE_CHECK(cond, ...)                \
  do {                                       \
    if (!(cond)) ::cage::fail(__VA_ARGS__);  \
  } while (0)
