// Pipeline spec parsing (a small tokenizer that remembers columns, so every error points at its token) and the
// dispatch of each step to data/transforms_geometric.h and data/transforms_color.h.
#include "data/pipeline.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <type_traits>
#include <variant>

#include "core/error.h"
#include "data/transforms_color.h"
#include "data/transforms_geometric.h"

namespace cage::data {

namespace {

struct GrayscaleStep {
  double p;
};
struct ResizeStep {
  int64_t height, width;  // height = the shorter side's size when `shorter`
  bool shorter;
  Interpolation interpolation;
};
struct CropStep {
  int64_t height, width;
};
struct ConvertStep {
  Normalization norm;
  bool normalize;  // false: to_tensor (mean 0, std 1: x / 255 exactly)
};

using StepOp = std::variant<RandomHorizontalFlip, GrayscaleStep, RandomRotation, ColorJitter, RandomPerspective,
                            ResizeStep, CropStep, ConvertStep, RandomErasing>;

struct Arg {
  std::string text;
  int column = 0;
  bool is_number = false;
  double value = 0;
};

struct Token {
  std::string name, text;  // text: the whole step as written
  int column = 0;
  std::vector<Arg> args;
};

struct StepInfo {
  const char* name;
  size_t min_args, max_args;
  const char* usage;
};

// Mirrors the table in pipeline.h.
const StepInfo kSteps[] = {
    {"hflip", 0, 1, "hflip(p = 0.5)"},
    {"grayscale", 1, 1, "grayscale(p)"},
    {"rotate", 1, 2, "rotate(degrees[, nearest|bilinear|bicubic])"},
    {"jitter", 1, 4, "jitter(brightness[, contrast[, saturation[, hue]]])"},
    {"perspective", 1, 3, "perspective(distortion[, p = 0.5[, nearest|bilinear|bicubic]])"},
    {"resize", 1, 3, "resize(size[, interp]) or resize(height, width[, interp])"},
    {"center_crop", 1, 2, "center_crop(size) or center_crop(height, width)"},
    {"to_tensor", 0, 0, "to_tensor"},
    {"normalize", 1, 6, "normalize(imagenet), normalize(mean, std) or normalize(m0, m1, m2, s0, s1, s2)"},
    {"erase", 5, 5, "erase(p, scale_lo, scale_hi, ratio_lo, ratio_hi)"},
};

std::string known_names() {
  std::string s;
  for (const StepInfo& info : kSteps) s += (s.empty() ? "" : ", ") + std::string(info.name);
  return s;
}

class SpecParser {
 public:
  explicit SpecParser(std::string_view spec) : spec_(spec) {}

  template <typename... Args>
  [[noreturn]] void error(const Args&... args) const {
    fail("pipeline spec '", spec_, "': ", args...);
  }

  std::vector<Token> tokenize() {
    std::vector<Token> tokens;
    size_t pos = 0;
    auto at_space = [&](size_t p) { return p >= spec_.size() || std::isspace(static_cast<unsigned char>(spec_[p])); };
    while (true) {
      while (pos < spec_.size() && std::isspace(static_cast<unsigned char>(spec_[pos]))) ++pos;
      if (pos >= spec_.size()) break;
      Token t;
      size_t start = pos;
      t.column = static_cast<int>(start) + 1;
      if (!(std::isalpha(static_cast<unsigned char>(spec_[pos])) || spec_[pos] == '_'))
        error("expected a step name at column ", t.column, ", found '", spec_[pos], "'");
      while (pos < spec_.size() && (std::isalnum(static_cast<unsigned char>(spec_[pos])) || spec_[pos] == '_')) ++pos;
      t.name = std::string(spec_.substr(start, pos - start));
      if (pos < spec_.size() && spec_[pos] == '(') {
        ++pos;
        parse_args(t, pos);
      }
      if (!at_space(pos))
        error("unexpected '", spec_[pos], "' at column ", pos + 1, " after step '", t.name,
              "' (steps are separated by spaces)");
      t.text = std::string(spec_.substr(start, pos - start));
      tokens.push_back(std::move(t));
    }
    return tokens;
  }

