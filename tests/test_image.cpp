// Image decoding and the PIL-compatible bilinear resize.
#include <fstream>
#include <sys/stat.h>
#include <string>
#include <vector>

#include "t5gemma2/image.hpp"
#include "test_util.hpp"

using namespace t5gemma2;

static ImageRGB8 grey_row(std::vector<uint8_t> values) {
  ImageRGB8 img{int(values.size()), 1, {}};
  for (uint8_t v : values) img.pixels.insert(img.pixels.end(), {v, v, v});
  return img;
}

TEST_CASE("PIL bilinear taps: enlarging keeps the 2-tap triangle, shrinking widens it") {
  // 2 -> 4 (enlarge): centres 0.25, 0.75, 1.25, 1.75 over inputs at 0.5 and 1.5.
  const ResampleTaps up = pil_bilinear_taps(2, 4);
  REQUIRE(up.first.size() == 4);
  CHECK(up.count[0] == 1);  // xmin = int(0.25 − 1 + 0.5) = 0, xmax = int(1.75) = 1
  CHECK(up.weights[0][0] == (1 << 22));
  CHECK(up.count[1] == 2);
  CHECK(up.weights[1][0] == 3 << 20);  // 0.75
  CHECK(up.weights[1][1] == 1 << 20);  // 0.25
  // 8 -> 2 (shrink by 4): support 4, weights of a triangle 4 wide.
  const ResampleTaps down = pil_bilinear_taps(8, 2);
  CHECK(down.count[0] == 6);
  int64_t total = 0;
  for (int32_t w : down.weights[0]) total += w;
  CHECK(std::abs(total - (1 << 22)) <= 3);  // fixed-point weights sum to one (±rounding)
}

TEST_CASE("PIL bilinear resize on hand-computed rows") {
  // 2 -> 4: [0, 100] -> 0, 25, 75, 100 (weights 0.75/0.25; 2^21 rounding bias).
  const ImageRGB8 up = resize_bilinear_like_pil(grey_row({0, 100}), 4, 1);
  CHECK(std::vector<uint8_t>{up.at(0, 0)[0], up.at(1, 0)[0], up.at(2, 0)[0], up.at(3, 0)[0]} == std::vector<uint8_t>{0, 25, 75, 100});
  // Same size: untouched (no pass runs).
  const ImageRGB8 same = resize_bilinear_like_pil(grey_row({7, 200, 13}), 3, 1);
  CHECK(same.pixels == grey_row({7, 200, 13}).pixels);
  // Halving [10, 20, 30, 40] (support 2, pixel x sampled at x + 0.5):
  //   out 0: centre 1, taps 0..2, t = (x − 1 + 0.5)/2 = −.25, .25, .75 -> weights .75 .75 .25 = 3/7 3/7 1/7
  //          -> (30 + 60 + 30) / 7 = 17.14 -> 17
  //   out 1: centre 3, taps 1..3, t = −.75, −.25, .25 -> weights .25 .75 .75 = 1/7 3/7 3/7
  //          -> (20 + 90 + 120) / 7 = 32.86 -> 33
  const ImageRGB8 down = resize_bilinear_like_pil(grey_row({10, 20, 30, 40}), 2, 1);
  CHECK(int(down.at(0, 0)[0]) == 17);
  CHECK(int(down.at(1, 0)[0]) == 33);
}

TEST_CASE("normalisation is f32(v/255) then (x − 0.5) / 0.5") {
  CHECK(normalize_pixel(0) == -1.0f);
  CHECK(normalize_pixel(255) == 1.0f);
  CHECK(normalize_pixel(128) == (float(128.0 / 255.0) - 0.5f) / 0.5f);
}

static std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST_CASE("bad images get clear errors") {
  const std::vector<uint8_t> png = file_bytes(demo_model("images/sample_00.png"));
  REQUIRE(png.size() > 100);
  CHECK_NOTHROW(decode_image(png, "sample_00.png"));
  const std::vector<uint8_t> truncated(png.begin(), png.begin() + std::ptrdiff_t(png.size() / 2));
  REQUIRE_ERROR_MENTIONS(decode_image(truncated, "cut.png"), "cut.png", "truncated PNG");
  REQUIRE_ERROR_MENTIONS(decode_image({}, "empty.png"), "empty.png", "empty");
  const std::string junk = "this is not an image at all";
  REQUIRE_ERROR_MENTIONS(decode_image(std::vector<uint8_t>(junk.begin(), junk.end()), "junk.bin"), "junk.bin", "not an image in a supported format");
  const std::string zero = "P6\n0 0\n255\n";
  REQUIRE_ERROR_MENTIONS(decode_image(std::vector<uint8_t>(zero.begin(), zero.end()), "zero.ppm"), "zero.ppm");
  const std::string huge = "P6\n20000 20000\n255\n";
  REQUIRE_ERROR_MENTIONS(decode_image(std::vector<uint8_t>(huge.begin(), huge.end()), "huge.ppm"), "20000x20000", "89478485");
  REQUIRE_ERROR_MENTIONS(load_image("/nonexistent/x.png"), "/nonexistent/x.png", "cannot open");
}

