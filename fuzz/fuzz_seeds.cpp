// Writes the seed corpus of fuzz_pth into a directory: hand-built pickles covering every opcode family the
// reader accepts (as "pickle mode" inputs, first byte 0x01) and the same wrapped as whole archives, plus copies
// of any checkpoint files named on the command line (the reference maxvit_small.pth).
// Usage: fuzz_pth_seeds <corpus dir> [file.pth ...]
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz/mini_zip.h"
#include "fuzz/pickle_writer.h"

using namespace std::string_literals;  // pickles hold NUL bytes

namespace {

using Pickle = cage::fuzz::PickleWriter;

void write(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <corpus dir> [file.pth ...]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  std::vector<std::pair<std::string, std::string>> pickles;

  Pickle sd;  // a state_dict as torch.save writes it, _metadata included
  sd.global("collections", "OrderedDict").op('q').op('\0').op(')').op('R').op('(');
  sd.str("a").tensor("FloatStorage", "6", 6, 1, {2, 2}, {1, 2});
  sd.str("b").tensor("HalfStorage", "3", 6, 0, {3, 2}, {2, 1});
  sd.str("c").tensor("LongStorage", "4", 2, 1, {}, {});
  sd.str("d").tensor("ByteStorage", "1", 4, 0, {4}, {1});
  sd.str("e").tensor("BFloat16Storage", "5", 10, 2, {2, 4}, {4, 1});
  sd.str("f").tensor("IntStorage", "2", 2, 0, {2}, {1});
  sd.str("p").global("torch._utils", "_rebuild_parameter").op('(');
  sd.tensor("FloatStorage", "6", 6, 0, {3}, {2}).op('\x88').ordered_dict().op('t').op('R');
  sd.op('u').op('}').str("_metadata").op('h').op('\0').op(')').op('R').op('(').str("").op('}').str("version");
  sd.integer(1).op('s').op('u').op('s').op('b');
  pickles.emplace_back("state_dict", sd.s + ".");

  Pickle wrap;  // {"state_dict": ..., "epoch": 3, ...} with assorted scalars and containers
  wrap.op('}').op('(').str("state_dict").ordered_dict().op('(').str("w");
  wrap.tensor("DoubleStorage", "8", 4, 0, {2, 2}, {2, 1}).op('u').str("epoch").integer(3);
  wrap.str("lr").raw("G\x3f\x50\x62\x4d\xd2\xf1\xa9\xfc"s).str("none").op('N');
  wrap.str("list").op(']').op('(').integer(1).integer(-70000).op(')').integer(2).op('\x85').op('e');
  wrap.str("flag").op('\x89').str("big").raw("\x8a\x05\x00\x00\x00\x00\x01"s).op('u');
  pickles.emplace_back("wrapper", wrap.s + ".");

  // Protocol 4: FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE, one tensor under two keys.
  std::string p4 = "\x80\x04\x95"s + std::string(8, '\0');
  p4 += "}\x94(\x8c\x01k\x94\x8c\x0ctorch._utils\x8c\x12_rebuild_tensor_v2\x93\x94("s;
  p4 += "(\x8c\x07storage\x8c\x05torch\x8c\x0c" "FloatStorage\x93\x8c\x01" "7\x8c\x03" "cpuK\x07tQ"s;
  p4 += "K\x00K\x07\x85K\x01\x85\x89\x8c\x0b" "collections\x8c\x0bOrderedDict\x93)R\x94tR\x94"s;
  p4 += "\x8c\x01j\x94h\x04u."s;
  pickles.emplace_back("protocol4", p4);

  Pickle text(0);  // protocol 0/1 text opcodes
  text.s.clear();
  text.raw("(dp0\nX\x01\x00\x00\x00x"s).raw("(lp1\nI01\naI-5\naL12345678901L\na(I1\nI2\ntp2\nag0\nag2\nas.");
  pickles.emplace_back("text", text.s);

  for (auto& [name, pkl] : pickles) {
    write(dir / ("pickle_" + name), std::string("\x01") + pkl);
    write(dir / ("archive_" + name + ".pth"), cage::fuzz::wrap_pickle(pkl));
  }
  for (int i = 2; i < argc; ++i) {
    std::filesystem::path src = argv[i];
    std::error_code ec;
    std::filesystem::copy_file(src, dir / src.filename(), std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) {
      std::fprintf(stderr, "cannot copy seed '%s': %s\n", argv[i], ec.message().c_str());
      return 1;
    }
  }
  std::printf("wrote %zu seeds (+%d copied) to %s\n", pickles.size() * 2, argc - 2, dir.c_str());
  return 0;
}
