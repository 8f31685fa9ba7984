#include "data/open_dataset.h"

#include "data/idx.h"

namespace cage::data {

namespace {

std::pair<std::string, std::string> two_paths(const std::string& kind, const std::string& rest) {
  size_t comma = rest.find(',');
  CAGE_CHECK(comma != std::string::npos && comma > 0 && comma + 1 < rest.size(), "dataset '", kind, ":", rest,
             "': expected ", kind, ":FILE,DIRECTORY");
  return {rest.substr(0, comma), rest.substr(comma + 1)};
}

}  // namespace

std::shared_ptr<Dataset> open_dataset(const std::string& spec, bool seven_classes, int channels) {
  size_t colon = spec.find(':');
  std::string kind = spec.substr(0, colon), rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  AffectNetOptions an;
  an.seven_classes = seven_classes;
  if (kind == "fashion-mnist" || kind.rfind("fashion-mnist@", 0) == 0) {
    std::string split = "train";
    size_t at = spec.find('@');
    if (at != std::string::npos) split = spec.substr(at + 1);
    std::string dir = rest.empty() ? kFashionMnistDir : rest.substr(0, rest.find('@'));
    if (dir.empty()) dir = kFashionMnistDir;
    return std::make_shared<FashionMnistDataset>(dir, split, channels);
  }
  if (kind == "affectnet") {
    auto [csv, images] = two_paths(kind, rest);
    return std::make_shared<RecordDataset>(read_affectnet_csv(csv, images, an));
  }
  if (kind == "affectnet-npy") return std::make_shared<RecordDataset>(read_affectnet_npy(rest, an));
  if (kind == "affectnet-original") {
    auto [csv, root] = two_paths(kind, rest);
    return std::make_shared<RecordDataset>(read_affectnet_original(csv, root, an));
  }
  if (kind == "emotic") {
    auto [csv, root] = two_paths(kind, rest);
    return std::make_shared<RecordDataset>(read_emotic_csv(csv, root));
  }
  if (kind == "csv") return std::make_shared<RecordDataset>(read_labeled_csv(rest));
  if (kind == "folder") return std::make_shared<RecordDataset>(read_image_folder(rest));
  fail("unknown dataset '", spec,
       "' (expected fashion-mnist[:DIR][@split], affectnet:CSV,IMAGES, affectnet-npy:SET_DIR, "
       "affectnet-original:CSV,ROOT, emotic:CSV,ROOT, csv:FILE or folder:ROOT)");
}

}  // namespace cage::data