 private:
  // Arguments up to the closing parenthesis; `pos` is just after '('.
  void parse_args(Token& t, size_t& pos) {
    auto skip_space = [&] {
      while (pos < spec_.size() && std::isspace(static_cast<unsigned char>(spec_[pos]))) ++pos;
    };
    skip_space();
    if (pos < spec_.size() && spec_[pos] == ')') {
      ++pos;
      return;
    }
    while (true) {
      skip_space();
      size_t start = pos;
      while (pos < spec_.size() && spec_[pos] != ',' && spec_[pos] != ')' && spec_[pos] != '(') ++pos;
      if (pos >= spec_.size()) error("missing ')' for step '", t.name, "' at column ", t.column);
      if (spec_[pos] == '(') error("unexpected '(' at column ", pos + 1, " in the arguments of step '", t.name, "'");
      size_t end = pos;
      while (end > start && std::isspace(static_cast<unsigned char>(spec_[end - 1]))) --end;
      Arg a;
      a.text = std::string(spec_.substr(start, end - start));
      a.column = static_cast<int>(start) + 1;
      if (a.text.empty()) error("empty argument at column ", a.column, " of step '", t.name, "'");
      char* stop = nullptr;
      a.value = std::strtod(a.text.c_str(), &stop);
      a.is_number = stop == a.text.c_str() + a.text.size() && std::isfinite(a.value);
      t.args.push_back(std::move(a));
      if (spec_[pos++] == ')') return;
    }
  }

  std::string_view spec_;
};

const char* interpolation_name(Interpolation i) {
  switch (i) {
    case Interpolation::nearest: return "nearest";
    case Interpolation::bilinear: return "bilinear";
    case Interpolation::bicubic: return "bicubic";
  }
  return "?";
}

// Turns one token into a step, checking its arguments against the step's usage.
class StepBuilder {
 public:
  StepBuilder(const SpecParser& parser, const Token& t, const StepInfo& info) : p_(parser), t_(t), info_(info) {
    size_t n = t.args.size();
    if (n < info.min_args || n > info.max_args) {
      std::string range = info.min_args == info.max_args
                              ? std::to_string(info.min_args)
                              : std::to_string(info.min_args) + " to " + std::to_string(info.max_args);
      p_.error("step '", t.name, "' at column ", t.column, " takes ", range, " argument",
               info.max_args == 1 ? "" : "s", ", got ", n, " (usage: ", info.usage, ")");
    }
  }

  size_t count() const { return t_.args.size(); }
  bool is_number(size_t k) const { return t_.args[k].is_number; }

  double number(size_t k, double fallback = NAN) const {
    if (k >= t_.args.size()) return fallback;
    const Arg& a = t_.args[k];
    if (!a.is_number)
      p_.error("argument '", a.text, "' at column ", a.column, " of step '", t_.name, "' is not a number (usage: ",
               info_.usage, ")");
    return a.value;
  }
  int64_t size(size_t k) const {
    double v = number(k);
    if (!(v >= 1 && v == std::floor(v) && v < 1e9))
      p_.error("argument '", t_.args[k].text, "' at column ", t_.args[k].column, " of step '", t_.name,
               "' must be a positive integer size");
    return static_cast<int64_t>(v);
  }
  Interpolation interpolation(size_t k, Interpolation fallback) const {
    if (k >= t_.args.size()) return fallback;
    const Arg& a = t_.args[k];
    for (Interpolation i : {Interpolation::nearest, Interpolation::bilinear, Interpolation::bicubic})
      if (a.text == interpolation_name(i)) return i;
    p_.error("argument '", a.text, "' at column ", a.column, " of step '", t_.name,
             "' is not an interpolation (nearest, bilinear, bicubic)");
  }
  // A word argument that must be one of `words`.
  void word(size_t k, const char* expected) const {
    const Arg& a = t_.args[k];
    if (a.text != expected)
      p_.error("argument '", a.text, "' at column ", a.column, " of step '", t_.name, "' is not a number or '",
               expected, "' (usage: ", info_.usage, ")");
  }
  double probability(size_t k, double fallback) const {
    double v = number(k, fallback);
    if (!(v >= 0 && v <= 1))
      p_.error("argument '", t_.args[k].text, "' at column ", t_.args[k].column, " of step '", t_.name,
               "' is a probability and must be in [0, 1]");
    return v;
  }

