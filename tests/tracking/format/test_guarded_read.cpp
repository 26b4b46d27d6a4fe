// Reading many snapshots' records in one guarded child (read_snapshot_records): each record
// exactly as the full reader gives it, every unreadable file an error naming it and no other,
// and a child that dies or hangs costs only the file it was reading.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "support/sample_records.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/tracking/format/snapshot_writer.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Every metric of every epoch, compared bit for bit (to_json cannot tell NaN from absent).
void expect_same_epochs(const run_record& read, const run_record& expected) {
  ASSERT_EQ(read.epochs.size(), expected.epochs.size());
  for (std::size_t i = 0; i < read.epochs.size(); ++i) {
    const auto& a = read.epochs[i];
    const auto& b = expected.epochs[i];
    EXPECT_EQ(a.epoch, b.epoch);
    for (const auto& [x, y] : {std::pair{a.train_loss, b.train_loss}, {a.train_accuracy, b.train_accuracy},
                               {a.learning_rate, b.learning_rate}, {a.epoch_seconds, b.epoch_seconds},
                               {a.train_seconds, b.train_seconds}, {a.images_per_second, b.images_per_second},
                               {a.test.loss, b.test.loss}, {a.test.f1, b.test.f1}}) {
      EXPECT_TRUE(same_bits(x, y)) << x << " != " << y << " in epoch " << b.epoch;
    }
    EXPECT_EQ(a.test.confusion, b.test.confusion);
    EXPECT_EQ(a.validation.has_value(), b.validation.has_value());
    if (a.validation && b.validation) EXPECT_EQ(a.validation->confusion, b.validation->confusion);
    EXPECT_EQ(a.peak_rss_bytes, b.peak_rss_bytes);
    EXPECT_EQ(a.peak_cuda_bytes, b.peak_cuda_bytes);
  }
}

class GuardedReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      snapshot_writer writer(dir_ / "run.h5", testing::sample_run_record());
      for (int epoch = 1; epoch <= 3; ++epoch) {
        auto metrics = testing::make_metrics(epoch);
        metrics.train_loss = 1.0 / 3.0 / epoch;  // not representable in fewer bits
        metrics.peak_cuda_bytes = std::int64_t{3} << 30;
        const auto parameters = testing::make_parameters(epoch);
        writer.append_epoch(metrics, parameters, testing::make_state(epoch, parameters));
      }
      writer.finish("completed", "");
    }
    {
      auto record = testing::sample_run_record();
      record.config["keep_weights"] = "none";
      record.tags["owner"] = "ci";
      snapshot_writer writer(dir_ / "no-weights.h5", record);
      writer.append_epoch(testing::make_metrics(1), testing::make_parameters(1), std::nullopt);
      writer.finish("failed", "out of patience");
    }
    write_bench_snapshot(dir_ / "bench.h5", testing::sample_bench_record({1e-3, 1.1e-3, 0.9e-3}));
    std::ofstream(dir_ / "text.h5") << "not a snapshot\n";
    fs::create_directory(dir_ / "folder.h5");
  }

  testing::temp_dir dir_;
};

TEST_F(GuardedReadTest, RecordsAreExactlyWhatTheFullReaderReads) {
  const auto records = read_snapshot_records({dir_ / "run.h5", dir_ / "no-weights.h5", dir_ / "bench.h5"});
  ASSERT_EQ(records.size(), 3u);
  for (const auto& name : {"run.h5", "no-weights.h5"}) {
    SCOPED_TRACE(name);
    const auto& read = records[name == std::string("run.h5") ? 0 : 1];
    ASSERT_TRUE(read.error.empty()) << read.error;
    ASSERT_TRUE(read.run.has_value());
    EXPECT_FALSE(read.bench.has_value());
    EXPECT_EQ(read.path, (dir_ / name).string());
    const snapshot_reader full(dir_ / name);
    EXPECT_EQ(to_json(*read.run).dump(), to_json(full.record()).dump());
    EXPECT_EQ(read.run->tags, full.record().tags);
    EXPECT_EQ(read.run->code_diff, full.record().code_diff);
    expect_same_epochs(*read.run, full.record());
  }
  ASSERT_TRUE(records[2].bench.has_value()) << records[2].error;
  EXPECT_EQ(to_json(*records[2].bench).dump(), to_json(read_bench_snapshot(dir_ / "bench.h5")).dump());
}

TEST_F(GuardedReadTest, EachUnreadableFileIsAnErrorNamingItAndTheOthersAreRead) {
  const std::vector<fs::path> paths{dir_ / "text.h5", dir_ / "run.h5", dir_ / "missing.h5", dir_ / "folder.h5", dir_ / "bench.h5"};
  const auto records = read_snapshot_records(paths);
  ASSERT_EQ(records.size(), paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) EXPECT_EQ(records[i].path, paths[i].string());
  for (const std::size_t bad : {0u, 2u, 3u}) {
    EXPECT_FALSE(records[bad].run || records[bad].bench);
    EXPECT_EQ(records[bad].error.rfind(paths[bad].string() + ": ", 0), 0u) << records[bad].error;
  }
  EXPECT_NE(records[0].error.find("not an HDF5 file"), std::string::npos) << records[0].error;
  EXPECT_NE(records[2].error.find("no such snapshot file"), std::string::npos) << records[2].error;
  EXPECT_NE(records[3].error.find("is a directory"), std::string::npos) << records[3].error;
  EXPECT_TRUE(records[1].run.has_value()) << records[1].error;
  EXPECT_TRUE(records[4].bench.has_value()) << records[4].error;

  try {
    read_every_snapshot_record(paths);
    FAIL() << "read_every_snapshot_record read an unreadable file";
  } catch (const snapshot_error& e) {
    EXPECT_EQ(std::string(e.what()), records[0].error);
  }
}

// A limit no read can keep stops the child inside every file: each file is charged with its
// own stop, and a new child takes up the next one.
TEST_F(GuardedReadTest, AStoppedChildCostsOnlyTheFileItWasReading) {
  const std::vector<fs::path> paths{dir_ / "run.h5", dir_ / "bench.h5", dir_ / "no-weights.h5"};
  const auto stopped = read_snapshot_records(paths, read_limits{1e-6, std::uint64_t{1} << 30});
  ASSERT_EQ(stopped.size(), paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    EXPECT_EQ(stopped[i].error.rfind(paths[i].string() + ": reading it took longer than", 0), 0u) << stopped[i].error;
  }
  // The next batch with a limit it can keep reads them all: nothing was left behind.
  const auto read = read_snapshot_records(paths);
  for (const auto& record : read) EXPECT_TRUE(record.error.empty()) << record.error;
}

}  // namespace
}  // namespace trackbench::tracking
