// show: one snapshot in full; ls: the snapshots in a folder, one line each.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "bench_output.h"
#include "commands.h"
#include "console.h"
#include "trackbench/tracking/analysis/compare.h"
#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/tracking/format/weights_policy.h"
#include "trackbench/tracking/recording/target.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::string format_value(const json& value) {
  if (value.is_string()) return printable(value.get<std::string>());
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_array()) {
    std::string joined;
    for (const auto& item : value) joined += (joined.empty() ? "" : " ") + format_value(item);
    return joined;
  }
  if (value.is_number_float() && std::isnan(value.get<double>())) return "none";
  if (value.is_object()) {
    std::string joined;
    for (const auto& [key, item] : value.items()) joined += (joined.empty() ? "" : ", ") + key + " " + format_value(item);
    return joined;
  }
  return value.dump();
}

void print_section(const std::string& title, const json& section) {
  fmt::print("{}\n", title);
  for (const auto& [key, value] : section.items()) {
    if (value.is_array() && !value.empty() && value.front().is_object()) {
      for (const auto& item : value) fmt::print("  {:<24} {}\n", key, format_value(item));
      continue;
    }
    fmt::print("  {:<24} {}\n", key, format_value(value));
  }
}

void show_bench(const tracking::bench_record& record, bool as_json) {
  if (as_json) {
    fmt::print("{}\n", tracking::to_json(record).dump(2, ' ', false, json::error_handler_t::replace));
    return;
  }
  print_section("bench", record.identity);
  print_section("environment", record.environment);
  print_section("code", record.code);
  print_section("data", record.data);
  fmt::print("checksums\n  {}\n",
             tracking::checksummed(record)
                 ? "checked: HDF5 metadata checksums, record_sha256 over the record"
                 : "none: bench schema version " + record.identity["schema_version"].dump() +
                       " predates them (version 2), so a corrupted value in this file can go unnoticed");
  fmt::print("benchmarks (time per iteration, real or manual)\n");
  print_bench_table(record);
}

// "a, b-c, d": epochs as ranges.
std::string epoch_ranges(const std::vector<int>& epochs) {
  std::string text;
  for (std::size_t i = 0; i < epochs.size();) {
    std::size_t j = i;
    while (j + 1 < epochs.size() && epochs[j + 1] == epochs[j] + 1) ++j;
    text += (text.empty() ? "" : ", ") + std::to_string(epochs[i]) + (j > i ? "-" + std::to_string(epochs[j]) : "");
    i = j + 1;
  }
  return text;
}

std::string weights_summary(const std::string& path, const tracking::snapshot_reader& reader, const std::vector<int>& missing) {
  const auto& record = reader.record();
  const auto policy = tracking::to_string(tracking::weights_policy_of(record));
  if (!tracking::keeps_weights(record)) {
    return "not kept (--keep-weights none): the record alone; it cannot be resumed, and reproduce compares the "
           "parameter digests (schema v4) and metrics";
  }
  const auto kept = reader.weight_epochs();
  std::string text = "kept (--keep-weights " + policy + ") for " + (kept.empty() ? "no epoch" : "epochs " + epoch_ranges(kept)) +
                     ", with the state to resume from";
  if (reader.has_sidecars()) text += "; the other epochs in " + path + ".epochs/";
  if (!missing.empty()) text += "\n  ABSENT: the sidecar files of epochs " + epoch_ranges(missing) + " are missing";
  return text;
}

// One line per split: its size, its ink and its class counts (show --json has every bin).
void print_profiles(const tracking::run_record& record) {
  fmt::print("data profiles\n");
  if (record.profiles.empty()) {
    fmt::print("  none: schema version {} predates them (version 5)\n", record.identity["schema_version"].dump());
    return;
  }
  for (const auto& profile : record.profiles) {
    fmt::print("  {:<11} {:>7} images, ink {:.1f} +- {:.1f}, classes {}\n", profile.split, profile.images,
               profile.ink_mean, profile.ink_stddev, fmt::join(profile.class_counts, " "));
  }
}

void show(const std::string& path, bool as_json) {
  const auto loaded = tracking::load_snapshot(path);
  if (loaded.bench) {
    show_bench(*loaded.bench, as_json);
    return;
  }
  const auto& reader = *loaded.run;
  const auto& record = reader.record();
  const auto missing = reader.missing_sidecars();
  if (as_json) {
    auto document = tracking::to_json(record);
    document["weight_epochs"] = reader.weight_epochs();
    document["missing_weight_epochs"] = missing;
    document["displayed_status"] = tracking::displayed_status(record);
    document["checksummed"] = tracking::checksummed(record);
    fmt::print("{}\n", document.dump(2, ' ', false, json::error_handler_t::replace));
    return;
  }
  json identity = record.identity;
  if (identity["status"] == "running") identity["status"] = "interrupted (the writer never finished: killed or crashed)";
  print_section("run", identity);
  const auto target = tracking::describe_target(record);
  if (!target.empty()) fmt::print("target\n  {}\n", target);
  if (!record.tags.empty()) print_section("tags", record.tags);
  print_section("config", record.config);
  print_section("environment", record.environment);
  print_section("code", record.code);
  print_section("data", record.data);
  print_profiles(record);
  fmt::print("weights\n  {}\n", weights_summary(path, reader, missing));
  fmt::print("checksums\n  {}\n",
             tracking::checksummed(record)
                 ? "checked: HDF5 metadata checksums, record_sha256 over the record, a SHA-256 per array"
                 : "none: schema version " + record.identity["schema_version"].dump() +
                       " predates them (version 3), so a corrupted value in this file can go unnoticed");
  fmt::print("epochs\n");
  if (record.epochs.empty()) {
    fmt::print("  none completed\n");
    return;
  }
  console_observer table(false);
  for (const auto& epoch : record.epochs) table.on_epoch(epoch);
}

