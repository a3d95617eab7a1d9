// t5gemma2 — image files -> 8-bit RGB pixels, safely.
//
// Decoding is stb_image's (Debian's libstb), but stb is never handed bytes we have not looked
// at first. probe_image() reads the format's own header:
//   * only the documented formats pass — PNG, JPEG, BMP, GIF (first frame), binary PGM (P5) /
//     PPM (P6) of 8 or 16 bits; stb's other decoders (HDR, PSD, TGA, PIC) are never reached;
//   * the declared size is checked against a pixel budget BEFORE anything is allocated: PIL's
//     decompression-bomb limit, 89,478,485 pixels (a 40-byte GIF declaring 16384² fails here);
//   * files that end early are refused instead of decoding into uninitialised pixels: PNG
//     without its IEND chunk, JPEG without an end-of-image marker, GIF without its trailer byte,
//     BMP / PNM whose pixel data is shorter than the header says.
// The decoded image must then have the probed size. PGM/PPM are decoded here, not by stb, with
// PIL's conversion to RGB (Pillow 9.4, measured on every sample value of maxvals 1..65535, see
// decode_pnm) — so that a PNM gives the pixels HF's processor sees.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "t5gemma2/error.hpp"
#include "t5gemma2/file_io.hpp"

extern "C" {
// From Debian's libstb (stb_image.h, implementation compiled into libstb.so).
unsigned char* stbi_load_from_memory(const unsigned char* buffer, int len, int* x, int* y, int* channels_in_file,
                                     int desired_channels);
void stbi_image_free(void* retval_from_stbi_load);
const char* stbi_failure_reason(void);
}

T5GEMMA2_NAMESPACE_BEGIN

// An 8-bit RGB image, row-major, 3 bytes per pixel.
struct ImageRGB8 {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // [height, width, 3]

  uint8_t* at(int x, int y) { return pixels.data() + (std::size_t(y) * std::size_t(width) + std::size_t(x)) * 3; }
  const uint8_t* at(int x, int y) const { return pixels.data() + (std::size_t(y) * std::size_t(width) + std::size_t(x)) * 3; }
};

inline constexpr int64_t kMaxImagePixels = 89'478'485;          // PIL's Image.MAX_IMAGE_PIXELS
inline constexpr std::size_t kMaxImageFileBytes = std::size_t(256) << 20;
inline constexpr const char* kImageFormats = "PNG, JPEG, BMP, GIF, binary PGM (P5) or PPM (P6), 8 or 16 bits";

enum class ImageFormat { kPng, kJpeg, kBmp, kGif, kPnm };

struct ImageHeader {
  ImageFormat format;
  int64_t width = 0, height = 0;
  int pnm_channels = 0;            // PNM: 1 (P5) or 3 (P6)
  int pnm_maxval = 0;              // PNM: 1..65535 (> 255: two bytes per sample, big-endian)
  std::size_t pnm_data_offset = 0;  // PNM: where the samples start
};

// Encoded image bytes (a view: a file's contents are not copied to be looked at).
using Bytes = std::span<const uint8_t>;

namespace image_detail {

inline uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
inline uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
inline uint32_t le16(const uint8_t* p) { return uint32_t(p[1]) << 8 | p[0]; }
inline uint32_t le32(const uint8_t* p) { return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]; }

[[noreturn]] inline void bad(const std::string& what, const std::string& why) { throw Error(what + ": " + why); }

inline ImageHeader png(Bytes b, const std::string& what) {
  // signature (8) | IHDR chunk: length (4) "IHDR" width (4) height (4) ...
  if (b.size() < 8 + 8 + 13 + 4 || std::string(b.begin() + 12, b.begin() + 16) != "IHDR") bad(what, "PNG without an IHDR header");
  // The last chunk must be IEND: length 0, "IEND", CRC.
  if (std::string(b.end() - 8, b.end() - 4) != "IEND") bad(what, "truncated PNG (no IEND chunk at the end)");
  return {ImageFormat::kPng, be32(&b[16]), be32(&b[20])};
}

