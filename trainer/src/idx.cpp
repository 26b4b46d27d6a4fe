#include "trackbench/trainer/idx.h"

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "trackbench/trainer/errors.h"

namespace trackbench::trainer {
namespace {

// Larger than any IDX data set this tool trains on (full MNIST images are 47 MB);
// the bound stops a crafted header or a gzip bomb from exhausting memory.
constexpr std::uint64_t max_payload_bytes = std::uint64_t{1} << 30;

std::string hex32(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

std::uint32_t read_be32(const std::vector<std::uint8_t>& bytes, std::size_t offset) {
  return (std::uint32_t{bytes[offset]} << 24) | (std::uint32_t{bytes[offset + 1]} << 16) |
         (std::uint32_t{bytes[offset + 2]} << 8) | std::uint32_t{bytes[offset + 3]};
}

// Checks magic and dimension sizes, and that the file holds exactly what its header declares.
// Returns the dimension sizes.
std::vector<std::uint64_t> parse_header(const std::vector<std::uint8_t>& bytes, const std::string& source,
                                        std::uint32_t expected_magic, const char* what) {
  const std::size_t dims = expected_magic & 0xffu;
  const std::size_t header_bytes = 4 + 4 * dims;
  if (bytes.size() < 4) {
    throw input_error(source + ": file is " + std::to_string(bytes.size()) +
                      " bytes, too short for an IDX magic number");
  }
  const std::uint32_t magic = read_be32(bytes, 0);
  if (magic != expected_magic) {
    throw input_error(source + ": magic number is " + hex32(magic) + ", expected " + hex32(expected_magic) +
                      " (IDX " + what + ": unsigned bytes, " + std::to_string(dims) + " dimension" +
                      (dims == 1 ? "" : "s") + ")");
  }
  if (bytes.size() < header_bytes) {
    throw input_error(source + ": header is truncated: " + std::to_string(bytes.size()) +
                      " bytes, expected " + std::to_string(header_bytes) + " for " + std::to_string(dims) +
                      " dimension sizes");
  }
  static const char* const dim_names[] = {"count", "rows", "columns"};
  std::vector<std::uint64_t> sizes;
  std::uint64_t payload = 1;
  for (std::size_t d = 0; d < dims; ++d) {
    const std::uint64_t size = read_be32(bytes, 4 + 4 * d);
    if (size == 0) {
      throw input_error(source + ": dimension " + std::to_string(d) + " (" + dim_names[d] +
                        ") is 0, expected at least 1");
    }
    payload *= size;
    if (payload > max_payload_bytes) {
      throw input_error(source + ": header declares more than " + std::to_string(max_payload_bytes) +
                        " bytes of data (dimension " + std::to_string(d) + " (" + dim_names[d] +
                        ") is " + std::to_string(size) + "); refusing to allocate it");
    }
    sizes.push_back(size);
  }
  const std::uint64_t actual = bytes.size() - header_bytes;
  if (actual < payload) {
    throw input_error(source + ": file is truncated: header declares " + std::to_string(payload) +
                      " data bytes but the file holds " + std::to_string(actual));
  }
  if (actual > payload) {
    throw input_error(source + ": file has " + std::to_string(actual - payload) +
                      " trailing bytes after the " + std::to_string(payload) + " data bytes its header declares");
  }
  return sizes;
}

}  // namespace

std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw input_error(path.string() + ": " + (std::filesystem::exists(path, ec) ? "not a regular file" : "no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path.string() + ": cannot open for reading");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw input_error(path.string() + ": read error");
  return bytes;
}

std::vector<std::uint8_t> decompress_if_gzip(std::vector<std::uint8_t> bytes, const std::string& source) {
  if (bytes.size() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw input_error(source + ": cannot start gzip decoder");
  stream.next_in = bytes.data();
  stream.avail_in = static_cast<uInt>(bytes.size());
  std::vector<std::uint8_t> out;
  std::uint8_t chunk[1 << 16];
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    stream.next_out = chunk;
    stream.avail_out = sizeof chunk;
    status = inflate(&stream, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      const std::string detail = stream.msg ? stream.msg : (status == Z_BUF_ERROR ? "unexpected end of data" : "error " + std::to_string(status));
      inflateEnd(&stream);
      throw input_error(source + ": gzip data is corrupt or truncated (" + detail + ")");
    }
    out.insert(out.end(), chunk, chunk + (sizeof chunk - stream.avail_out));
    if (out.size() > max_payload_bytes) {
      inflateEnd(&stream);
      throw input_error(source + ": gzip data inflates to more than " + std::to_string(max_payload_bytes) + " bytes");
    }
  }
  const bool trailing = stream.avail_in != 0;
  inflateEnd(&stream);
  if (trailing) throw input_error(source + ": unexpected bytes after the end of the gzip stream");
  return out;
}

idx_images parse_idx_images(const std::vector<std::uint8_t>& bytes, const std::string& source) {
  const auto sizes = parse_header(bytes, source, idx_images_magic, "images");
  idx_images images;
  images.count = static_cast<std::int64_t>(sizes[0]);
  images.rows = static_cast<std::int64_t>(sizes[1]);
  images.cols = static_cast<std::int64_t>(sizes[2]);
  images.pixels.assign(bytes.begin() + 16, bytes.end());
  return images;
}

idx_labels parse_idx_labels(const std::vector<std::uint8_t>& bytes, const std::string& source) {
  parse_header(bytes, source, idx_labels_magic, "labels");
  idx_labels labels;
  labels.labels.assign(bytes.begin() + 8, bytes.end());
  for (std::size_t i = 0; i < labels.labels.size(); ++i) {
    if (labels.labels[i] > 9) {
      throw input_error(source + ": label " + std::to_string(i) + " is " + std::to_string(labels.labels[i]) +
                        ", expected a digit class 0..9");
    }
  }
  return labels;
}

idx_images read_idx_images(const std::filesystem::path& path) {
  return parse_idx_images(decompress_if_gzip(read_file_bytes(path), path.string()), path.string());
}

idx_labels read_idx_labels(const std::filesystem::path& path) {
  return parse_idx_labels(decompress_if_gzip(read_file_bytes(path), path.string()), path.string());
}

}  // namespace trackbench::trainer
