#pragma once
// Reader for the IDX files MNIST-style data sets ship in, raw or gzip-compressed.
// Every field is validated; each failure is an input_error naming file and field.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace trackbench::trainer {

inline constexpr std::uint32_t idx_images_magic = 0x00000803;  // unsigned bytes, 3 dimensions
inline constexpr std::uint32_t idx_labels_magic = 0x00000801;  // unsigned bytes, 1 dimension

struct idx_images {
  std::int64_t count = 0;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols, row-major
};

struct idx_labels {
  std::vector<std::uint8_t> labels;  // each in 0..9
};

// The whole file as bytes; throws input_error naming the path when unreadable.
std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path);

// Inflates gzip data (recognised by its magic bytes); other data is returned unchanged.
std::vector<std::uint8_t> decompress_if_gzip(std::vector<std::uint8_t> bytes, const std::string& source);

// Parse decompressed IDX bytes; `source` names the file in error messages.
idx_images parse_idx_images(const std::vector<std::uint8_t>& bytes, const std::string& source);
idx_labels parse_idx_labels(const std::vector<std::uint8_t>& bytes, const std::string& source);

idx_images read_idx_images(const std::filesystem::path& path);
idx_labels read_idx_labels(const std::filesystem::path& path);

}  // namespace trackbench::trainer