TEST_CASE("grey and other lossless formats decode to RGB like PIL's convert('RGB')") {
  const std::string pgm = std::string("P5\n2 1\n255\n") + char(10) + char(250);
  const ImageRGB8 img = decode_image(std::vector<uint8_t>(pgm.begin(), pgm.end()), "g.pgm");
  CHECK(img.pixels == std::vector<uint8_t>{10, 10, 10, 250, 250, 250});
}

TEST_CASE("24-bit BMP decodes to RGB in top-down order") {
  // 2x1 bottom-up BMP: pixel (0,0) = red, (1,0) = blue; rows padded to 4 bytes; stored as BGR.
  std::vector<uint8_t> bmp = {'B', 'M'};
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) bmp.push_back(uint8_t(v >> (8 * i))); };
  auto u16 = [&](uint16_t v) { bmp.push_back(uint8_t(v)); bmp.push_back(uint8_t(v >> 8)); };
  u32(14 + 40 + 8); u32(0); u32(14 + 40);                 // file header
  u32(40); u32(2); u32(1); u16(1); u16(24); u32(0); u32(8); // info header: 2x1, 24 bpp
  u32(2835); u32(2835); u32(0); u32(0);
  for (uint8_t b : {0, 0, 255, 255, 0, 0, 0, 0}) bmp.push_back(b);  // BGR red, BGR blue, padding
  const ImageRGB8 img = decode_image(bmp, "two.bmp");
  REQUIRE(img.width == 2);
  REQUIRE(img.height == 1);
  CHECK(img.pixels == std::vector<uint8_t>{255, 0, 0, 0, 0, 255});
}

TEST_CASE("GIF decodes its first frame through the palette") {
  // 1x1 GIF89a, global palette {red, black}, one frame whose pixel is palette entry 0.
  const std::vector<uint8_t> gif = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
                                    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
  const ImageRGB8 img = decode_image(gif, "red.gif");
  REQUIRE(img.width == 1);
  REQUIRE(img.height == 1);
  CHECK(img.pixels == std::vector<uint8_t>{255, 0, 0});
}

static std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

