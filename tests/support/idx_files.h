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

}  // namespace trackbench::testing