std::string bench_list_line(const tracking::bench_record& record) {
  std::size_t samples = 0;
  for (const auto& result : record.benchmarks) samples += result.samples.size();
  return fmt::format("{:<5} {:<32} {:<11} {:<14} {:>7} {:>8} {:>8} {:>10}  {}", "bench",
                     printable(record.identity["bench_id"].get<std::string>()), "completed",
                     printable(record.data["name"].get<std::string>()), "-", "-", "-", "-",
                     printable(record.identity["start_time"].get<std::string>()) +
                         fmt::format("  ({}, {})",
                                     tracking::count_of(static_cast<std::int64_t>(record.benchmarks.size()), "benchmark"),
                                     tracking::count_of(static_cast<std::int64_t>(samples), "sample")));
}

std::string list_line(const tracking::snapshot_record& snapshot) {
  if (snapshot.bench) return bench_list_line(*snapshot.bench);
  const auto& record = *snapshot.run;
  const std::string accuracy = record.epochs.empty() ? "-" : percent(record.epochs.back().test.accuracy);
  double seconds = 0.0;
  for (const auto& epoch : record.epochs) seconds += epoch.epoch_seconds;
  // Time to the run's --target: "-" without one, "missed" when it was not reached.
  std::string to_target = "-";
  if (!record.config.value("target", std::string()).empty()) {
    const auto reached = tracking::summary_metric(record, "time_to_target_seconds");
    to_target = reached ? format_duration(*reached) : "missed";
  }
  return fmt::format("{:<5} {:<32} {:<11} {:<14} {:>3}/{:<3} {:>8} {:>8} {:>10}  {}", "run",
                     printable(record.identity["run_id"].get<std::string>()),
                     tracking::displayed_status(record), printable(record.data["name"].get<std::string>()),
                     record.epochs.size(), record.config["epochs"].get<std::int64_t>(), accuracy,
                     format_duration(seconds), to_target, printable(record.identity["start_time"].get<std::string>()));
}

int list(const std::string& folder, bool no_index) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) throw input_error("ls: " + folder + " is not a folder");
  const auto files = tracking::snapshot_files_in(folder);
  fmt::print("{:<5} {:<32} {:<11} {:<14} {:>7} {:>8} {:>8} {:>10}  {}\n", "kind", "id", "status", "data set", "epochs", "test_acc",
             "time", "to target", "started (UTC)");
  int unreadable = 0;
  for (const auto& snapshot : read_records(files, no_index)) {
    if (snapshot.error.empty()) {
      fmt::print("{}\n", list_line(snapshot));
      continue;
    }
    // Listed in its place, so the table shows which file it is; the reason goes to stderr.
    fmt::print("{:<5} {:<32} {:<11}\n", "?", printable(fs::path(snapshot.path).filename().string()), "UNREADABLE");
    spdlog::error("{}", printable(snapshot.error));
    ++unreadable;
  }
  if (files.empty()) spdlog::info("no snapshots (*.h5) in {}", folder);
  return unreadable > 0 ? 2 : 0;
}

}  // namespace

command add_show_command(CLI::App& app) {
  auto* sub = app.add_subcommand("show", "Show a snapshot: a run's identity, config, environment, code, data and epochs, "
                                         "or a bench snapshot's sections and per-benchmark table");
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  sub->add_option("snapshot", *path, "Run or bench snapshot (.h5)")->required();
  sub->add_flag("--json", *as_json, "Print the whole record as JSON (default: off)");
  return {sub, [path, as_json] {
            show(*path, *as_json);
            return 0;
          }};
}

command add_ls_command(CLI::App& app) {
  auto* sub = app.add_subcommand("ls", "List the run and bench snapshots in a folder, one line each");
  auto folder = std::make_shared<std::string>("runs");
  auto no_index = std::make_shared<bool>(false);
  sub->add_option("folder", *folder, "Folder of snapshots")->capture_default_str();
  add_no_index_flag(*sub, *no_index);
  return {sub, [folder, no_index] { return list(*folder, *no_index); }};
}

}  // namespace trackbench::cli
