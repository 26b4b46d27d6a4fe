// What tracking costs, with a real run's sizes (the digit CNN's 1.2 M parameters and Adam's
// state, from one epoch of training on the CPU):
//   snapshot/append_epoch/<k>/manual_time   snapshot_writer::append_epoch + wait() of epoch k into a
//                                           snapshot holding k-1 (k = 1, 10, 100), --keep-weights all:
//                                           epoch k's sidecar is written once, then the snapshot (the
//                                           record, k rows of metrics and digests, epoch k's weights and
//                                           the state) is rewritten, each fsynced and renamed; the
//                                           older epochs' sidecars are not touched, so the cost should
//                                           stay flat in k. Counter bytes/s: the epoch's parameters and
//                                           state. Three iterations each: the set-up writes k-1 sidecars.
//   snapshot/show/50_epochs/manual_time     what `trackbench show --json` does on a 50-epoch snapshot
//   snapshot/compare/50_epochs/manual_time  what `trackbench compare` computes for two of them
//   snapshot/read_records/<n>/manual_time   read_snapshot_records over n copies (n = 10, 100, 1000) of a
//                                           default snapshot of the real run (3 epochs, --keep-weights last:
//                                           14 MB, the weights and Adam's state inside): what ls, compare,
//                                           report and history read. Counter seconds/file.
//   snapshot/ls/<n>/manual_time             the whole `trackbench ls` command over the same folder, start-up
//                                           included (found beside this suite in the build or the install;
//                                           skipped when it is not there), its records from the folder's
//                                           catalog (filled by an untimed ls first). Counter seconds/file.
//   snapshot/ls_new_index/<n>/manual_time   the same with the catalog deleted before each ls: reading every
//                                           file and cataloguing the records
//   snapshot/ls_no_index/<n>/manual_time    `trackbench ls --no-index`: every file read, no catalog
//   snapshot/history/<n>/manual_time        the whole `trackbench history` command over n bench snapshots
//                                           (n = 10, 100, 500) of one machine, each two benchmarks of ten
//                                           repetitions (as tests/support/sample_records.h makes them) with
//                                           a seeded 1% noise, in start-time order, from the catalog.
//                                           Counter seconds/file.
//   snapshot/history_no_index/<n>/manual_time  the same with --no-index
//   hash/sha256/train_images/manual_time    trainer::sha256_hex, the SHA-256 data files are checked
//                                           with, over the embedded sample's 8,000 training images
//   hash/data_content_sha256/mnist-sample/manual_time
//                                           the data digest a snapshot records (images and labels)
// Counter for hashing: MB/s (10^6 bytes). Time: the wall clock per iteration (the writer writes
// from a background thread). Snapshots go to a temporary folder, removed at exit.
// On the 2-core CI machine (AMD EPYC, shared with other builds) the suite took 40 s at default
// settings, set-up included (one training epoch on 640 images, two 50-epoch snapshots of 215 MB).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>

#include "bench_support.h"
#include "support/sample_records.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/analysis/compare.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_index.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/tracking/format/snapshot_writer.h"
#include "trackbench/tracking/format/weights_policy.h"
#include "trackbench/tracking/recording/recorder.h"
#include "trackbench/trainer/checksum.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/train.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using bench::time_each_iteration;

const trainer::dataset& sample() {
  static const trainer::dataset data = trainer::load_dataset("mnist-sample", std::nullopt);
  return data;
}

// One epoch of a real run, as the recorder hands it to the writer.
struct recorded_epoch {
  run_record record;
  trainer::epoch_metrics metrics;
  std::vector<array_record> parameters;
  saved_state state;
  std::int64_t bytes = 0;  // parameters and state: what one epoch adds to a snapshot
};

