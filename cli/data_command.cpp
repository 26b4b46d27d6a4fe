#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/fetch.h"

namespace trackbench::cli {
namespace {

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const auto& info : trainer::known_datasets()) names.push_back(info.name);
  return names;
}

std::string class_histogram(const torch::Tensor& labels) {
  const auto counts = torch::bincount(labels, {}, trainer::class_count);
  std::string text;
  for (int k = 0; k < trainer::class_count; ++k) text += (k ? "/" : "") + std::to_string(counts[k].item<std::int64_t>());
  return text;
}

// `name` empty: a directory of IDX files that is no known data set, with no checksums to compare.
int verify(const std::string& name, const std::string& data_dir) {
  const auto data = trainer::load_dataset(name.empty() ? "custom" : name,
                                          data_dir.empty() ? std::nullopt : std::optional<std::filesystem::path>(data_dir));
  const trainer::dataset_info* info = name.empty() ? nullptr : &trainer::find_dataset(name);
  fmt::print("data set {}{} from {}\n", data.name, info ? " (" + info->description + ")" : "", data.source);
  const std::vector<trainer::published_file> published_files = info ? info->files : std::vector<trainer::published_file>{};
  std::vector<std::string> mismatches;
  for (const auto& file : data.files) {
    std::string verdict = "no published checksum";
    for (const auto& published : published_files) {
      if (published.name != file.name) continue;
      verdict = published.sha256 == file.sha256 ? "matches the published checksum" : "MISMATCH, expected " + published.sha256;
      if (published.sha256 != file.sha256) mismatches.push_back(file.name);
    }
    fmt::print("  {:<28} {:>10} bytes  sha256 {}  {}\n", file.name, file.bytes, file.sha256, verdict);
  }
  fmt::print("  train: {} images, classes 0..9: {}\n", data.train.size(), class_histogram(data.train.labels));
  fmt::print("  test:  {} images, classes 0..9: {}\n", data.test.size(), class_histogram(data.test.labels));
  if (!mismatches.empty()) {
    throw input_error("data set '" + name + "': " + std::to_string(mismatches.size()) +
                      " file(s) differ from the published checksums");
  }
  fmt::print("valid: every IDX field checked\n");
  return 0;
}

}  // namespace

std::vector<command> add_data_commands(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Fetch and verify data sets");
  data->require_subcommand(1);

  auto* fetch = data->add_subcommand("fetch", "Download a data set's files from its mirrors, checking each SHA-256");
  auto fetch_options = std::make_shared<trainer::fetch_options>();
  auto destination = std::make_shared<std::string>();
  fetch->add_option("dataset", fetch_options->dataset, "Data set to fetch (mnist; mnist-sample with --mirror)")
      ->required()
      ->check(CLI::IsMember(dataset_names()));
  fetch->add_option("--dest", *destination, "Directory to write into (default: the data set's own directory under "
                                            "$TRACKBENCH_DATA_HOME or ~/.local/share/trackbench/datasets)");
  fetch->add_option("--mirror", fetch_options->mirrors, "Base URL to fetch from instead of the built-in mirrors; repeatable");
  fetch->add_option("--timeout", fetch_options->transfer_timeout_seconds, "Seconds allowed per file")->capture_default_str();

  auto* check = data->add_subcommand("verify", "Load and validate a data set, and compare its files with published checksums");
  auto verify_name = std::make_shared<std::string>("mnist-sample");
  auto verify_dir = std::make_shared<std::string>();
  check->add_option("dataset", *verify_name, "Data set to verify; with --data-dir alone, the directory is checked as is")
      ->check(CLI::IsMember(dataset_names()))
      ->capture_default_str();
  check->add_option("--data-dir", *verify_dir, "Directory holding the four IDX files")->check(CLI::ExistingDirectory);

  return {{fetch,
           [fetch_options, destination] {
             fetch_options->destination = *destination;
             const auto report = trainer::fetch_dataset(*fetch_options, [](const std::string& line) { spdlog::info("{}", line); });
             for (const auto& name : report.already_valid) fmt::print("{}: already present and verified\n", name);
             for (const auto& name : report.downloaded) fmt::print("{}: downloaded and verified\n", name);
             fmt::print("{} is ready in {}\n", fetch_options->dataset, report.directory.string());
             return 0;
           }},
          {check, [verify_name, verify_dir, check] {
             const bool named = check->count("dataset") > 0 || verify_dir->empty();
             return verify(named ? *verify_name : std::string(), *verify_dir);
           }}};
}

}  // namespace trackbench::cli