 private:
  const SpecParser& p_;
  const Token& t_;
  const StepInfo& info_;
};

StepOp build_step(const SpecParser& parser, const Token& t, const StepInfo& info) {
  StepBuilder b(parser, t, info);
  std::string name = info.name;
  if (name == "hflip") return RandomHorizontalFlip{b.probability(0, 0.5)};
  if (name == "grayscale") return GrayscaleStep{b.probability(0, NAN)};
  if (name == "rotate") {
    double degrees = b.number(0);
    if (degrees < 0) parser.error("step 'rotate' at column ", t.column, ": degrees must be non-negative, got ", degrees);
    return RandomRotation(degrees, b.interpolation(1, Interpolation::nearest));
  }
  if (name == "jitter") return ColorJitter(b.number(0), b.number(1, 0), b.number(2, 0), b.number(3, 0));
  if (name == "perspective") {
    double distortion = b.number(0);
    if (!(distortion >= 0 && distortion <= 1))
      parser.error("step 'perspective' at column ", t.column, ": distortion must be in [0, 1], got ", distortion);
    RandomPerspective rp;
    rp.distortion_scale = distortion;
    rp.p = b.probability(1, 0.5);
    rp.interpolation = b.interpolation(2, Interpolation::bilinear);
    return rp;
  }
  if (name == "resize") {
    // resize(224, bicubic) vs resize(224, 256): the second argument is a size when it is a number.
    if (b.count() >= 2 && b.is_number(1))
      return ResizeStep{b.size(0), b.size(1), false, b.interpolation(2, Interpolation::bilinear)};
    if (b.count() == 3) b.number(1);  // a word in the middle of three arguments: report it as not a size
    return ResizeStep{b.size(0), 0, true, b.interpolation(1, Interpolation::bilinear)};
  }
  if (name == "center_crop") {
    int64_t h = b.size(0);
    return CropStep{h, b.count() > 1 ? b.size(1) : h};
  }
  if (name == "to_tensor") return ConvertStep{{{0.0f}, {1.0f}}, false};
  if (name == "normalize") {
    if (b.count() == 1) {
      b.word(0, "imagenet");
      return ConvertStep{imagenet_normalization(), true};
    }
    if (b.count() != 2 && b.count() != 6)
      parser.error("step 'normalize' at column ", t.column, " takes 1, 2 or 6 arguments, got ", b.count(),
                   " (usage: ", info.usage, ")");
    size_t half = b.count() / 2;
    Normalization norm;
    for (size_t k = 0; k < half; ++k) norm.mean.push_back(static_cast<float>(b.number(k)));
    for (size_t k = half; k < b.count(); ++k) {
      norm.std.push_back(static_cast<float>(b.number(k)));
      if (norm.std.back() <= 0)
        parser.error("step 'normalize' at column ", t.column, ": std must be positive, got ", b.number(k));
    }
    return ConvertStep{norm, true};
  }
  // erase
  return RandomErasing(b.probability(0, NAN), {b.number(1), b.number(2)}, {b.number(3), b.number(4)});
}

bool is_float_stage(const StepOp& op) { return std::holds_alternative<RandomErasing>(op); }
bool is_conversion(const StepOp& op) { return std::holds_alternative<ConvertStep>(op); }

std::string list(const std::vector<float>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t k = 0; k < v.size(); ++k) os << (k ? ", " : "") << v[k];
  os << "]";
  return os.str();
}

std::string range(const ColorJitter::Range& r) {
  if (!r) return "off";
  std::ostringstream os;
  os << "[" << r->first << ", " << r->second << "]";
  return os.str();
}

std::string describe_op(const StepOp& op) {
  std::ostringstream os;
  std::visit(
      [&](const auto& s) {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, RandomHorizontalFlip>) {
          os << "RandomHorizontalFlip(p=" << s.p << ")";
        } else if constexpr (std::is_same_v<S, GrayscaleStep>) {
          os << "RandomGrayscale(p=" << s.p << ", keeps the channel count)";
        } else if constexpr (std::is_same_v<S, RandomRotation>) {
          os << "RandomRotation(degrees=[" << s.min_degrees << ", " << s.max_degrees
             << "], interpolation=" << interpolation_name(s.interpolation) << ", fill=0)";
        } else if constexpr (std::is_same_v<S, ColorJitter>) {
          os << "ColorJitter(brightness=" << range(s.brightness()) << ", contrast=" << range(s.contrast())
             << ", saturation=" << range(s.saturation()) << ", hue=" << range(s.hue()) << ", random order)";
        } else if constexpr (std::is_same_v<S, RandomPerspective>) {
          os << "RandomPerspective(distortion_scale=" << s.distortion_scale << ", p=" << s.p
             << ", interpolation=" << interpolation_name(s.interpolation) << ", fill=0)";
        } else if constexpr (std::is_same_v<S, ResizeStep>) {
          if (s.shorter)
            os << "Resize(" << s.height << ": shorter side, aspect kept";
          else
            os << "Resize((" << s.height << ", " << s.width << ")";
          os << ", interpolation=" << interpolation_name(s.interpolation) << ", antialias)";
        } else if constexpr (std::is_same_v<S, CropStep>) {
          os << "CenterCrop((" << s.height << ", " << s.width << "))";
        } else if constexpr (std::is_same_v<S, ConvertStep>) {
          if (s.normalize)
            os << "ToTensor + Normalize(mean=" << list(s.norm.mean) << ", std=" << list(s.norm.std) << ")";
          else
            os << "ToTensor (x / 255)";
        } else if constexpr (std::is_same_v<S, RandomErasing>) {
          os << "RandomErasing(p=" << s.p() << ", scale=[" << s.scale().first << ", " << s.scale().second
             << "], ratio=[" << s.ratio().first << ", " << s.ratio().second << "], value=random)";
        }
      },
      op);
  return os.str();
}

}  // namespace

