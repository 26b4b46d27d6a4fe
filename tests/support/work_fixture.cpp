// A Google Benchmark suite whose time is modelled, not measured, for the bisect tests: one
// benchmark reporting (manual time) 1 ms times TRACKBENCH_FIXTURE_WORK (default 1) per
// iteration, with uniform noise of TRACKBENCH_FIXTURE_NOISE (a fraction, default 0.005) standard
// deviation, seeded by $TRACKBENCH_BISECT_COMMIT and $TRACKBENCH_BISECT_ROUND. A 3% step then
// decides the same way on any machine, however loaded: the tests check the bisection, and the
// decision rule on real timings is measured in bench/.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

namespace {

double from_env(const char* name, double fallback) {
  const char* text = std::getenv(name);
  return text == nullptr || *text == '\0' ? fallback : std::strtod(text, nullptr);
}

// FNV-1a: a seed that is the same on every run of the same commit and round.
std::uint64_t seed() {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char* name : {"TRACKBENCH_BISECT_COMMIT", "TRACKBENCH_BISECT_ROUND"}) {
    const char* text = std::getenv(name);
    for (const char* c = text == nullptr ? "" : text; *c != '\0'; ++c) hash = (hash ^ static_cast<unsigned char>(*c)) * 1099511628211ULL;
    hash = (hash ^ '/') * 1099511628211ULL;
  }
  return hash;
}

void modelled_work(benchmark::State& state) {
  static std::mt19937_64 engine(seed());
  const double work = from_env("TRACKBENCH_FIXTURE_WORK", 1.0);
  const double noise = from_env("TRACKBENCH_FIXTURE_NOISE", 0.005);
  for (auto _ : state) {
    const double uniform = static_cast<double>(engine() >> 11) / 9007199254740992.0;  // [0, 1)
    state.SetIterationTime(1e-3 * work * (1.0 + noise * std::sqrt(12.0) * (uniform - 0.5)));
  }
}
BENCHMARK(modelled_work)->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);

}  // namespace
