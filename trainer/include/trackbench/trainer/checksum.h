#pragma once
// SHA-256 content hashes, as lowercase hex, for data files and downloads.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace trackbench::trainer {

class sha256_hasher {
 public:
  sha256_hasher();
  ~sha256_hasher();
  sha256_hasher(const sha256_hasher&) = delete;
  sha256_hasher& operator=(const sha256_hasher&) = delete;

  void update(const void* data, std::size_t size);
  std::string hex_digest();  // finishes the hash; call once

 private:
  struct state;
  std::unique_ptr<state> state_;
};

std::string sha256_hex(const void* data, std::size_t size);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace trackbench::trainer