TEST_CASE("hostile image files: unsupported formats, bombs and truncations are refused before decoding") {
  // stb decoders we do not document are never reached.
  REQUIRE_ERROR_MENTIONS(decode_image(bytes_of("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n\x02\x02"), "x.hdr"), "x.hdr",
                         "not an image in a supported format");
  REQUIRE_ERROR_MENTIONS(decode_image(bytes_of("8BPS\x00\x01"), "x.psd"), "not an image in a supported format");
  REQUIRE_ERROR_MENTIONS(decode_image(bytes_of(std::string("\x00\x00\x02\x00\x00\x00\x00\x00", 8)), "x.tga"),
                         "not an image in a supported format");
  // A 16-bit PGM header with no pixels (the stb out-of-bounds read), ASCII PNM.
  REQUIRE_ERROR_MENTIONS(decode_image(bytes_of("P5\n4 4\n65535\n"), "x.pgm"), "x.pgm", "truncated PNM", "needs 32");
  REQUIRE_ERROR_MENTIONS(decode_image(bytes_of("P3\n1 1\n255\n1 2 3\n"), "a.ppm"), "only binary P5 / P6");
  // Decompression bombs: tiny files declaring 16384 x 16384 pixels.
  const std::vector<uint8_t> gif_bomb = {'G', 'I', 'F', '8', '9', 'a', 0x00, 0x40, 0x00, 0x40, 0x80, 0, 0, 0xff, 0, 0, 0, 0, 0,
                                         0x2c, 0, 0, 0, 0, 0x00, 0x40, 0x00, 0x40, 0, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
  REQUIRE_ERROR_MENTIONS(decode_image(gif_bomb, "bomb.gif"), "16384x16384", "decompression-bomb");
  const std::vector<uint8_t> jpeg_bomb = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x40, 0x00, 0x40, 0x00, 0x01, 0x01, 0x11, 0x00, 0xFF, 0xD9};
  REQUIRE_ERROR_MENTIONS(decode_image(jpeg_bomb, "bomb.jpg"), "16384x16384", "decompression-bomb");
  std::vector<uint8_t> bmp_bomb = {'B', 'M'};
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) bmp_bomb.push_back(uint8_t(v >> (8 * i))); };
  auto u16 = [&](uint16_t v) { bmp_bomb.push_back(uint8_t(v)); bmp_bomb.push_back(uint8_t(v >> 8)); };
  u32(54); u32(0); u32(54); u32(40); u32(16384); u32(16384); u16(1); u16(24); u32(0); u32(0); u32(0); u32(0); u32(0); u32(0);
  REQUIRE_ERROR_MENTIONS(decode_image(bmp_bomb, "bomb.bmp"), "16384x16384", "decompression-bomb");
  // Truncated files would decode into uninitialised pixels.
  REQUIRE_ERROR_MENTIONS(decode_image(bytes_of("P6\n4 4\n255\n0123456789"), "cut.ppm"), "truncated PNM");
  const std::vector<uint8_t> gif = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
                                    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
  REQUIRE_ERROR_MENTIONS(decode_image(std::vector<uint8_t>(gif.begin(), gif.end() - 6), "cut.gif"), "truncated GIF");
  REQUIRE_ERROR_MENTIONS(decode_image(std::vector<uint8_t>(jpeg_bomb.begin(), jpeg_bomb.end() - 2), "cut.jpg"), "truncated JPEG");
  std::vector<uint8_t> short_bmp(bmp_bomb);
  short_bmp[22] = 2; short_bmp[23] = 0; short_bmp[18] = 2; short_bmp[19] = 0;  // 2x2, but no pixel bytes
  REQUIRE_ERROR_MENTIONS(decode_image(short_bmp, "cut.bmp"), "truncated BMP");
}

TEST_CASE("a top-down BMP (negative height) decodes with its first row on top") {
  std::vector<uint8_t> bmp = {'B', 'M'};
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) bmp.push_back(uint8_t(v >> (8 * i))); };
  auto u16 = [&](uint16_t v) { bmp.push_back(uint8_t(v)); bmp.push_back(uint8_t(v >> 8)); };
  u32(14 + 40 + 8); u32(0); u32(14 + 40);
  u32(40); u32(1); u32(uint32_t(-2)); u16(1); u16(24); u32(0); u32(8); u32(2835); u32(2835); u32(0); u32(0);
  for (uint8_t b : {0, 0, 255, 0, 0, 255, 0, 0}) bmp.push_back(b);  // row 0 red, row 1 green (BGR, padded)
  const ImageRGB8 img = decode_image(bmp, "topdown.bmp");
  REQUIRE(img.width == 1);
  REQUIRE(img.height == 2);
  CHECK(img.pixels == std::vector<uint8_t>{255, 0, 0, 0, 255, 0});
}

TEST_CASE("only regular files are read as images: directories, pipes and devices are refused without blocking") {
  TempDir dir;
  REQUIRE_ERROR_MENTIONS(load_image(dir.path.string()), "a directory");
  const std::string fifo = dir / "pipe.png";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  REQUIRE_ERROR_MENTIONS(load_image(fifo), "pipe.png", "not a regular file");
  REQUIRE_ERROR_MENTIONS(load_image("/dev/zero"), "/dev/zero", "not a regular file");
}

TEST_CASE("PGM and PPM of 8 and 16 bits decode to PIL's RGB pixel for pixel (tests/data/pnm_pil)") {
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(test_data("pnm_pil"))) {
    if (entry.path().extension() != ".pnm") continue;
    std::string want_path = entry.path().string();
    want_path.replace(want_path.size() - 4, 4, ".rgb");
    const std::string want = read_regular_file(want_path, std::size_t(1) << 24, "PIL pixels");
    const ImageRGB8 img = load_image(entry.path().string());
    INFO(entry.path().filename().string());
    REQUIRE(img.pixels.size() == want.size());
    CHECK(std::equal(img.pixels.begin(), img.pixels.end(), reinterpret_cast<const uint8_t*>(want.data())));
    ++cases;
  }
  CHECK(cases == 20);
}
