// Pipeline specs: the paper's train and eval specs parse into the steps the protocol lists; bad specs fail with the
// spec, the offending token and its column; apply() is deterministic per Philox stream and composes the
// transforms as their own functions do.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/pipeline.h"
#include "data/transforms_color.h"
#include "data/transforms_geometric.h"

namespace cage::data {
namespace {

Image gradient_image(int64_t h, int64_t w) {
  Image img(h, w, 3);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* p = img.row(y) + x * 3;
      p[0] = static_cast<uint8_t>(255 * x / w);
      p[1] = static_cast<uint8_t>(255 * y / h);
      p[2] = static_cast<uint8_t>((x * 7 + y * 13) % 256);
    }
  return img;
}

std::string spec_error(const std::string& spec) {
  try {
    Pipeline p(spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PipelineSpec, PaperSpecsParse) {
  Pipeline train(kPaperTrainSpec), eval(kPaperEvalSpec);
  EXPECT_EQ(train.step_names(), (std::vector<std::string>{"hflip", "grayscale", "rotate", "jitter", "perspective",
                                                          "normalize", "erase"}));
  EXPECT_EQ(eval.step_names(), (std::vector<std::string>{"resize", "center_crop", "normalize"}));
  EXPECT_TRUE(train.random());
  EXPECT_FALSE(eval.random());
  std::string d = train.describe();
  std::printf("%s%s", d.c_str(), eval.describe().c_str());
  for (const char* expected :
       {"1. hflip(0.5)", "RandomHorizontalFlip(p=0.5)", "RandomGrayscale(p=0.01", "RandomRotation(degrees=[-10, 10], interpolation=nearest",
        "ColorJitter(brightness=[0.8, 1.2], contrast=[0.8, 1.2], saturation=[0.8, 1.2], hue=[-0.1, 0.1]",
        "RandomPerspective(distortion_scale=0.2, p=0.5, interpolation=bilinear",
        "Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])",
        "7. erase(0.5,0.02,0.2,0.3,3.3)", "RandomErasing(p=0.5, scale=[0.02, 0.2], ratio=[0.3, 3.3], value=random)"})
    EXPECT_NE(d.find(expected), std::string::npos) << "missing '" << expected << "' in\n" << d;
  EXPECT_NE(eval.describe().find("Resize(224: shorter side"), std::string::npos) << eval.describe();
}

TEST(PipelineSpec, SpacingAndOptionalArguments) {
  Pipeline p("  hflip   rotate( 5 , bilinear )  resize(32, 48, bicubic) center_crop(30)\tto_tensor  ");
  EXPECT_EQ(p.size(), 5u);
  std::string d = p.describe();
  EXPECT_NE(d.find("RandomHorizontalFlip(p=0.5)"), std::string::npos) << d;
  EXPECT_NE(d.find("interpolation=bilinear"), std::string::npos) << d;
  EXPECT_NE(d.find("Resize((32, 48), interpolation=bicubic"), std::string::npos) << d;
  EXPECT_NE(d.find("CenterCrop((30, 30))"), std::string::npos) << d;
  EXPECT_NO_THROW(Pipeline("resize(64, bicubic) normalize(0.5, 0.25)"));
  EXPECT_NO_THROW(Pipeline("normalize(0.5, 0.5, 0.5, 0.2, 0.2, 0.2) erase(1, 0.1, 0.2, 0.5, 2)"));
  EXPECT_NO_THROW(Pipeline("jitter(0.4) hflip() to_tensor"));
}

TEST(PipelineSpec, ErrorsNameTheTokenAndColumn) {
  EXPECT_EQ(spec_error("rotat(10)"),
            "pipeline spec 'rotat(10)': unknown step 'rotat' at column 1 (known: hflip, grayscale, rotate, jitter, "
            "perspective, resize, center_crop, to_tensor, normalize, erase)");
  EXPECT_EQ(spec_error("hflip(0.5) rotate(x) normalize(imagenet)"),
            "pipeline spec 'hflip(0.5) rotate(x) normalize(imagenet)': argument 'x' at column 19 of step 'rotate' is "
            "not a number (usage: rotate(degrees[, nearest|bilinear|bicubic]))");
  EXPECT_EQ(spec_error("hflip(0.5)"),
            "pipeline spec 'hflip(0.5)': no 'normalize' or 'to_tensor' step: a pipeline must end in float pixels "
            "(e.g. 'normalize(imagenet)')");
  EXPECT_EQ(spec_error("normalize(imagenet) hflip(0.5)"),
            "pipeline spec 'normalize(imagenet) hflip(0.5)': step 'hflip' at column 21 works on 8-bit images and must "
            "come before 'normalize' (column 1)");
  EXPECT_EQ(spec_error("erase(0.5,0.02,0.2,0.3,3.3) to_tensor"),
            "pipeline spec 'erase(0.5,0.02,0.2,0.3,3.3) to_tensor': step 'erase' at column 1 works on float pixels "
            "and must come after 'normalize' or 'to_tensor'");
  EXPECT_EQ(spec_error("jitter(0.2,0.2,0.2,0.7) to_tensor"),
            "pipeline spec 'jitter(0.2,0.2,0.2,0.7) to_tensor': step 'jitter(0.2,0.2,0.2,0.7)' at column 1: "
            "ColorJitter: hue must be in [0, 0.5], got 0.7");
  struct Case {
    const char* spec;
    const char* fragment;
  };
  for (const Case& c : std::vector<Case>{
           {"hflip(1.5) to_tensor", "argument '1.5' at column 7 of step 'hflip' is a probability"},
           {"hflip(0.5", "missing ')' for step 'hflip' at column 1"},
           {"hflip(0.5 to_tensor(", "unexpected '(' at column 20"},
           {"hflip(0.5)x to_tensor", "unexpected 'x' at column 11 after step 'hflip'"},
           {"to_tensor 1hflip", "expected a step name at column 11, found '1'"},
           {"rotate() to_tensor", "step 'rotate' at column 1 takes 1 to 2 arguments, got 0"},
           {"to_tensor erase(0.5)", "step 'erase' at column 11 takes 5 arguments, got 1"},
           {"normalize(0.5,0.5,0.5)", "step 'normalize' at column 1 takes 1, 2 or 6 arguments, got 3"},
           {"normalize(imagenett)", "argument 'imagenett' at column 11 of step 'normalize' is not a number or 'imagenet'"},
           {"normalize(0.5, 0)", "std must be positive"},
           {"resize(22.5) to_tensor", "argument '22.5' at column 8 of step 'resize' must be a positive integer size"},
           {"center_crop(0) to_tensor", "must be a positive integer size"},
           {"rotate(10, cubic) to_tensor", "argument 'cubic' at column 12 of step 'rotate' is not an interpolation"},
           {"rotate(-3) to_tensor", "degrees must be non-negative"},
           {"perspective(1.2) to_tensor", "distortion must be in [0, 1]"},
           {"to_tensor normalize(imagenet)", "second conversion step 'normalize' at column 11 (the first, 'to_tensor'"},
           {"hflip(,) to_tensor", "empty argument at column 7 of step 'hflip'"},
           {"to_tensor erase(0.5,0.2,0.02,0.3,3.3)", "step 'erase(0.5,0.2,0.02,0.3,3.3)' at column 11: RandomErasing"},
           {"", "no 'normalize' or 'to_tensor' step"},
       }) {
    std::string what = spec_error(c.spec);
    EXPECT_EQ(what.rfind(std::string("pipeline spec '") + c.spec + "': ", 0), 0u) << what;
    EXPECT_NE(what.find(c.fragment), std::string::npos) << "spec '" << c.spec << "' gave: " << what;
  }
}

TEST(PipelineApply, SameStreamSameOutput) {
  Pipeline train(kPaperTrainSpec);
  Image img = gradient_image(64, 80);
  int differing_streams = 0;
  for (uint64_t stream = 0; stream < 8; ++stream) {
    Philox a(2024, stream), b(2024, stream);
    FloatImage fa = train.apply(img, a), fb = train.apply(img, b);
    ASSERT_EQ(fa.values, fb.values) << "stream " << stream;
    EXPECT_EQ(a.offset(), b.offset());
    EXPECT_EQ(fa.height, 64);
    EXPECT_EQ(fa.width, 80);
    EXPECT_EQ(fa.channels, 3);
    for (float v : fa.values) ASSERT_TRUE(std::isfinite(v));
    Philox other(2024, stream + 100);
    differing_streams += train.apply(img, other).values != fa.values;
    // Resuming a stream at a saved offset reproduces what follows.
    Philox c(2024, stream);
    c.set_offset(a.offset());
    Philox d(2024, stream);
    d.set_offset(a.offset());
    EXPECT_EQ(train.apply(img, c).values, train.apply(img, d).values);
  }
  EXPECT_EQ(differing_streams, 8);
}

TEST(PipelineApply, StepsComposeTheirTransforms) {
  Image img = gradient_image(40, 50);
  Normalization imagenet = imagenet_normalization();
  Philox rng(1);
  // Deterministic steps: the pipeline is the composition of the functions.
  FloatImage flipped = Pipeline("hflip(1) to_tensor").apply(img, rng);
  EXPECT_EQ(flipped.values, to_float(hflip(img)).values);
  FloatImage gray = Pipeline("grayscale(1) normalize(imagenet)").apply(img, rng);
  EXPECT_EQ(gray.values, to_float_normalize(to_grayscale(img, 3), imagenet).values);
  FloatImage eval = Pipeline(kPaperEvalSpec).apply(img, rng);
  EXPECT_EQ(eval.height, 224);
  EXPECT_EQ(eval.width, 224);
  EXPECT_EQ(eval.values, to_float_normalize(center_crop(resize_shorter(img, 224), 224, 224), imagenet).values);
  // On AffectNet's 224 x 224 images the eval spec is the paper's ToTensor + Normalize.
  Image face = gradient_image(224, 224);
  EXPECT_EQ(Pipeline(kPaperEvalSpec).apply(face, rng).values, to_float_normalize(face, imagenet).values);
  // Random steps draw from the stream passed in, in spec order: replaying the draws by hand gives the same output.
  Philox p1(77, 5), p2(77, 5);
  FloatImage via_pipeline = Pipeline("rotate(10) jitter(0.2,0.2,0.2,0.1) to_tensor erase(1,0.02,0.2,0.3,3.3)").apply(img, p1);
  Image step = RandomRotation(10)(img, p2);
  step = ColorJitter(0.2, 0.2, 0.2, 0.1)(step, p2);
  FloatImage by_hand = to_float(step);
  RandomErasing(1, {0.02, 0.2}, {0.3, 3.3})(by_hand, p2);
  EXPECT_EQ(via_pipeline.values, by_hand.values);
  EXPECT_EQ(p1.offset(), p2.offset());
}

}  // namespace
}  // namespace cage::data
