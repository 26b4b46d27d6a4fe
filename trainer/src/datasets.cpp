#include "trackbench/trainer/datasets.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "embedded_sample.h"
#include "trackbench/trainer/checksum.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/idx.h"
#include "trackbench/trainer/random.h"

namespace trackbench::trainer {
namespace {

// One IDX file's bytes, wherever they came from, and its name for messages.
struct raw_file {
  std::string name;
  std::string origin;  // path or "embedded:<name>", used in error messages
  std::vector<std::uint8_t> bytes;
};

std::vector<published_file> embedded_sample_checksums() {
  std::vector<published_file> files;
  for (const auto& file : embedded_sample_files()) {
    const auto size = static_cast<std::size_t>(file.end - file.begin);
    files.push_back({file.name, sha256_hex(file.begin, size), size});
  }
  return files;
}

std::array<raw_file, 4> read_embedded() {
  std::array<raw_file, 4> files;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& file = embedded_sample_files()[i];
    files[i] = {file.name, std::string("embedded:mnist-sample/") + file.name,
                std::vector<std::uint8_t>(file.begin, file.end)};
  }
  return files;
}

std::array<raw_file, 4> read_directory(const std::filesystem::path& dir, const std::string& dataset_name) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw input_error("data set '" + dataset_name + "': " + dir.string() + " is not a directory");
  }
  std::array<raw_file, 4> files;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string base = idx_file_names[i];
    // The published .gz wins over a raw copy: its checksum is the one that is known.
    std::filesystem::path path = dir / (base + ".gz");
    if (!std::filesystem::exists(path, ec)) path = dir / base;
    if (!std::filesystem::exists(path, ec)) {
      throw input_error("data set '" + dataset_name + "': " + dir.string() + " has no " + base + " or " + base +
                        ".gz (a data directory holds the four standard IDX files)");
    }
    files[i] = {path.filename().string(), path.string(), read_file_bytes(path)};
  }
  return files;
}

void require_digit_images(const idx_images& images, const std::string& origin) {
  if (images.rows != image_side || images.cols != image_side) {
    throw input_error(origin + ": images are " + std::to_string(images.rows) + "x" + std::to_string(images.cols) +
                      ", expected " + std::to_string(image_side) + "x" + std::to_string(image_side) +
                      " (the digit CNN's input size)");
  }
}

data_split decode_split(const raw_file& images_file, const raw_file& labels_file) {
  const idx_images images =
      parse_idx_images(decompress_if_gzip(images_file.bytes, images_file.origin), images_file.origin);
  require_digit_images(images, images_file.origin);
  const idx_labels labels =
      parse_idx_labels(decompress_if_gzip(labels_file.bytes, labels_file.origin), labels_file.origin);
  const auto label_count = static_cast<std::int64_t>(labels.labels.size());
  if (label_count != images.count) {
    throw input_error(images_file.origin + " has " + std::to_string(images.count) + " images but " +
                      labels_file.origin + " has " + std::to_string(label_count) +
                      " labels; the counts must be equal");
  }
  data_split split;
  split.images = torch::from_blob(const_cast<std::uint8_t*>(images.pixels.data()),
                                  {images.count, 1, image_side, image_side}, torch::kUInt8)
                     .clone();
  split.labels = torch::from_blob(const_cast<std::uint8_t*>(labels.labels.data()), {label_count}, torch::kUInt8)
                     .to(torch::kInt64);
  return split;
}

std::filesystem::path env_path(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::filesystem::path(value) : std::filesystem::path();
}

}  // namespace

std::filesystem::path default_data_home() {
  if (auto home = env_path("TRACKBENCH_DATA_HOME"); !home.empty()) return home;
  if (auto xdg = env_path("XDG_DATA_HOME"); !xdg.empty()) return xdg / "trackbench" / "datasets";
  if (auto home = env_path("HOME"); !home.empty()) return home / ".local" / "share" / "trackbench" / "datasets";
  return std::filesystem::current_path() / "datasets";
}

std::filesystem::path dataset_directory(const dataset_info& info) {
  return info.system_dir.empty() ? default_data_home() / info.name : info.system_dir;
}

const std::vector<dataset_info>& known_datasets() {
  static const std::vector<dataset_info> datasets = {
      {"mnist-sample", "8,000 real MNIST digits (7,000 train, 1,000 test) built into trackbench", true,
       {}, {}, embedded_sample_checksums()},
      {"mnist", "MNIST, 60,000 train and 10,000 test digits (LeCun, Cortes, Burges)", false,
       {},
       // The mirrors torchvision uses, in its order.
       {"https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"},
       {{"train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422},
        {"train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881},
        {"t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877},
        {"t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542}}},
      {"fashion-mnist", "Fashion-MNIST (Zalando), from Debian's dataset-fashion-mnist package", false,
       "/usr/share/datasets/fashion-mnist", {}, {}},
  };
  return datasets;
}

const dataset_info& find_dataset(const std::string& name) {
  std::string names;
  for (const auto& info : known_datasets()) {
    if (info.name == name) return info;
    names += (names.empty() ? "" : ", ") + info.name;
  }
  throw input_error("unknown data set '" + name + "'; expected one of " + names +
                    " (or any directory of IDX files with --data-dir)");
}

dataset load_dataset(const std::string& name, const std::optional<std::filesystem::path>& data_dir) {
  std::array<raw_file, 4> files;
  dataset data;
  data.name = name;
  if (data_dir) {
    files = read_directory(*data_dir, name);
    data.source = data_dir->string();
  } else {
    const dataset_info& info = find_dataset(name);
    if (info.embedded) {
      files = read_embedded();
      data.source = "embedded";
    } else {
      const std::filesystem::path dir = dataset_directory(info);
      std::error_code ec;
      if (!std::filesystem::is_directory(dir, ec)) {
        throw input_error("data set '" + name + "' is not at " + dir.string() + "; " +
                          (info.mirrors.empty() ? "install it or pass --data-dir DIR"
                                                : "run `trackbench data fetch " + name + "` or pass --data-dir DIR"));
      }
      files = read_directory(dir, name);
      data.source = dir.string();
    }
  }
  for (const auto& file : files) data.files.push_back({file.name, sha256_hex(file.bytes.data(), file.bytes.size()), file.bytes.size()});
  data.train = decode_split(files[0], files[1]);
  data.test = decode_split(files[2], files[3]);
  return data;
}

train_validation_split split_train_validation(std::int64_t count, double validation_fraction, std::uint64_t seed) {
  if (!(validation_fraction >= 0.0 && validation_fraction < 1.0)) {
    throw input_error("--validation-fraction is " + std::to_string(validation_fraction) + ", expected 0 <= f < 1");
  }
  const auto validation_count = static_cast<std::int64_t>(std::llround(validation_fraction * static_cast<double>(count)));
  if (validation_count >= count) {
    throw input_error("--validation-fraction " + std::to_string(validation_fraction) + " leaves no training images out of " +
                      std::to_string(count));
  }
  std::vector<std::int64_t> order = seeded_permutation(count, seed);
  std::sort(order.begin(), order.begin() + validation_count);
  std::sort(order.begin() + validation_count, order.end());
  auto all = torch::tensor(order, torch::kInt64);
  return {all.slice(0, validation_count, count).clone(), all.slice(0, 0, validation_count).clone()};
}

}  // namespace trackbench::trainer
