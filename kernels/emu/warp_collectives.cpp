// The data side of the emulator's warp collectives: once every lane of a collective has deposited its value, the
// results of all lanes are computed at once, with the semantics of PTX shfl.sync / vote.sync / match.sync / redux.sync.
#include "kernels/emu/scheduler.h"

inline namespace cage_cuda_emu {
namespace detail {

void compute_collective(lane_io* io, uint32_t group, int op) {
  auto each = [group](auto f) {
    for (uint32_t m = group; m; m &= m - 1) f(__builtin_ctz(m));
  };
  switch (op) {
    case op_sync:
      return;
    case op_shfl_idx:
    case op_shfl_up:
    case op_shfl_down:
    case op_shfl_xor:
      // PTX shfl.sync semantics: a lane reads from lane j of its own `width` segment (bfly may also read from an
      // earlier segment); an out-of-range or non-participating source yields the lane's own value.
      each([&](int l) {
        const int width = io[l].width, first = l & ~(width - 1), last = first + width - 1, b = io[l].param & 31;
        int j = l;
        bool ok = true;
        if (op == op_shfl_idx) j = first | (io[l].param & (width - 1));
        if (op == op_shfl_up) j = l - b, ok = j >= first;
        if (op == op_shfl_down) j = l + b, ok = j <= last;
        if (op == op_shfl_xor) j = l ^ b, ok = j <= last;
        io[l].result = ok && (group >> j & 1) ? io[j].value : io[l].value;
      });
      return;
    case op_ballot:
    case op_any:
    case op_all: {
      uint32_t bits = 0;
      each([&](int l) { bits |= (io[l].value != 0 ? 1u : 0u) << l; });
      const uint64_t r = op == op_ballot ? bits : op == op_any ? bits != 0 : bits == group;
      each([&](int l) { io[l].result = r; });
      return;
    }
    case op_match_any:
      each([&](int l) {
        uint32_t same = 0;
        each([&](int k) { same |= (io[k].value == io[l].value ? 1u : 0u) << k; });
        io[l].result = same;
      });
      return;
    default: {
      const int first = __builtin_ctz(group);
      uint32_t acc = static_cast<uint32_t>(io[first].value);
      each([&](int l) {
        const uint32_t v = static_cast<uint32_t>(io[l].value);
        if (l == first) return;
        switch (op) {
          case op_add: acc += v; break;
          case op_min_u: acc = v < acc ? v : acc; break;
          case op_max_u: acc = v > acc ? v : acc; break;
          case op_min_i: acc = int32_t(v) < int32_t(acc) ? v : acc; break;
          case op_max_i: acc = int32_t(v) > int32_t(acc) ? v : acc; break;
          case op_and: acc &= v; break;
          case op_or: acc |= v; break;
          case op_xor: acc ^= v; break;
        }
      });
      each([&](int l) { io[l].result = acc; });
      return;
    }
  }
}

}  // namespace detail
}  // namespace cage_cuda_emu
