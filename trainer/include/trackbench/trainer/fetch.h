#pragma once
// Verified downloads of a data set's files: each from the first mirror that
// serves bytes matching the published SHA-256, written atomically.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace trackbench::trainer {

struct fetch_options {
  std::string dataset;                // a known data set with published checksums
  std::filesystem::path destination;  // empty: dataset_directory() of the data set
  std::vector<std::string> mirrors;   // base URLs; empty: the data set's own mirror list
  long connect_timeout_seconds = 15;
  long transfer_timeout_seconds = 600;
};

struct fetch_report {
  std::filesystem::path directory;
  std::vector<std::string> downloaded;     // file names fetched now
  std::vector<std::string> already_valid;  // present with the right checksum, left alone
};

// Throws input_error when a file cannot be had from any mirror, naming each mirror's failure.
// A file that fails verification never appears under its final name.
fetch_report fetch_dataset(const fetch_options& options,
                           const std::function<void(const std::string&)>& log = nullptr);

}  // namespace trackbench::trainer