const recorded_epoch& real_epoch() {
  static const recorded_epoch value = [] {
    auto data = sample();  // cut to 640 training and 100 test images, to train in a second
    data.train.images = data.train.images.slice(0, 0, 640);
    data.train.labels = data.train.labels.slice(0, 0, 640);
    data.test.images = data.test.images.slice(0, 0, 100);
    data.test.labels = data.test.labels.slice(0, 0, 100);
    trainer::train_config config;
    config.device = trainer::device_kind::cpu;
    config.epochs = 50;
    trainer::trainer run(config, data);
    recorded_epoch epoch;
    epoch.metrics = run.train_epoch(1);
    epoch.record =
        describe_run(run, data, run_origin{}, "trackbench train --epochs 50", nlohmann::ordered_json::object(),
                     weights_policy{weights_policy::kind::all});
    const auto state = run.capture_state(1);
    epoch.parameters = to_records(state.parameters);
    epoch.state = to_saved_state(state, run.shuffle_seed(2));
    for (const auto& p : epoch.parameters) epoch.bytes += static_cast<std::int64_t>(p.bytes.size());
    for (const auto& o : epoch.state.optimizer) epoch.bytes += static_cast<std::int64_t>(o.bytes.size());
    epoch.bytes += static_cast<std::int64_t>(epoch.state.cpu_generator.bytes.size());
    return epoch;
  }();
  return value;
}

// The real run's state, as if saved after `epochs_done` epochs (the reader checks the two agree).
saved_state state_after(std::int64_t epochs_done) {
  auto state = real_epoch().state;
  state.epochs_done = epochs_done;
  return state;
}

// Epochs 1..count of the real run, as one append_epochs call (one write) takes them.
void append_copies(snapshot_writer& writer, std::int64_t count) {
  const auto& epoch = real_epoch();
  std::vector<trainer::epoch_metrics> metrics(static_cast<std::size_t>(count), epoch.metrics);
  for (std::size_t i = 0; i < metrics.size(); ++i) metrics[i].epoch = static_cast<int>(i) + 1;
  writer.append_epochs(metrics, std::vector<inherited_epoch>(metrics.size(), inherited_epoch{{}, epoch.parameters}),
                       state_after(count));
}

