// trackbench evaluate: a recorded digit model on its own test set (exactly its recorded
// metrics), on held-apart digits (no drift, the same accuracy), on Fashion-MNIST (drift on every
// check, the accuracy gone) and on weights that are corrupt, foreign or not kept (refused, exit 2).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>

#include "support/hdf5_edit.h"
#include "support/idx_files.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/recording/evaluation.h"

namespace trackbench {
namespace {

namespace fs = std::filesystem;
using testing::run_trackbench;

constexpr int exit_failure = 1;
constexpr int exit_bad_input = 2;

// The only snapshot in `dir`.
fs::path snapshot_in(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".h5") return entry.path();
  }
  throw std::runtime_error("no snapshot in " + dir.string());
}

// Trains one CPU epoch (or `epochs`) on `data_dir` into `out` and returns the snapshot.
fs::path train(const fs::path& data_dir, const fs::path& out, const std::string& flags, int epochs = 1) {
  const auto result = run_trackbench("train --device cpu --quiet --epochs " + std::to_string(epochs) + " --data-dir '" +
                                     data_dir.string() + "' --out '" + out.string() + "' " + flags);
  if (result.exit_code != 0) throw std::runtime_error("training failed: " + result.output);
  return snapshot_in(out);
}

void flip_byte(const fs::path& path, std::size_t from_end) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(0, std::ios::end);
  const auto at = static_cast<std::streamoff>(file.tellg()) - static_cast<std::streamoff>(from_end);
  file.seekg(at);
  char byte = 0;
  file.get(byte);
  file.seekp(at);
  file.put(static_cast<char>(byte ^ 0x10));
}

// The verdict `evaluate` printed for drift check `name`: "drift", "no drift" or "" when absent.
std::string verdict_of(const std::string& output, const std::string& name) {
  std::smatch match;
  const std::regex line("\\n" + name + " [^\\n]*  (no drift|drift)\\n");
  return std::regex_search(output, match, line) ? match[1].str() : "";
}

// The evaluation's accuracy and the change against the run, in points, as printed.
double accuracy_change(const std::string& output) {
  std::smatch match;
  if (!std::regex_search(output, match, std::regex("\\naccuracy +\\S+% +\\S+% +([-+][0-9.]+)\\n"))) return NAN;
  return std::stod(match[1].str());
}

// One run for every test: real digits, trained on the first 5,000 training digits of the
// embedded sample and tested on its 1,000 test digits; digits 5,000 to 7,000 stay apart.
class EvaluateCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::temp_dir();
    const auto sample = trainer::load_dataset("mnist-sample", std::nullopt);
    fs::create_directories(dir_->path() / "trained-on");
    testing::write_split_slice(dir_->path() / "trained-on", sample.train, 0, 5000, trainer::idx_file_names[0],
                               trainer::idx_file_names[1]);
    testing::write_split_slice(dir_->path() / "trained-on", sample.test, 0, sample.test.size(), trainer::idx_file_names[2],
                               trainer::idx_file_names[3]);
    fs::create_directories(dir_->path() / "held-apart");
    testing::write_split_slice(dir_->path() / "held-apart", sample.train, 0, 10, trainer::idx_file_names[0],
                               trainer::idx_file_names[1]);
    testing::write_split_slice(dir_->path() / "held-apart", sample.train, 5000, 7000, trainer::idx_file_names[2],
                               trainer::idx_file_names[3]);
    run_ = new fs::path(train(dir_->path() / "trained-on", dir_->path() / "runs", "--keep-weights last", 2));
  }
  static void TearDownTestSuite() {
    delete run_;
    delete dir_;
  }
  static fs::path data(const char* name) { return dir_->path() / name; }

  static testing::temp_dir* dir_;
  static fs::path* run_;
};
testing::temp_dir* EvaluateCommand::dir_ = nullptr;
fs::path* EvaluateCommand::run_ = nullptr;

TEST_F(EvaluateCommand, ItsOwnTestSetGivesExactlyItsRecordedTestMetrics) {
  const auto reader = tracking::load_run_snapshot(*run_, "evaluate", tracking::read_depth::arrays);
  const auto own = trainer::load_dataset("custom", data("trained-on"));
  const auto outcome = tracking::evaluate_recorded(reader, run_->string(), own, {});
  const auto& recorded = reader.record().epochs.back().test;
  EXPECT_EQ(outcome.epoch, 2);
  EXPECT_EQ(outcome.result.metrics.loss, recorded.loss);  // bitwise
  EXPECT_EQ(outcome.result.metrics.accuracy, recorded.accuracy);
  EXPECT_EQ(outcome.result.metrics.f1, recorded.f1);
  EXPECT_EQ(outcome.result.metrics.confusion, recorded.confusion);
  EXPECT_EQ(outcome.digests, reader.parameter_digests(2));
  ASSERT_TRUE(outcome.drift.has_value());

  const auto shown = run_trackbench("evaluate '" + run_->string() + "' --data-dir '" + data("trained-on").string() +
                                    "' --fail-on accuracy:-0");
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_EQ(accuracy_change(shown.output), 0.0) << shown.output;
}

TEST_F(EvaluateCommand, HeldApartDigitsShowNoDriftAndTheRunsAccuracy) {
  const auto result = run_trackbench("evaluate '" + run_->string() + "' --data-dir '" + data("held-apart").string() +
                                     "' --fail-on drift --fail-on accuracy:-1.5");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* check : {"ink", "intensity", "predictions", "mean_image"}) {
    EXPECT_EQ(verdict_of(result.output, check), "no drift") << check << "\n" << result.output;
  }
  const double change = accuracy_change(result.output);
  EXPECT_LE(std::fabs(change), 1.5) << result.output;
  std::cout << "held-apart digits: accuracy change " << change << " points\n";
}

