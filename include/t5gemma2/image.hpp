// t5gemma2 — image preprocessing of the Gemma 3 image processor, slow (PIL) path (docs/model.md §6).
//
//   decode      PNG, JPEG, BMP, GIF (first frame), PGM/PPM -> 8-bit RGB (image_file.hpp:
//               header checks, then stb_image); grey is replicated, alpha dropped — what
//               PIL's convert("RGB") does
//   resize      to image_size × image_size (aspect ratio NOT kept) with PIL's BILINEAR
//               filter, reproduced pixel for pixel (resize_bilinear_like_pil below)
//   rescale     x · (1/255) in f64, rounded to f32          (HF rescale, dtype float32)
//   normalize   (x − 0.5) / 0.5 in f32                       (HF normalize, mean = std = 0.5)
//   layout      CHW f32 -> pixel_values [3, size, size]
//
// JPEG: stb_image's decoder is not libjpeg's, so decoded JPEG pixels (before resizing) may
// differ from PIL's by a level or two; lossless formats decode identically.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "t5gemma2/error.hpp"
#include "t5gemma2/image_file.hpp"
#include "t5gemma2/tensor.hpp"

T5GEMMA2_NAMESPACE_BEGIN

// ---- PIL's BILINEAR resize, from its algorithm --------------------------------------------
//
// Separable: a horizontal pass (only if the width changes) into an 8-bit temporary, then a
// vertical pass (only if the height changes). For each output index i along an axis of
// `in` -> `out` samples:
//   scale   = in / out;  fscale = max(scale, 1)   (shrinking widens the filter)
//   support = 1 · fscale                           (the triangle filter's radius)
//   center  = (i + 0.5) · scale
//   taps    x ∈ [xmin, xmax): xmin = max(0, int(center − support + 0.5)),
//                             xmax = min(in, int(center + support + 0.5))
//   weight  w_x = triangle((x − center + 0.5) · (1 / fscale)), triangle(t) = max(0, 1 − |t|),
//           normalised by their sum, all in f64
// The weights become fixed point with 22 fractional bits (round half away from zero); a pass
// sums value · weight in int32 starting from 2^21 (rounding), shifts right by 22 and clamps to
// [0, 255].

inline constexpr int kPilPrecisionBits = 22;

struct ResampleTaps {
  std::vector<int> first;              // [out] first input index
  std::vector<int> count;              // [out] number of taps
  std::vector<std::vector<int32_t>> weights;  // [out][count] fixed-point weights
};

inline ResampleTaps pil_bilinear_taps(int in_size, int out_size) {
  const double scale = double(in_size) / double(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;
  const double inv_filter_scale = 1.0 / filter_scale;  // PIL multiplies by the reciprocal
  ResampleTaps t;
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    const int n = xmax - xmin;
    std::vector<double> w(std::size_t(std::max(n, 0)));
    double total = 0.0;
    for (int x = 0; x < n; ++x) {
      double u = (x + xmin - center + 0.5) * inv_filter_scale;
      if (u < 0.0) u = -u;
      w[std::size_t(x)] = u < 1.0 ? 1.0 - u : 0.0;
      total += w[std::size_t(x)];
    }
    std::vector<int32_t> fixed(w.size());
    for (std::size_t x = 0; x < w.size(); ++x) {
      const double normalised = total != 0.0 ? w[x] / total : w[x];
      const double scaled = normalised * double(1 << kPilPrecisionBits);
      fixed[x] = int32_t(scaled < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    t.first.push_back(xmin);
    t.count.push_back(n);
    t.weights.push_back(std::move(fixed));
  }
  return t;
}

inline uint8_t pil_clip8(int32_t acc) {
  const int32_t v = acc >> kPilPrecisionBits;  // arithmetic shift: floor
  return uint8_t(std::clamp(v, 0, 255));
}

// One pass along x (horizontal) or y (vertical) to `out_size` samples; 8-bit result.
inline ImageRGB8 pil_resample_pass(const ImageRGB8& img, int out_size, bool horizontal) {
  const ResampleTaps taps = pil_bilinear_taps(horizontal ? img.width : img.height, out_size);
  const int out_w = horizontal ? out_size : img.width, out_h = horizontal ? img.height : out_size;
  ImageRGB8 out{out_w, out_h, std::vector<uint8_t>(std::size_t(out_w) * std::size_t(out_h) * 3)};
  for (int y = 0; y < out_h; ++y)
    for (int x = 0; x < out_w; ++x) {
      const std::size_t i = std::size_t(horizontal ? x : y);  // the output sample along the axis
      for (int c = 0; c < 3; ++c) {
        int32_t acc = 1 << (kPilPrecisionBits - 1);
        for (int k = 0; k < taps.count[i]; ++k) {
          const int src = taps.first[i] + k;
          acc += int32_t((horizontal ? img.at(src, y) : img.at(x, src))[c]) * taps.weights[i][std::size_t(k)];
        }
        out.at(x, y)[c] = pil_clip8(acc);
      }
    }
  return out;
}

inline ImageRGB8 resize_bilinear_like_pil(const ImageRGB8& src, int out_w, int out_h) {
  check(out_w > 0 && out_h > 0, "resize: the target size must be positive (a model without a vision tower has none)");
  ImageRGB8 img = src;
  if (out_w != img.width) img = pil_resample_pass(img, out_w, /*horizontal=*/true);
  if (out_h != img.height) img = pil_resample_pass(img, out_h, /*horizontal=*/false);
  return img;
}

// 8-bit value -> the f32 the HF processor produces: f32(f64(v) · (1/255)), then (x − 0.5) / 0.5.
inline float normalize_pixel(uint8_t v) {
  const float rescaled = float(double(v) * (1.0 / 255.0));
  return (rescaled - 0.5f) / 0.5f;
}

// The whole preprocessing: RGB image -> pixel_values [3, size·size] (a Tensor of 3 rows,
// channel-major: row c holds channel c in row-major pixel order).
inline Tensor preprocess_image(const ImageRGB8& img, int size) {
  const ImageRGB8 r = resize_bilinear_like_pil(img, size, size);
  Tensor px(3, size * size);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      for (int c = 0; c < 3; ++c) px.at(c, y * size + x) = normalize_pixel(r.at(x, y)[c]);
  return px;
}

T5GEMMA2_NAMESPACE_END
