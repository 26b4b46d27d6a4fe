#include "trackbench/trainer/checksum.h"

#include <openssl/evp.h>

#include <fstream>
#include <stdexcept>

#include "trackbench/trainer/errors.h"

namespace trackbench::trainer {

struct sha256_hasher::state {
  EVP_MD_CTX* context = nullptr;
};

sha256_hasher::sha256_hasher() : state_(std::make_unique<state>()) {
  state_->context = EVP_MD_CTX_new();
  if (state_->context == nullptr || EVP_DigestInit_ex(state_->context, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(state_->context);
    throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
  }
}

sha256_hasher::~sha256_hasher() { EVP_MD_CTX_free(state_->context); }

void sha256_hasher::update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(state_->context, data, size) != 1) throw std::runtime_error("OpenSSL: SHA-256 update failed");
}

std::string sha256_hasher::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(state_->context, digest, &length) != 1) throw std::runtime_error("OpenSSL: SHA-256 final failed");
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += digits[digest[i] >> 4];
    hex += digits[digest[i] & 0xf];
  }
  return hex;
}

std::string sha256_hex(const void* data, std::size_t size) {
  sha256_hasher hasher;
  hasher.update(data, size);
  return hasher.hex_digest();
}

std::string sha256_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path.string() + ": cannot open for reading");
  sha256_hasher hasher;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) hasher.update(buffer, static_cast<std::size_t>(in.gcount()));
  if (in.bad()) throw input_error(path.string() + ": read error");
  return hasher.hex_digest();
}

}  // namespace trackbench::trainer
