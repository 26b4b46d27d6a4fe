#include "trackbench/trainer/random.h"

#include <numeric>
#include <utility>

namespace trackbench::trainer {

std::uint64_t splitmix64::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t splitmix64::below(std::uint64_t bound) {
  // Reject the top sliver of the range that would over-represent small values.
  const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % bound);
  std::uint64_t value = next();
  while (value >= limit) value = next();
  return value % bound;
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  splitmix64 mixer(seed ^ (stream * 0xd1342543de82ef95ULL));
  mixer.next();
  return mixer.next();
}

std::vector<std::int64_t> seeded_permutation(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  splitmix64 rng(seed);
  for (std::int64_t i = n - 1; i > 0; --i) {
    std::swap(order[static_cast<std::size_t>(i)], order[rng.below(static_cast<std::uint64_t>(i) + 1)]);
  }
  return order;
}

}  // namespace trackbench::trainer