TEST_F(EvaluateCommand, FashionMnistDriftsOnEveryCheckAndFailsTheGates) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  }
  const auto result = run_trackbench("evaluate '" + run_->string() + "' --dataset fashion-mnist --fail-on drift");
  EXPECT_EQ(result.exit_code, exit_failure) << result.output;
  for (const char* check : {"ink", "intensity", "predictions", "mean_image"}) {
    EXPECT_EQ(verdict_of(result.output, check), "drift") << check << "\n" << result.output;
  }
  EXPECT_LT(accuracy_change(result.output), -50.0) << result.output;
  EXPECT_NE(result.output.find("FAIL --fail-on drift"), std::string::npos) << result.output;
  const auto gated = run_trackbench("evaluate '" + run_->string() + "' --dataset fashion-mnist --fail-on accuracy:-2");
  EXPECT_EQ(gated.exit_code, exit_failure) << gated.output;
  EXPECT_NE(gated.output.find("points below the run's"), std::string::npos) << gated.output;
}

TEST_F(EvaluateCommand, BadFlagsAreRefusedNamingThem) {
  const std::string run = "evaluate '" + run_->string() + "' ";
  for (const auto& [arguments, expected] : std::vector<std::pair<std::string, std::string>>{
           {run + "--dataset mnist-sample --fail-on accuracy:2", "--fail-on 'accuracy:2'"},
           {run + "--dataset mnist-sample --epoch 9", "--epoch 9"},
           {run, "exactly one of --data-dir DIR and --dataset NAME"}}) {
    const auto result = run_trackbench(arguments);
    EXPECT_EQ(result.exit_code, exit_bad_input) << arguments << "\n" << result.output;
    EXPECT_NE(result.output.find(expected), std::string::npos) << result.output;
  }
}

TEST_F(EvaluateCommand, CorruptForeignAndUnkeptWeightsAreRefused) {
  const auto tiny = dir_->path() / "tiny";
  fs::create_directories(tiny);
  testing::write_sample_subset(tiny, 300, 100);
  const auto first = train(tiny, dir_->path() / "a", "--keep-weights all", 2);
  const auto second = train(tiny, dir_->path() / "b", "--keep-weights all --seed 7", 2);
  const std::string data_flag = " --data-dir '" + tiny.string() + "'";

  // In-file weights with one value off by its lowest bit: the last epoch's, which the snapshot itself holds.
  const auto in_file = dir_->path() / "in-file.h5";
  fs::copy_file(first, in_file);
  testing::with_file(in_file, [](hid_t file) {
    const hid_t set = H5Dopen2(file, "weights/epoch_0002/fc2.bias", H5P_DEFAULT);
    ASSERT_GE(set, 0);
    std::vector<float> values(10);
    ASSERT_GE(H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
    values[3] = std::nextafter(values[3], 1.0f);  // the lowest bit
    ASSERT_GE(H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
    H5Dclose(set);
  });
  const auto corrupt = run_trackbench("evaluate '" + in_file.string() + "'" + data_flag);
  EXPECT_EQ(corrupt.exit_code, exit_bad_input) << corrupt.output;
  EXPECT_NE(corrupt.output.find(in_file.string()), std::string::npos) << corrupt.output;

  // A sidecar with a flipped byte, then another run's sidecar in its place.
  const auto sidecar = tracking::sidecar_path(first, 1);
  const auto saved = dir_->path() / "saved-sidecar.h5";
  fs::copy_file(sidecar, saved);
  flip_byte(sidecar, 100);
  const auto flipped = run_trackbench("evaluate '" + first.string() + "' --epoch 1" + data_flag);
  EXPECT_EQ(flipped.exit_code, exit_bad_input) << flipped.output;
  EXPECT_NE(flipped.output.find("epoch_0001.h5"), std::string::npos) << flipped.output;
  fs::copy_file(tracking::sidecar_path(second, 1), sidecar, fs::copy_options::overwrite_existing);
  const auto foreign_weights = run_trackbench("evaluate '" + first.string() + "' --epoch 1" + data_flag);
  EXPECT_EQ(foreign_weights.exit_code, exit_bad_input) << foreign_weights.output;
  EXPECT_NE(foreign_weights.output.find("epoch_0001.h5"), std::string::npos) << foreign_weights.output;
  fs::copy_file(saved, sidecar, fs::copy_options::overwrite_existing);
  EXPECT_EQ(run_trackbench("evaluate '" + first.string() + "' --epoch 1" + data_flag).exit_code, 0);

  // Not a trackbench run at all.
  const auto foreign = dir_->path() / "notes.h5";
  std::ofstream(foreign) << "not a snapshot\n";
  const auto not_run = run_trackbench("evaluate '" + foreign.string() + "'" + data_flag);
  EXPECT_EQ(not_run.exit_code, exit_bad_input) << not_run.output;
  EXPECT_NE(not_run.output.find(foreign.string()), std::string::npos) << not_run.output;

  const auto none = train(tiny, dir_->path() / "none", "--keep-weights none");
  const auto unkept = run_trackbench("evaluate '" + none.string() + "'" + data_flag);
  EXPECT_EQ(unkept.exit_code, exit_bad_input) << unkept.output;
  EXPECT_NE(unkept.output.find("--keep-weights none"), std::string::npos) << unkept.output;
}

}  // namespace
}  // namespace trackbench
