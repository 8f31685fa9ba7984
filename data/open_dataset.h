// Datasets named on a command line, one string each:
//   fashion-mnist[:DIR][@split]            Debian's /usr/share/datasets/fashion-mnist by default; split train | t10k
//   affectnet:CSV,IMAGE_DIR                the 224x224 release with its number,exp,val,aro CSV
//   affectnet-npy:SET_DIR                  the same release's annotations/*_exp.npy, _val.npy, _aro.npy
//   affectnet-original:CSV,IMAGE_ROOT      the original release (face boxes cropped)
//   emotic:CSV,IMAGE_ROOT                  EMOTIC's annotations converted to CSV
//   csv:FILE                               path,label[,valence,arousal]
//   folder:ROOT                            one sub-folder per class
// AffectNet readers take `seven_classes` (AffectNet-7: Contempt left out).
#pragma once
#include <memory>
#include <string>

#include "data/dataset.h"

namespace cage::data {

std::shared_ptr<Dataset> open_dataset(const std::string& spec, bool seven_classes = false, int channels = 3);

}  // namespace cage::data
