#pragma once
// The data sets trackbench trains on: where each comes from, how it is loaded
// and validated, and the seeded train/validation split.
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/trainer/data_profile.h"

namespace trackbench::trainer {

// The four files of an MNIST-style data set, without the optional ".gz".
inline constexpr std::array<const char*, 4> idx_file_names = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

inline constexpr std::int64_t image_side = 28;  // the digit CNN's input is 28x28
inline constexpr int class_count = 10;

struct published_file {
  std::string name;  // as published, gzip-compressed
  std::string sha256;
  std::uint64_t bytes = 0;
};

struct dataset_info {
  std::string name;
  std::string description;
  bool embedded = false;                // built into the executable
  std::filesystem::path system_dir;     // fixed install location (a Debian package); empty: under default_data_home()
  std::vector<std::string> mirrors;     // base URLs for `data fetch`, tried in order
  std::vector<published_file> files;    // checksums a download must match
};

// mnist-sample, mnist, fashion-mnist.
const std::vector<dataset_info>& known_datasets();
// Throws input_error listing the known names when `name` is not one.
const dataset_info& find_dataset(const std::string& name);

// $TRACKBENCH_DATA_HOME, else $XDG_DATA_HOME/trackbench/datasets, else ~/.local/share/trackbench/datasets.
std::filesystem::path default_data_home();

// Where a non-embedded data set is looked for without --data-dir, and where `data fetch` puts it.
std::filesystem::path dataset_directory(const dataset_info& info);

struct source_file {
  std::string name;    // file name as found, e.g. train-images-idx3-ubyte.gz
  std::string sha256;  // of the bytes as stored
  std::uint64_t bytes = 0;
};

struct data_split {
  torch::Tensor images;  // uint8 [N, 1, 28, 28]
  torch::Tensor labels;  // int64 [N], 0..9
  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

// The profile of `data` (uint8 images [N, 1, 28, 28], labels 0..9), named `split`, in one pass
// over its bytes (data_profile.cpp). An empty split gives zeros throughout.
data_profile profile_of(const data_split& data, std::string split);

// The images of `data` at `indices` (int64), in their order: a run's training or validation part.
data_split subset(const data_split& data, const torch::Tensor& indices);

struct dataset {
  std::string name;
  std::string source;  // "embedded" or the directory read
  std::vector<source_file> files;
  data_split train;
  data_split test;
};

// Loads a data set by name, from `data_dir` when given (any directory holding the four IDX
// files, raw or .gz), otherwise from where the named data set lives. Throws input_error.
dataset load_dataset(const std::string& name, const std::optional<std::filesystem::path>& data_dir);

struct train_validation_split {
  torch::Tensor train_indices;       // int64, ascending
  torch::Tensor validation_indices;  // int64, ascending; empty when the fraction is 0
};

// Deterministic for a given count, fraction and seed, on every platform.
train_validation_split split_train_validation(std::int64_t count, double validation_fraction, std::uint64_t seed);

}  // namespace trackbench::trainer
