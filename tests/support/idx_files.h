#pragma once
// Builds IDX files in memory, valid or broken on purpose, and copies of the
// embedded sample in a directory.
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/idx.h"

namespace trackbench::testing {

inline std::vector<std::uint8_t> make_idx(std::uint32_t magic, const std::vector<std::uint32_t>& dims,
                                          const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> bytes;
  auto put32 = [&](std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<std::uint8_t>(v >> shift));
  };
  put32(magic);
  for (auto d : dims) put32(d);
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return bytes;
}

// `count` 28x28 images whose pixels are a function of their index, and labels i % 10.
inline std::vector<std::uint8_t> make_images(std::uint32_t count, std::uint32_t side = 28) {
  std::vector<std::uint8_t> pixels(std::size_t{count} * side * side);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 7 % 256);
  return make_idx(trainer::idx_images_magic, {count, side, side}, pixels);
}

inline std::vector<std::uint8_t> make_labels(std::uint32_t count) {
  std::vector<std::uint8_t> labels(count);
  for (std::uint32_t i = 0; i < count; ++i) labels[i] = static_cast<std::uint8_t>(i % 10);
  return make_idx(trainer::idx_labels_magic, {count}, labels);
}

inline std::vector<std::uint8_t> gzip(const std::vector<std::uint8_t>& raw) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::vector<std::uint8_t> out(deflateBound(&stream, static_cast<uLong>(raw.size())));
  stream.next_in = const_cast<Bytef*>(raw.data());
  stream.avail_in = static_cast<uInt>(raw.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  if (deflate(&stream, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

inline std::filesystem::path sample_dir() { return TRACKBENCH_SAMPLE_DIR; }

// The four sample files in `dir`, gzip-compressed as shipped or decompressed.
inline void copy_sample(const std::filesystem::path& dir, bool decompress = false) {
  for (const char* base : trainer::idx_file_names) {
    const auto source = sample_dir() / (std::string(base) + ".gz");
    if (decompress) {
      write_file(dir / base, trainer::decompress_if_gzip(trainer::read_file_bytes(source), source.string()));
    } else {
      std::filesystem::copy_file(source, dir / (std::string(base) + ".gz"));
    }
  }
}

// Images [begin, end) of `split` as the raw IDX files `images` and `labels` in `dir`.
inline void write_split_slice(const std::filesystem::path& dir, const trainer::data_split& split, std::int64_t begin,
                              std::int64_t end, const char* images, const char* labels) {
  const auto count = static_cast<std::uint32_t>(end - begin);
  const auto pixels = split.images.slice(0, begin, end).contiguous();
  const auto* first = pixels.data_ptr<std::uint8_t>();
  write_file(dir / images, make_idx(trainer::idx_images_magic, {count, 28, 28},
                                    std::vector<std::uint8_t>(first, first + pixels.numel())));
  const auto digits = split.labels.slice(0, begin, end).to(torch::kUInt8).contiguous();
  const auto* label = digits.data_ptr<std::uint8_t>();
  write_file(dir / labels, make_idx(trainer::idx_labels_magic, {count}, std::vector<std::uint8_t>(label, label + count)));
}

// The first `train_count` training and `test_count` test digits of the embedded sample as raw
// IDX files in `dir`: real digits, small enough for a run of a few seconds.
inline void write_sample_subset(const std::filesystem::path& dir, std::uint32_t train_count, std::uint32_t test_count) {
  const auto data = trainer::load_dataset("mnist-sample", std::nullopt);
  write_split_slice(dir, data.train, 0, train_count, trainer::idx_file_names[0], trainer::idx_file_names[1]);
  write_split_slice(dir, data.test, 0, test_count, trainer::idx_file_names[2], trainer::idx_file_names[3]);
}

}  // namespace trackbench::testing