inline ImageHeader jpeg(Bytes b, const std::string& what) {
  std::size_t i = 2;
  while (i + 4 <= b.size()) {
    if (b[i] != 0xFF) bad(what, "corrupt JPEG (bad marker)");
    const uint8_t m = b[i + 1];
    if (m == 0xFF) { ++i; continue; }  // fill byte
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { i += 2; continue; }  // markers without a length
    if (m == 0xDA || m == 0xD9) bad(what, "corrupt JPEG (no frame header before the image data)");
    const std::size_t len = be16(&b[i + 2]);
    const bool frame = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (frame) {
      if (len < 8 || i + 9 > b.size()) bad(what, "truncated JPEG frame header");
      // The entropy-coded data must end with an end-of-image marker (FF D9).
      bool eoi = false;
      for (std::size_t k = b.size() - 1; k > i + 9 && !eoi; --k) eoi = b[k - 1] == 0xFF && b[k] == 0xD9;
      if (!eoi) bad(what, "truncated JPEG (no end-of-image marker)");
      return {ImageFormat::kJpeg, be16(&b[i + 7]), be16(&b[i + 5])};
    }
    if (len < 2) bad(what, "corrupt JPEG (segment length)");
    i += 2 + len;
  }
  bad(what, "truncated JPEG (no frame header)");
}

inline ImageHeader bmp(Bytes b, const std::string& what) {
  if (b.size() < 26) bad(what, "truncated BMP header");
  const uint32_t data_offset = le32(&b[10]), dib = le32(&b[14]);
  if (dib == 12) return {ImageFormat::kBmp, le16(&b[18]), le16(&b[20])};  // OS/2 header, no size check
  if (dib < 40 || b.size() < 14 + 40) bad(what, "unsupported or truncated BMP header");
  const int64_t w = int32_t(le32(&b[18])), h = int32_t(le32(&b[22]));  // h < 0: rows stored top-down
  const uint32_t bpp = le16(&b[28]), compression = le32(&b[30]);
  if (w <= 0 || h == 0) bad(what, "BMP has zero or negative width or zero height");
  const int64_t rows = h < 0 ? -h : h;
  if ((compression == 0 || compression == 3) && bpp > 0 && bpp <= 32) {  // uncompressed: the rows must all be there
    const int64_t row_bytes = (w * bpp + 31) / 32 * 4;
    if (w * rows <= kMaxImagePixels && int64_t(data_offset) + row_bytes * rows > int64_t(b.size()))
      bad(what, "truncated BMP (pixel data shorter than its header says)");
  }
  return {ImageFormat::kBmp, w, rows};
}

inline ImageHeader gif(Bytes b, const std::string& what) {
  if (b.size() < 14) bad(what, "truncated GIF header");
  if (b.back() != 0x3B) bad(what, "truncated GIF (no trailer byte at the end)");
  return {ImageFormat::kGif, le16(&b[6]), le16(&b[8])};
}

// Binary PNM: "P5"|"P6", whitespace, width, height, maxval (with # comments), one whitespace byte.
inline ImageHeader pnm(Bytes b, const std::string& what) {
  if (b[1] != '5' && b[1] != '6') bad(what, std::string("PNM type P") + char(b[1]) + " is not supported (only binary P5 / P6)");
  std::size_t i = 2;
  int64_t v[3] = {0, 0, 0};
  for (int64_t& x : v) {
    for (;;) {  // whitespace and comments
      if (i >= b.size()) bad(what, "truncated PNM header");
      if (b[i] == '#') {
        while (i < b.size() && b[i] != '\n') ++i;
      } else if (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
        ++i;
      } else {
        break;
      }
    }
    if (b[i] < '0' || b[i] > '9') bad(what, "corrupt PNM header (expected a number)");
    for (; i < b.size() && b[i] >= '0' && b[i] <= '9'; ++i) {
      x = x * 10 + (b[i] - '0');
      if (x > (int64_t(1) << 31)) bad(what, "PNM header number out of range");
    }
  }
  if (v[2] < 1 || v[2] > 65535) bad(what, "PNM maxval must be 1..65535");
  if (i >= b.size()) bad(what, "truncated PNM header");
  ++i;  // the single whitespace byte before the pixels
  const int64_t channels = b[1] == '5' ? 1 : 3, sample_bytes = v[2] > 255 ? 2 : 1;
  if (v[0] > 0 && v[1] > 0 && v[0] * v[1] <= kMaxImagePixels && v[0] * v[1] * channels * sample_bytes > int64_t(b.size() - i))
    bad(what, "truncated PNM (" + std::to_string(b.size() - i) + " pixel bytes, the header needs " +
                  std::to_string(v[0] * v[1] * channels * sample_bytes) + ")");
  return {ImageFormat::kPnm, v[0], v[1], int(channels), int(v[2]), i};
}

