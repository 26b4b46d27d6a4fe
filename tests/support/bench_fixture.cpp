// A tiny Google Benchmark suite for the `trackbench bench` and gate tests: a deterministic
// compute loop of fixed length, built twice: as is, and with TRACKBENCH_FIXTURE_SLOWDOWN (the
// factor of extra work, e.g. 1.4) as the deliberately slowed build the gate must catch. Plus
// a benchmark that skips itself with an error, as GPU benchmarks do without a GPU.
#include <benchmark/benchmark.h>

#include <cstdint>

#ifndef TRACKBENCH_FIXTURE_SLOWDOWN
#define TRACKBENCH_FIXTURE_SLOWDOWN 1.0
#endif

namespace {

// About 3 ms on one core of the CI machine; xorshift steps depend on each other, so the
// compiler can neither vectorise nor shorten the chain.
constexpr std::uint64_t rounds = static_cast<std::uint64_t>(3000000 * TRACKBENCH_FIXTURE_SLOWDOWN);

std::uint64_t xorshift_chain(std::uint64_t steps) {
  std::uint64_t x = 88172645463325252ULL;
  for (std::uint64_t i = 0; i < steps; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

void busy_loop(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(xorshift_chain(rounds));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rounds));
  state.counters["shifts"] = benchmark::Counter(3.0 * static_cast<double>(rounds), benchmark::Counter::kIsIterationInvariantRate);
}
// Fixed iterations: a repetition is about 12 ms, whatever the machine's load.
BENCHMARK(busy_loop)->Iterations(4)->Unit(benchmark::kMillisecond);

void needs_gpu(benchmark::State& state) {
  state.SkipWithError("no usable GPU");
  for (auto _ : state) {
  }
}
BENCHMARK(needs_gpu);

}  // namespace
