// concat with autograd (slices of the output gradient go back to the inputs).
#include "core/autograd.h"
#include "nn/functional.h"

namespace cage::nn {

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  CAGE_CHECK(!xs.empty(), "concat of no tensors");
  const int64_t nd = xs[0].dim();
  const int64_t d = dim < 0 ? dim + nd : dim;
  CAGE_CHECK(d >= 0 && d < nd, "concat: dimension ", dim, " for ", nd, "-d tensors");
  Shape shape = xs[0].shape();
  shape[d] = 0;
  for (const Tensor& x : xs) {
    CAGE_CHECK(x.dim() == nd && x.dtype() == xs[0].dtype(), "concat of ", describe(xs[0]), " and ", describe(x));
    for (int64_t i = 0; i < nd; ++i)
      CAGE_CHECK(i == d || x.size(i) == xs[0].size(i), "concat along ", d, ": ", shape_str(xs[0].shape()), " and ",
                 shape_str(x.shape()));
    shape[d] += x.size(d);
  }
  Tensor out = Tensor::empty(shape, xs[0].dtype(), xs[0].device());
  std::vector<int64_t> starts;
  int64_t at = 0;
  for (const Tensor& x : xs) {
    starts.push_back(at);
    out.detach().slice(d, at, at + x.size(d)).copy_(x);
    at += x.size(d);
  }
  std::vector<int64_t> sizes;
  for (const Tensor& x : xs) sizes.push_back(x.size(d));
  return record(out, "concat", xs, [d, starts, sizes](const Tensor& g) {
    std::vector<Tensor> parts;
    for (size_t i = 0; i < starts.size(); ++i) parts.push_back(g.slice(d, starts[i], starts[i] + sizes[i]).contiguous());
    return parts;
  });
}

}  // namespace cage::nn