struct Pipeline::Step {
  std::string name, text;
  int column;
  StepOp op;
};

const std::vector<std::string>& pipeline_step_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const StepInfo& info : kSteps) v.push_back(info.name);
    return v;
  }();
  return names;
}

Pipeline::Pipeline(std::string_view spec) : spec_(spec) {
  SpecParser parser(spec);
  std::optional<size_t> conversion;  // index of the normalize / to_tensor step
  for (const Token& t : parser.tokenize()) {
    const StepInfo* info = nullptr;
    for (const StepInfo& candidate : kSteps)
      if (t.name == candidate.name) info = &candidate;
    if (!info) parser.error("unknown step '", t.name, "' at column ", t.column, " (known: ", known_names(), ")");
    StepOp op = [&] {
      try {
        return build_step(parser, t, *info);
      } catch (const Error& e) {
        std::string what = e.what();
        if (what.rfind("pipeline spec '", 0) == 0) throw;
        // A transform's own check (ColorJitter's hue range, RandomErasing's scale order): add where it came from.
        parser.error("step '", t.text, "' at column ", t.column, ": ", what);
      }
    }();
    if (conversion) {
      const Step& c = steps_[*conversion];
      if (is_conversion(op))
        parser.error("second conversion step '", t.name, "' at column ", t.column, " (the first, '", c.name,
                     "', is at column ", c.column, ")");
      if (!is_float_stage(op))
        parser.error("step '", t.name, "' at column ", t.column, " works on 8-bit images and must come before '",
                     c.name, "' (column ", c.column, ")");
    } else if (is_float_stage(op)) {
      parser.error("step '", t.name, "' at column ", t.column,
                   " works on float pixels and must come after 'normalize' or 'to_tensor'");
    }
    if (is_conversion(op)) conversion = steps_.size();
    steps_.push_back(Step{t.name, t.text, t.column, std::move(op)});
  }
  if (!conversion)
    parser.error("no 'normalize' or 'to_tensor' step: a pipeline must end in float pixels (e.g. 'normalize(imagenet)')");
}

Pipeline::~Pipeline() = default;
Pipeline::Pipeline(const Pipeline&) = default;
Pipeline& Pipeline::operator=(const Pipeline&) = default;
Pipeline::Pipeline(Pipeline&&) noexcept = default;
Pipeline& Pipeline::operator=(Pipeline&&) noexcept = default;

FloatImage Pipeline::apply(const Image& image, Philox& rng) const {
  Image current;
  const Image* src = &image;  // no copy until a step produces a new image
  FloatImage out;
  bool converted = false;
  for (const Step& step : steps_) {
    std::visit(
        [&](const auto& s) {
          using S = std::decay_t<decltype(s)>;
          if constexpr (std::is_same_v<S, GrayscaleStep>) {
            current = random_grayscale(*src, s.p, rng);
          } else if constexpr (std::is_same_v<S, ResizeStep>) {
            current = s.shorter ? resize_shorter(*src, s.height, s.interpolation)
                                : resize(*src, s.height, s.width, s.interpolation);
          } else if constexpr (std::is_same_v<S, CropStep>) {
            current = center_crop(*src, s.height, s.width);
          } else if constexpr (std::is_same_v<S, ConvertStep>) {
            out = to_float_normalize(*src, s.norm);
            converted = true;
          } else if constexpr (std::is_same_v<S, RandomErasing>) {
            s(out, rng);
          } else {  // the random 8-bit samplers: flip, rotation, jitter, perspective
            current = s(*src, rng);
          }
        },
        step.op);
    src = &current;
  }
  CAGE_CHECK(converted, "pipeline '", spec_, "' has no conversion step");  // the constructor guarantees one
  return out;
}

std::string Pipeline::describe() const {
  std::ostringstream os;
  size_t width = 0;
  for (const Step& s : steps_) width = std::max(width, s.text.size());
  for (size_t k = 0; k < steps_.size(); ++k) {
    const Step& s = steps_[k];
    os << (k + 1) << ". " << s.text << std::string(width - s.text.size() + 2, ' ') << describe_op(s.op) << "\n";
  }
  return os.str();
}

size_t Pipeline::size() const { return steps_.size(); }

bool Pipeline::random() const {
  for (const Step& s : steps_)
    if (!std::holds_alternative<ResizeStep>(s.op) && !std::holds_alternative<CropStep>(s.op) &&
        !std::holds_alternative<ConvertStep>(s.op))
      return true;
  return false;
}

std::vector<std::string> Pipeline::step_names() const {
  std::vector<std::string> names;
  for (const Step& s : steps_) names.push_back(s.name);
  return names;
}

}  // namespace cage::data