void append_epoch(benchmark::State& state) {
  const auto& epoch = real_epoch();
  const std::int64_t before = state.range(0) - 1;
  const testing::temp_dir dir;
  auto metrics = epoch.metrics;
  metrics.epoch = static_cast<int>(state.range(0));
  const auto after = state_after(state.range(0));
  for (auto _ : state) {
    // Untimed: a fresh snapshot holding the epochs before, so every iteration writes epoch k.
    const auto path = dir / "run.h5";
    {
      snapshot_writer writer(path, epoch.record);
      if (before > 0) append_copies(writer, before);
      writer.wait();
      const auto start = std::chrono::steady_clock::now();
      writer.append_epoch(metrics, epoch.parameters, after);
      writer.wait();
      state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    fs::remove(path);
    fs::remove_all(path.string() + ".epochs");
  }
  state.counters["bytes/s"] =
      benchmark::Counter(static_cast<double>(epoch.bytes), benchmark::Counter::kIsIterationInvariantRate);
}

// Two 50-epoch snapshots of the real run, written once by the writer as a run writes them
// (in one write each, to keep the setup short), the second with its own run id and seed.
class fifty_epoch_snapshots {
 public:
  fifty_epoch_snapshots() {
    auto record = real_epoch().record;
    for (auto* path : {&a_, &b_}) {
      *path = dir_ / (record.identity["run_id"].get<std::string>() + ".h5");
      snapshot_writer writer(*path, record);
      append_copies(writer, 50);
      writer.finish("completed", "");
      record.identity["run_id"] = make_run_id();
      record.config["seed"] = 2;
    }
  }
  const fs::path& a() const { return a_; }
  const fs::path& b() const { return b_; }

 private:
  testing::temp_dir dir_;
  fs::path a_, b_;
};

const fifty_epoch_snapshots& fifty_epochs() {
  static const fifty_epoch_snapshots snapshots;
  return snapshots;
}

// The library calls `show --json` makes: open, validate, read the record, turn it into JSON.
// (The text form is formatted in the CLI, cli/show_command.cpp, and left out.)
void show(benchmark::State& state) {
  const auto& path = fifty_epochs().a();
  time_each_iteration(state, [&] {
    const snapshot_reader reader(path);
    const auto document = to_json(reader.record());
    benchmark::DoNotOptimize(document.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  });
}

// The library calls `compare A B --fail-on test_acc:-0.5` makes: both snapshots opened and
// validated, the fields that differ, every summary metric of each run and the rule. (Printing
// the table is the CLI's, cli/compare_command.cpp, and left out.)
void compare(benchmark::State& state) {
  const auto& snapshots = fifty_epochs();
  const std::vector<gate_rule> rules{parse_rule("test_acc:-0.5")};
  time_each_iteration(state, [&] {
    const snapshot_reader a(snapshots.a()), b(snapshots.b());
    const std::vector<const run_record*> runs{&a.record(), &b.record()};
    benchmark::DoNotOptimize(differing_fields(runs));
    for (const auto& metric : summary_metric_names()) {
      for (const auto* run : runs) benchmark::DoNotOptimize(summary_metric(*run, metric));
    }
    benchmark::DoNotOptimize(check_rules(runs, rules));
  });
}

std::string two_digits(std::int64_t value) { return (value < 10 ? "0" : "") + std::to_string(value); }

// Folders of 10, 100 and 1000 copies of one default-size snapshot (copies, not links: each
// file's metadata is its own in the page cache), and of bench snapshots, made once and kept for
// the suite.
class snapshot_folders {
 public:
  fs::path bench_folder(std::int64_t count) {
    const fs::path path = dir_ / ("bench-" + std::to_string(count));
    if (fs::exists(path)) return path;
    fs::create_directory(path);
    std::mt19937_64 random(20261207);
    std::normal_distribution<double> noise(1.0, 0.01);
    for (std::int64_t i = 0; i < count; ++i) {
      std::vector<double> times(10);
      for (auto& time : times) time = 1e-3 * noise(random);
      auto record = testing::sample_bench_record(times);
      const std::string stamp = "2026-11-" + std::to_string(10 + i / 3600) + "T" + two_digits(i / 60 % 60) + ":" +
                                two_digits(i % 60) + ":00.000Z";
      record.identity["start_time"] = stamp;
      record.identity["end_time"] = stamp;
      record.identity["bench_id"] = "20261110T" + std::to_string(100000 + i) + ".000Z-0badf00d";
      write_bench_snapshot(path / ("bench-" + std::to_string(10000 + i) + ".h5"), record);
    }
    return path;
  }

  fs::path folder(std::int64_t count) {
    const fs::path path = dir_ / std::to_string(count);
    if (fs::exists(path)) return path;
    const fs::path original = dir_ / "original.h5";
    if (!fs::exists(original)) {
      auto record = real_epoch().record;
      record.config["keep_weights"] = "last";
      snapshot_writer writer(original, record);
      append_copies(writer, 3);
      writer.finish("completed", "");
    }
    fs::create_directory(path);
    for (std::int64_t i = 0; i < count; ++i) fs::copy_file(original, path / ("run-" + std::to_string(10000 + i) + ".h5"));
    return path;
  }

 private:
  testing::temp_dir dir_;
};

snapshot_folders& folders() {
  static snapshot_folders value;
  return value;
}

std::vector<fs::path> snapshots_in(const fs::path& folder) {
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(folder)) paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  return paths;
}

void set_seconds_per_file(benchmark::State& state) {
  // Rate of files, inverted: the manual time per file.
  state.counters["seconds/file"] = benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void read_records(benchmark::State& state) {
  const auto paths = snapshots_in(folders().folder(state.range(0)));
  time_each_iteration(state, [&] {
    for (const auto& record : read_snapshot_records(paths)) {
      if (!record.run) throw std::runtime_error(record.path + " did not read: " + record.error);
    }
  });
  set_seconds_per_file(state);
}

// The trackbench executable of this build or install: cli/trackbench beside bench/ in a build
// tree, bin/trackbench above libexec/trackbench/ in an install.
std::optional<fs::path> trackbench_executable() {
  const auto self = fs::read_symlink("/proc/self/exe").parent_path();
  for (const auto& candidate : {self.parent_path() / "cli" / "trackbench", self.parent_path().parent_path() / "bin" / "trackbench"}) {
    if (fs::is_regular_file(candidate)) return candidate;
  }
  return std::nullopt;
}

// `trackbench -q ARGUMENTS > /dev/null` of this build, or nothing when it has no trackbench.
std::optional<std::string> command_line(const std::string& arguments) {
  const auto executable = trackbench_executable();
  if (!executable) return std::nullopt;
  return "'" + executable->string() + "' -q " + arguments + " > /dev/null";
}

void run(const std::string& command) {
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

// Times `trackbench ARGUMENTS`, which must succeed; `untimed` runs before each call.
void time_command(benchmark::State& state, const std::string& arguments, const std::function<void()>& untimed = [] {}) {
  const auto command = command_line(arguments);
  if (!command) {
    state.SkipWithError("no trackbench executable beside this suite");
    return;
  }
  time_each_iteration(state, [&] { run(*command); }, untimed);
  set_seconds_per_file(state);
}

// Where a reading command gets its records: the folder's catalog (filled by an untimed first
// call), a catalog deleted before each call (so each call reads every file and catalogues it),
// or the files alone (--no-index).
enum class catalog { warm, new_each_time, none };

void time_reading_command(benchmark::State& state, const std::string& command, const fs::path& folder, catalog how) {
  const auto index = folder / snapshot_index_name;
  fs::remove(index);
  const auto arguments = command + " '" + folder.string() + "'" + (how == catalog::none ? " --no-index" : "");
  time_command(state, arguments, [&] {
    if (how == catalog::new_each_time) fs::remove(index);
    if (how == catalog::warm && !fs::exists(index)) run(command_line(arguments).value());
  });
}

void ls_command(benchmark::State& state, catalog how) {
  time_reading_command(state, "ls", folders().folder(state.range(0)), how);
}

void history_command(benchmark::State& state, catalog how) {
  time_reading_command(state, "history", folders().bench_folder(state.range(0)), how);
}

void set_megabytes_per_second(benchmark::State& state, std::int64_t bytes) {
  state.counters["MB/s"] =
      benchmark::Counter(static_cast<double>(bytes) / 1e6, benchmark::Counter::kIsIterationInvariantRate);
}

void hash_train_images(benchmark::State& state) {
  const auto& images = sample().train.images;
  const auto bytes = images.numel();
  time_each_iteration(state, [&] {
    benchmark::DoNotOptimize(trainer::sha256_hex(images.data_ptr(), static_cast<std::size_t>(bytes)));
  });
  set_megabytes_per_second(state, bytes);
}

void hash_data_content(benchmark::State& state) {
  const auto& data = sample();
  time_each_iteration(state, [&] { benchmark::DoNotOptimize(data_content_sha256(data)); });
  // Images as stored, labels as one byte each.
  set_megabytes_per_second(state,
                           data.train.images.numel() + data.train.size() + data.test.images.numel() + data.test.size());
}

const bool registered = [] {
  benchmark::RegisterBenchmark("snapshot/append_epoch", append_epoch)
      ->Arg(1)
      ->Arg(10)
      ->Arg(100)
      ->Iterations(3)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("snapshot/show/50_epochs", show)->UseManualTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("snapshot/compare/50_epochs", compare)->UseManualTime()->Unit(benchmark::kMillisecond);
  for (auto* read : {benchmark::RegisterBenchmark("snapshot/read_records", read_records),
                     benchmark::RegisterBenchmark("snapshot/ls", ls_command, catalog::warm),
                     benchmark::RegisterBenchmark("snapshot/ls_new_index", ls_command, catalog::new_each_time),
                     benchmark::RegisterBenchmark("snapshot/ls_no_index", ls_command, catalog::none)}) {
    read->Arg(10)->Arg(100)->Arg(1000)->UseManualTime()->Unit(benchmark::kMillisecond);
  }
  for (auto* history : {benchmark::RegisterBenchmark("snapshot/history", history_command, catalog::warm),
                        benchmark::RegisterBenchmark("snapshot/history_no_index", history_command, catalog::none)}) {
    history->Arg(10)->Arg(100)->Arg(500)->UseManualTime()->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("hash/sha256/train_images", hash_train_images)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("hash/data_content_sha256/mnist-sample", hash_data_content)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
}  // namespace trackbench::tracking
