#include <gtest/gtest.h>

#include "support/error_message.h"
#include "support/idx_files.h"
#include "support/temp_dir.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/idx.h"

namespace trackbench::trainer {
namespace {

using testing::error_message;
using testing::gzip;
using testing::make_idx;
using testing::make_images;
using testing::make_labels;

TEST(Idx, ParsesImagesAndLabels) {
  const auto images = parse_idx_images(make_images(3), "images");
  EXPECT_EQ(images.count, 3);
  EXPECT_EQ(images.rows, 28);
  EXPECT_EQ(images.cols, 28);
  ASSERT_EQ(images.pixels.size(), 3u * 28 * 28);
  EXPECT_EQ(images.pixels[1], 7);
  const auto labels = parse_idx_labels(make_labels(12), "labels");
  ASSERT_EQ(labels.labels.size(), 12u);
  EXPECT_EQ(labels.labels[11], 1);
}

TEST(Idx, ReadsRawAndGzipFilesAlike) {
  testing::temp_dir dir;
  const auto raw = make_images(5);
  testing::write_file(dir / "raw", raw);
  testing::write_file(dir / "raw.gz", gzip(raw));
  const auto from_raw = read_idx_images(dir / "raw");
  const auto from_gz = read_idx_images(dir / "raw.gz");
  EXPECT_EQ(from_raw.pixels, from_gz.pixels);
  EXPECT_EQ(from_gz.count, 5);
}

TEST(Idx, RejectsWrongMagicNamingFileAndField) {
  const auto message = error_message<input_error>([] { parse_idx_images(make_labels(4), "some/file.idx"); });
  EXPECT_NE(message.find("some/file.idx"), std::string::npos) << message;
  EXPECT_NE(message.find("magic number is 0x00000801, expected 0x00000803"), std::string::npos) << message;
  const auto float_magic = error_message<input_error>([] { parse_idx_labels(make_idx(0x00000d01, {1}, {0, 0, 0, 0}), "f"); });
  EXPECT_NE(float_magic.find("magic number is 0x00000d01"), std::string::npos) << float_magic;
}

TEST(Idx, RejectsFilesTooShortForTheHeader) {
  EXPECT_NE(error_message<input_error>([] { parse_idx_images({0, 0, 8}, "tiny"); }).find("too short"), std::string::npos);
  EXPECT_NE(error_message<input_error>([] { parse_idx_images({0, 0, 8, 3, 0, 0, 0, 1}, "short"); }).find("header is truncated"),
            std::string::npos);
}

TEST(Idx, RejectsZeroDimensions) {
  const auto message = error_message<input_error>([] { parse_idx_images(make_idx(idx_images_magic, {2, 0, 28}, {}), "zero"); });
  EXPECT_NE(message.find("dimension 1 (rows) is 0"), std::string::npos) << message;
}

TEST(Idx, RejectsTruncatedData) {
  auto bytes = make_images(4);
  bytes.resize(bytes.size() - 10);
  const auto message = error_message<input_error>([&] { parse_idx_images(bytes, "cut"); });
  EXPECT_NE(message.find("truncated: header declares 3136 data bytes but the file holds 3126"), std::string::npos)
      << message;
}

TEST(Idx, RejectsTrailingBytes) {
  auto bytes = make_labels(4);
  bytes.push_back(1);
  const auto message = error_message<input_error>([&] { parse_idx_labels(bytes, "long"); });
  EXPECT_NE(message.find("1 trailing bytes"), std::string::npos) << message;
}

TEST(Idx, RejectsHeadersDeclaringHugeData) {
  const auto message =
      error_message<input_error>([] { parse_idx_images(make_idx(idx_images_magic, {0xffffffff, 28, 28}, {}), "huge"); });
  EXPECT_NE(message.find("refusing to allocate"), std::string::npos) << message;
}

TEST(Idx, RejectsLabelsOutsideDigitClasses) {
  const auto message = error_message<input_error>([] { parse_idx_labels(make_idx(idx_labels_magic, {3}, {1, 2, 10}), "labels"); });
  EXPECT_NE(message.find("label 2 is 10, expected a digit class 0..9"), std::string::npos) << message;
}

TEST(Idx, RejectsCorruptAndTruncatedGzip) {
  auto compressed = gzip(make_images(2));
  auto truncated = compressed;
  truncated.resize(truncated.size() / 2);
  EXPECT_NE(error_message<input_error>([&] { decompress_if_gzip(truncated, "half.gz"); }).find("gzip data is corrupt or truncated"),
            std::string::npos);
  auto corrupt = compressed;
  for (std::size_t i = 12; i < corrupt.size() - 8; ++i) corrupt[i] ^= 0x5a;
  const auto message = error_message<input_error>([&] { decompress_if_gzip(corrupt, "bad.gz"); });
  EXPECT_NE(message.find("bad.gz"), std::string::npos) << message;
  auto trailing = compressed;
  trailing.push_back(0);
  EXPECT_NE(error_message<input_error>([&] { decompress_if_gzip(trailing, "t.gz"); }).find("after the end of the gzip stream"),
            std::string::npos);
}

TEST(Idx, ReportsMissingAndUnreadableFiles) {
  testing::temp_dir dir;
  EXPECT_NE(error_message<input_error>([&] { read_idx_labels(dir / "absent"); }).find("no such file"), std::string::npos);
  EXPECT_NE(error_message<input_error>([&] { read_idx_labels(dir.path()); }).find("not a regular file"), std::string::npos);
  testing::write_file(dir / "empty", {});
  EXPECT_NE(error_message<input_error>([&] { read_idx_labels(dir / "empty"); }).find("0 bytes"), std::string::npos);
}

}  // namespace
}  // namespace trackbench::trainer
