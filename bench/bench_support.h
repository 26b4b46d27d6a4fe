#pragma once
// What the benchmark suites share.
#include <benchmark/benchmark.h>

#include <chrono>

namespace trackbench::bench {

// Times each iteration of `work` by the wall clock (after `untimed`), for benchmarks registered with
// UseManualTime(). Google Benchmark's default, the main thread's CPU time, would miss the work
// LibTorch spreads over its threads and the snapshot writer's background thread, and manual
// time is what the GPU benchmarks need anyway, so every suite reports the same kind of time
// (and every name ends in /manual_time).
template <typename Work, typename Untimed = void (*)()>
void time_each_iteration(benchmark::State& state, Work&& work, Untimed&& untimed = [] {}) {
  for (auto _ : state) {
    untimed();  // set-up of the iteration, outside its time
    const auto start = std::chrono::steady_clock::now();
    work();
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

}  // namespace trackbench::bench