// A PGM/PPM's samples as PIL 9.4 converts them to 8-bit RGB (Image.open(f).convert("RGB")),
// s = min(sample, maxval) (PIL clamps larger samples), round() = to nearest, ties to even:
//   P6, any maxval             each channel round(s · 255 / maxval)
//   P5, maxval <= 255 (mode L) round(s · 255 / maxval), replicated to R, G, B
//   P5, maxval > 255  (mode I) PIL first scales to round(s · 65535 / maxval), then converting
//                              mode I to RGB clips at 255: min(255, that), replicated
// (the last is PIL's behaviour, not a good one: a 16-bit PGM is mostly white; it is what the HF
// processor sees). Exact: the quotients of integers below 2^32 are correctly rounded doubles.
inline ImageRGB8 decode_pnm(Bytes b, const ImageHeader& h) {
  ImageRGB8 img;
  img.width = int(h.width);
  img.height = int(h.height);
  img.pixels.resize(std::size_t(h.width) * std::size_t(h.height) * 3);
  const bool wide = h.pnm_maxval > 255;
  const double maxval = h.pnm_maxval;
  const auto sample = [&](std::size_t k) {  // the k-th sample, clamped to maxval
    const uint32_t v = wide ? (uint32_t(b[h.pnm_data_offset + 2 * k]) << 8) | b[h.pnm_data_offset + 2 * k + 1] : b[h.pnm_data_offset + k];
    return std::min<uint32_t>(v, uint32_t(h.pnm_maxval));
  };
  const auto to_rgb8 = [&](uint32_t s) {
    if (h.pnm_channels == 1 && wide) return uint8_t(std::min(255.0, std::nearbyint(double(s) * 65535.0 / maxval)));
    return uint8_t(std::nearbyint(double(s) * 255.0 / maxval));
  };
  const std::size_t n = std::size_t(h.width) * std::size_t(h.height);
  for (std::size_t p = 0; p < n; ++p)
    for (int c = 0; c < 3; ++c) img.pixels[p * 3 + std::size_t(c)] = to_rgb8(sample(h.pnm_channels == 1 ? p : p * 3 + std::size_t(c)));
  return img;
}

}  // namespace image_detail

// Identifies the format by its signature and reads the size from its header; checks the pixel
// budget and the completeness rules above. `what` names the image in errors (a path, say).
inline ImageHeader probe_image(Bytes b, const std::string& what) {
  using namespace image_detail;
  if (b.empty()) bad(what, "empty image file");
  const auto starts = [&](const char* sig, std::size_t n) {
    return b.size() >= n && std::equal(sig, sig + n, b.begin(), [](char c, uint8_t x) { return uint8_t(c) == x; });
  };
  ImageHeader h{};
  if (starts("\x89PNG\r\n\x1a\n", 8)) h = png(b, what);
  else if (starts("\xFF\xD8\xFF", 3)) h = jpeg(b, what);
  else if (starts("BM", 2)) h = bmp(b, what);
  else if (starts("GIF87a", 6) || starts("GIF89a", 6)) h = gif(b, what);
  else if (b.size() >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') h = pnm(b, what);
  else bad(what, std::string("not an image in a supported format (") + kImageFormats + ")");
  if (h.width <= 0 || h.height <= 0) bad(what, "image has zero size");
  if (h.width > kMaxImagePixels || h.height > kMaxImagePixels || h.width * h.height > kMaxImagePixels)  // no overflow
    bad(what, "image declares " + std::to_string(h.width) + "x" + std::to_string(h.height) + " = " +
                  std::to_string(uint64_t(h.width) * uint64_t(h.height)) + " pixels, more than the " + std::to_string(kMaxImagePixels) +
                  " accepted (PIL's decompression-bomb limit)");
  return h;
}

// Decodes an encoded image held in memory. `what` names it in errors (a path, say).
inline ImageRGB8 decode_image(Bytes bytes, const std::string& what) {
  const ImageHeader h = probe_image(bytes, what);
  if (h.format == ImageFormat::kPnm) return image_detail::decode_pnm(bytes, h);
  check(bytes.size() < (std::size_t(1) << 31), [&] { return what + ": image file too large"; });
  int w = 0, ht = 0, comp = 0;
  unsigned char* data = stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &ht, &comp, 3);
  if (!data) throw Error(what + ": cannot decode image (" + stbi_failure_reason() + ")");
  if (w != h.width || ht != h.height) {
    stbi_image_free(data);
    throw Error(what + ": decoded size " + std::to_string(w) + "x" + std::to_string(ht) + " differs from the header's " +
                std::to_string(h.width) + "x" + std::to_string(h.height));
  }
  ImageRGB8 img;
  img.width = w;
  img.height = ht;
  img.pixels.assign(data, data + std::size_t(w) * std::size_t(ht) * 3);
  stbi_image_free(data);
  return img;
}

inline ImageRGB8 load_image(const std::string& path) {
  const std::string bytes = read_regular_file(path, kMaxImageFileBytes, "image");
  return decode_image(Bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), path);
}

T5GEMMA2_NAMESPACE_END
