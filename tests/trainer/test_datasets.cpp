#include <gtest/gtest.h>

#include "support/error_message.h"
#include "support/idx_files.h"
#include "support/temp_dir.h"
#include "trackbench/trainer/checksum.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::trainer {
namespace {

using testing::error_message;

std::vector<std::int64_t> class_counts(const torch::Tensor& labels) {
  const auto counts = torch::bincount(labels, {}, class_count);
  return {counts.data_ptr<std::int64_t>(), counts.data_ptr<std::int64_t>() + class_count};
}

TEST(Datasets, EmbeddedSampleHasTheDocumentedDigits) {
  const auto data = load_dataset("mnist-sample", std::nullopt);
  EXPECT_EQ(data.source, "embedded");
  ASSERT_EQ(data.train.size(), 7000);
  ASSERT_EQ(data.test.size(), 1000);
  EXPECT_EQ(data.train.images.sizes(), (std::vector<std::int64_t>{7000, 1, 28, 28}));
  EXPECT_EQ(data.train.images.dtype(), torch::kUInt8);
  EXPECT_EQ(data.train.labels.dtype(), torch::kInt64);
  // Class counts from data/mnist-sample/README.md.
  EXPECT_EQ(class_counts(data.train.labels), (std::vector<std::int64_t>{701, 803, 692, 718, 695, 603, 725, 738, 640, 685}));
  EXPECT_EQ(class_counts(data.test.labels), (std::vector<std::int64_t>{98, 105, 103, 101, 98, 81, 104, 106, 105, 99}));
}

TEST(Datasets, EmbeddedFilesMatchTheShippedChecksums) {
  const auto data = load_dataset("mnist-sample", std::nullopt);
  ASSERT_EQ(data.files.size(), 4u);
  for (const auto& file : data.files) {
    EXPECT_EQ(file.sha256, sha256_file(testing::sample_dir() / file.name)) << file.name;
  }
}

TEST(Datasets, DirectoryOfRawFilesLoadsLikeTheGzipOnes) {
  testing::temp_dir raw_dir;
  testing::copy_sample(raw_dir.path(), /*decompress=*/true);
  const auto raw = load_dataset("custom", raw_dir.path());
  const auto embedded = load_dataset("mnist-sample", std::nullopt);
  EXPECT_EQ(raw.source, raw_dir.path().string());
  EXPECT_EQ(raw.files[0].name, "train-images-idx3-ubyte");
  EXPECT_TRUE(torch::equal(raw.train.images, embedded.train.images));
  EXPECT_TRUE(torch::equal(raw.test.labels, embedded.test.labels));
}

TEST(Datasets, MissingFileNamesTheDirectoryAndFile) {
  testing::temp_dir dir;
  testing::copy_sample(dir.path());
  std::filesystem::remove(dir / "t10k-labels-idx1-ubyte.gz");
  const auto message = error_message<input_error>([&] { load_dataset("custom", dir.path()); });
  EXPECT_NE(message.find(dir.path().string()), std::string::npos) << message;
  EXPECT_NE(message.find("has no t10k-labels-idx1-ubyte"), std::string::npos) << message;
}

TEST(Datasets, ImageLabelCountMismatchIsRejected) {
  testing::temp_dir dir;
  testing::copy_sample(dir.path());
  testing::write_file(dir / "t10k-labels-idx1-ubyte.gz", testing::gzip(testing::make_labels(999)));
  const auto message = error_message<input_error>([&] { load_dataset("custom", dir.path()); });
  EXPECT_NE(message.find("has 1000 images but"), std::string::npos) << message;
  EXPECT_NE(message.find("has 999 labels"), std::string::npos) << message;
}

TEST(Datasets, ImagesOfTheWrongSizeAreRejected) {
  testing::temp_dir dir;
  testing::copy_sample(dir.path());
  testing::write_file(dir / "t10k-images-idx3-ubyte.gz", testing::gzip(testing::make_images(1000, 32)));
  const auto message = error_message<input_error>([&] { load_dataset("custom", dir.path()); });
  EXPECT_NE(message.find("t10k-images-idx3-ubyte.gz: images are 32x32, expected 28x28"), std::string::npos) << message;
}

TEST(Datasets, CorruptFileInDirectoryIsNamed) {
  testing::temp_dir dir;
  testing::copy_sample(dir.path());
  testing::write_file(dir / "train-labels-idx1-ubyte.gz",
                      testing::gzip(testing::make_idx(idx_labels_magic, {7000}, std::vector<std::uint8_t>(7000, 11))));
  const auto message = error_message<input_error>([&] { load_dataset("custom", dir.path()); });
  EXPECT_NE(message.find("train-labels-idx1-ubyte.gz: label 0 is 11"), std::string::npos) << message;
}

TEST(Datasets, UnknownNameListsTheKnownOnes) {
  const auto message = error_message<input_error>([] { load_dataset("cifar", std::nullopt); });
  EXPECT_NE(message.find("unknown data set 'cifar'; expected one of mnist-sample, mnist, fashion-mnist"),
            std::string::npos)
      << message;
}

TEST(Datasets, MnistWithoutFilesSaysHowToGetThem) {
  testing::temp_dir home;
  ::setenv("TRACKBENCH_DATA_HOME", home.path().c_str(), 1);
  const auto message = error_message<input_error>([] { load_dataset("mnist", std::nullopt); });
  ::unsetenv("TRACKBENCH_DATA_HOME");
  EXPECT_NE(message.find("trackbench data fetch mnist"), std::string::npos) << message;
  EXPECT_NE(message.find(home.path().string()), std::string::npos) << message;
}

TEST(Datasets, FashionMnistFromTheDebianPackage) {
  const auto& info = find_dataset("fashion-mnist");
  if (!std::filesystem::exists(info.system_dir / "t10k-labels-idx1-ubyte.gz")) {
    GTEST_SKIP() << "Debian's dataset-fashion-mnist package is not installed at " << info.system_dir;
  }
  const auto data = load_dataset("fashion-mnist", std::nullopt);
  EXPECT_EQ(data.train.size(), 60000);
  EXPECT_EQ(data.test.size(), 10000);
  EXPECT_EQ(class_counts(data.test.labels), std::vector<std::int64_t>(10, 1000));
}

TEST(Split, IsDeterministicDisjointAndComplete) {
  const auto a = split_train_validation(1000, 0.1, 42);
  const auto b = split_train_validation(1000, 0.1, 42);
  EXPECT_TRUE(torch::equal(a.train_indices, b.train_indices));
  EXPECT_TRUE(torch::equal(a.validation_indices, b.validation_indices));
  EXPECT_EQ(a.validation_indices.size(0), 100);
  EXPECT_EQ(a.train_indices.size(0), 900);
  const auto all = std::get<0>(torch::sort(torch::cat({a.train_indices, a.validation_indices})));
  EXPECT_TRUE(torch::equal(all, torch::arange(1000, torch::kInt64)));
}

TEST(Split, DependsOnTheSeed) {
  const auto a = split_train_validation(1000, 0.1, 1);
  const auto b = split_train_validation(1000, 0.1, 2);
  EXPECT_FALSE(torch::equal(a.validation_indices, b.validation_indices));
}

TEST(Split, ZeroFractionKeepsEverythingForTraining) {
  const auto split = split_train_validation(50, 0.0, 7);
  EXPECT_EQ(split.validation_indices.size(0), 0);
  EXPECT_EQ(split.train_indices.size(0), 50);
}

TEST(Split, RejectsFractionsThatLeaveNoTraining) {
  EXPECT_THROW(split_train_validation(10, 1.0, 1), input_error);
  EXPECT_THROW(split_train_validation(10, -0.1, 1), input_error);
  EXPECT_THROW(split_train_validation(1, 0.9, 1), input_error);
}

}  // namespace
}  // namespace trackbench::trainer
