#pragma once
// Seeded randomness whose results are fixed by this code alone. The standard
// library's distributions differ between implementations, which would make a
// split or a shuffle depend on the compiler a run was built with.
#include <cstdint>
#include <vector>

namespace trackbench::trainer {

class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform in [0, bound) without modulo bias; bound > 0.
  std::uint64_t below(std::uint64_t bound);

 private:
  std::uint64_t state_;
};

// Derives independent seeds for separate streams (split, each epoch's shuffle) from one run seed.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream);

// A permutation of 0..n-1 by Fisher-Yates.
std::vector<std::int64_t> seeded_permutation(std::int64_t n, std::uint64_t seed);

}  // namespace trackbench::trainer
