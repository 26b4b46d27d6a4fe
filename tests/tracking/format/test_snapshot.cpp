#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>

#include "support/error_message.h"
#include "support/hdf5_edit.h"
#include "support/process.h"
#include "support/schema_v1.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/tracking/format/snapshot_writer.h"
#include "trackbench/tracking/format/weights_policy.h"
#include "trackbench/tracking/recording/recorder.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/model.h"
#include "trackbench/trainer/train.h"

namespace trackbench::tracking {
namespace {

using testing::add_dataset;
using testing::error_message;
using testing::set_int_attribute;
using testing::set_text_attribute;
using testing::with_file;
using testing::temp_dir;
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct written_epoch {
  trainer::epoch_metrics metrics;
  std::vector<array_record> weights;
  saved_state state;
};

// A real, tiny run: two epochs on 128 digits, recorded as `train` would.
class SnapshotTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto data = trainer::load_dataset("mnist-sample", std::nullopt);
    data.train.images = data.train.images.slice(0, 0, 128);
    data.train.labels = data.train.labels.slice(0, 0, 128);
    data.test.images = data.test.images.slice(0, 0, 100);
    data.test.labels = data.test.labels.slice(0, 0, 100);
    trainer::train_config config;
    config.device = trainer::device_kind::cpu;
    config.threads = 1;
    config.epochs = 2;
    trainer::trainer run(config, data);
    record_ = new run_record(describe_run(run, data, run_origin{}, "trackbench train --epochs 2", json{{"team", "ml"}},
                                          weights_policy{weights_policy::kind::all}));
    epochs_ = new std::vector<written_epoch>();
    for (int epoch = 1; epoch <= 2; ++epoch) {
      const auto metrics = run.train_epoch(epoch);
      const auto state = run.capture_state(epoch);
      epochs_->push_back({metrics, to_records(state.parameters), to_saved_state(state, run.shuffle_seed(epoch + 1))});
    }
  }
  static void TearDownTestSuite() {
    delete record_;
    delete epochs_;
  }

  // A snapshot with the first `epochs` epochs, finished as `status` (empty: left running).
  fs::path write(std::size_t epochs, const std::string& status = "completed") {
    const auto path = dir_ / ("run-" + std::to_string(++written_) + ".h5");
    snapshot_writer writer(path, *record_);
    for (std::size_t i = 0; i < epochs; ++i) {
      writer.append_epoch((*epochs_)[i].metrics, (*epochs_)[i].weights, (*epochs_)[i].state);
    }
    if (!status.empty()) writer.finish(status, status == "failed" ? "loss became nan" : "");
    return path;
  }

  // write(epochs) packed into one file, every epoch's weights inside (as older schemas kept them).
  fs::path write_packed(std::size_t epochs) {
    const auto written = write(epochs);
    const auto path = dir_ / ("packed-" + std::to_string(++written_) + ".h5");
    pack_snapshot(snapshot_reader(written), path);
    return path;
  }

  // The same run recorded with --keep-weights none: metric rows only.
  fs::path write_without_weights(std::size_t epochs) {
    auto record = *record_;
    record.config["keep_weights"] = "none";
    const auto path = dir_ / ("metrics-only-" + std::to_string(++written_) + ".h5");
    snapshot_writer writer(path, record);
    for (std::size_t i = 0; i < epochs; ++i) writer.append_epoch((*epochs_)[i].metrics, (*epochs_)[i].weights, std::nullopt);
    writer.finish("completed", "");
    return path;
  }

  static run_record* record_;
  static std::vector<written_epoch>* epochs_;
  temp_dir dir_;
  int written_ = 0;
};

run_record* SnapshotTest::record_ = nullptr;
std::vector<written_epoch>* SnapshotTest::epochs_ = nullptr;

std::map<std::string, array_record> by_name(const std::vector<array_record>& arrays) {
  std::map<std::string, array_record> named;
  for (const auto& array : arrays) named.emplace(array.name, array);
  return named;
}

void expect_same_arrays(const std::vector<array_record>& expected, const std::vector<array_record>& actual) {
  const auto want = by_name(expected);
  const auto got = by_name(actual);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, array] : want) {
    ASSERT_EQ(got.count(name), 1u) << name;
    EXPECT_EQ(got.at(name).shape, array.shape) << name;
    EXPECT_EQ(got.at(name).type, array.type) << name;
    EXPECT_EQ(got.at(name).bytes, array.bytes) << name;
  }
}

json sorted_files(json section) {
  auto& files = section["files"];
  std::sort(files.begin(), files.end(), [](const json& a, const json& b) { return a["name"] < b["name"]; });
  return section;
}

TEST_F(SnapshotTest, RoundTripKeepsEverySectionMetricWeightAndState) {
  const auto path = write(2);
  const snapshot_reader reader(path);
  const auto& record = reader.record();
  EXPECT_EQ(record.identity["status"], "completed");
  EXPECT_EQ(record.identity["schema"], "trackbench.run");
  EXPECT_EQ(record.identity["schema_version"], 5);
  EXPECT_EQ(record.config["keep_weights"], "all");
  EXPECT_EQ(record.config["precision"], "fp32");
  EXPECT_EQ(record.config["target"], "");
  EXPECT_EQ(record.config["cuda_graphs"], false);  // a CPU run
  EXPECT_EQ(record.identity["target_reached_epoch"], 0);
  EXPECT_TRUE(std::isnan(record.identity["time_to_target_seconds"].get<double>()));
  EXPECT_GT(record.identity["warmup_seconds"].get<double>(), 0.0);
  EXPECT_EQ(record.identity["warmup_seconds"], record_->identity["warmup_seconds"]);
  EXPECT_TRUE(keeps_weights(record));
  EXPECT_EQ(record.identity["run_id"], record_->identity["run_id"]);
  EXPECT_EQ(record.identity["command_line"], "trackbench train --epochs 2");
  EXPECT_NE(record.identity["end_time"], "");
  EXPECT_EQ(record.tags, (json{{"team", "ml"}}));
  EXPECT_EQ(record.config, record_->config);
  EXPECT_EQ(record.environment, record_->environment);
  EXPECT_EQ(record.code, record_->code);
  EXPECT_EQ(record.code_diff, record_->code_diff);
  EXPECT_EQ(sorted_files(record.data), sorted_files(record_->data));
  ASSERT_EQ(record.profiles.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& want = record_->profiles[i];
    const auto& got = record.profiles[i];
    EXPECT_EQ(got.split, want.split);
    EXPECT_EQ(got.images, want.images);
    EXPECT_EQ(got.class_counts, want.class_counts);
    EXPECT_EQ(got.mean_image, want.mean_image);  // bitwise
    EXPECT_EQ(got.intensity_histogram, want.intensity_histogram);
    EXPECT_EQ(got.ink_histogram, want.ink_histogram);
    EXPECT_EQ(got.ink_mean, want.ink_mean);
    EXPECT_EQ(got.ink_stddev, want.ink_stddev);
  }
  EXPECT_EQ(record.profiles[0].images, static_cast<std::uint64_t>(record.data["split_train_count"].get<std::int64_t>()));
  EXPECT_GT(record.profiles[2].ink_mean, 50.0);  // digits: about 100 units of ink
  EXPECT_EQ(to_json(record)["data"]["profiles"]["test"]["ink_histogram"].size(), 784u);

  ASSERT_EQ(record.epochs.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& want = (*epochs_)[i].metrics;
    const auto& got = record.epochs[i];
    EXPECT_EQ(got.epoch, want.epoch);
    EXPECT_EQ(got.train_loss, want.train_loss);
    EXPECT_EQ(got.test.loss, want.test.loss);
    EXPECT_EQ(got.test.accuracy, want.test.accuracy);
    EXPECT_EQ(got.test.f1, want.test.f1);
    EXPECT_EQ(got.test.confusion, want.test.confusion);
    ASSERT_TRUE(got.validation.has_value());
    EXPECT_EQ(got.validation->confusion, want.validation->confusion);
    EXPECT_EQ(got.validation->recall, want.validation->recall);
    EXPECT_EQ(got.epoch_seconds, want.epoch_seconds);
    EXPECT_EQ(got.peak_rss_bytes, want.peak_rss_bytes);
    EXPECT_FALSE(got.peak_cuda_bytes.has_value());
    expect_same_arrays((*epochs_)[i].weights, reader.weights(static_cast<int>(i) + 1));
  }
  const auto state = reader.state();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->epochs_done, 2);
  EXPECT_EQ(state->next_shuffle_seed, (*epochs_)[1].state.next_shuffle_seed);
  expect_same_arrays((*epochs_)[1].state.optimizer, state->optimizer);
  EXPECT_EQ(state->cpu_generator.bytes, (*epochs_)[1].state.cpu_generator.bytes);
  EXPECT_FALSE(state->cuda_generator.has_value());
}

// Large parameters are compressed in slabs on all cores; fc1.weight's 128 rows do not divide
// into its slabs, so its last chunk is a partial one, which must read back exactly too.
TEST_F(SnapshotTest, LargeWeightsAreStoredInSeveralChunksIncludingAPartialOne) {
  const auto path = write_packed(1);  // the snapshot's own last epoch is stored uncompressed
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hid_t set = H5Dopen2(file, "weights/epoch_0001/fc1.weight", H5P_DEFAULT);
  ASSERT_GE(set, 0);
  const hid_t create = H5Dget_create_plist(set);
  hsize_t chunk[2] = {0, 0};
  ASSERT_EQ(H5Pget_chunk(create, 2, chunk), 2);
  hsize_t chunks = 0;
  const hid_t space = H5Dget_space(set);
  H5Dget_num_chunks(set, space, &chunks);
  H5Sclose(space);
  H5Pclose(create);
  H5Dclose(set);
  H5Fclose(file);
  EXPECT_GT(chunks, 1u);
  EXPECT_NE(128 % chunk[0], 0u) << "rows per chunk: " << chunk[0];
  EXPECT_EQ(chunks, (128 + chunk[0] - 1) / chunk[0]);
  expect_same_arrays((*epochs_)[0].weights, snapshot_reader(path).weights(1));
}

TEST_F(SnapshotTest, RestoredStateHoldsTheSavedParameters) {
  const auto path = write(1, "");
  const snapshot_reader reader(path);
  const auto restored = to_training_state(reader.weights(1), *reader.state());
  EXPECT_EQ(restored.epochs_done, 1);
  const auto written = by_name((*epochs_)[0].weights);
  for (const auto& [name, tensor] : restored.parameters) {
    const auto& saved = written.at(name);
    EXPECT_EQ(std::memcmp(tensor.data_ptr(), saved.bytes.data(), saved.bytes.size()), 0) << name;
  }
}

TEST_F(SnapshotTest, AFileLeftRunningIsShownAsInterrupted) {
  const auto path = write(1, "");
  const snapshot_reader reader(path);
  EXPECT_EQ(reader.record().identity["status"], "running");
  EXPECT_EQ(displayed_status(reader.record()), "interrupted");
  EXPECT_EQ(reader.record().epochs.size(), 1u);
}

// An epoch reaches the disk when training takes its next step (check()); the run's last epoch,
// its target and its end reach it together, at finish().
TEST_F(SnapshotTest, EpochsAndTheTargetAreStagedUntilTheNextStepOrTheEnd) {
  const auto path = dir_ / "staged.h5";
  snapshot_writer writer(path, *record_);
  writer.append_epoch((*epochs_)[0].metrics, (*epochs_)[0].weights, (*epochs_)[0].state);
  EXPECT_EQ(snapshot_reader(path).record().epochs.size(), 0u) << "staged, not yet written";
  EXPECT_EQ(writer.record().epochs.size(), 1u) << "the writer's record has it at once";
  writer.check();
  writer.wait();
  EXPECT_EQ(snapshot_reader(path).record().epochs.size(), 1u);

  writer.append_epoch((*epochs_)[1].metrics, (*epochs_)[1].weights, (*epochs_)[1].state);
  writer.record_target_reached(2, 1.5);
  const auto before_end = snapshot_reader(path).record();
  EXPECT_EQ(before_end.epochs.size(), 1u);
  EXPECT_EQ(before_end.identity["target_reached_epoch"], 0);
  writer.finish("completed", "");

  const snapshot_reader reader(path);
  EXPECT_EQ(reader.record().identity["status"], "completed");
  EXPECT_EQ(reader.record().identity["target_reached_epoch"], 2);
  EXPECT_EQ(reader.record().identity["time_to_target_seconds"], 1.5);
  ASSERT_EQ(reader.record().epochs.size(), 2u);
  EXPECT_EQ(reader.record().epochs[1].test.loss, (*epochs_)[1].metrics.test.loss);
  ASSERT_TRUE(reader.state().has_value());
  EXPECT_EQ(reader.state()->epochs_done, 2);
  expect_same_arrays((*epochs_)[1].weights, reader.weights(2));
  expect_same_arrays((*epochs_)[1].state.optimizer, reader.state()->optimizer);
}

// A job's launcher records the failure of a rank 0 that died: the file keeps everything it held
// (here with a sidecar: keep_weights all), and a run that recorded its own end is left alone.
TEST_F(SnapshotTest, MarkingARunFailedKeepsWhatItHeldAndLeavesEndedRunsAlone) {
  const auto path = write(2, "");
  const auto before = snapshot_reader(path).record();
  ASSERT_TRUE(mark_run_failed(path, "rank 0 (process 42) ended"));
  const snapshot_reader reader(path);
  EXPECT_EQ(reader.record().identity["status"], "failed");
  EXPECT_EQ(reader.record().identity["error"], "rank 0 (process 42) ended");
  EXPECT_NE(reader.record().identity["end_time"], "");
  EXPECT_NE(reader.record().identity["record_sha256"], before.identity["record_sha256"]);
  EXPECT_EQ(reader.record().epochs.size(), 2u);
  EXPECT_EQ(reader.weight_epochs(), (std::vector<int>{1, 2}));
  EXPECT_TRUE(reader.has_sidecars());
  for (int epoch = 1; epoch <= 2; ++epoch) expect_same_arrays((*epochs_)[epoch - 1].weights, reader.weights(epoch));
  const auto state = reader.state();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->epochs_done, 2);
  EXPECT_EQ(state->next_shuffle_seed, (*epochs_)[1].state.next_shuffle_seed);
  expect_same_arrays((*epochs_)[1].state.optimizer, state->optimizer);
  // The whole load (every array checked against its digest) accepts the rewritten file.
  EXPECT_NO_THROW(load_snapshot(path, read_depth::arrays));

  EXPECT_FALSE(mark_run_failed(path, "again"));
  EXPECT_EQ(snapshot_reader(path).record().identity["error"], "rank 0 (process 42) ended");
  const auto completed = write(1);
  const auto bytes = read_snapshot_bytes(completed);
  EXPECT_FALSE(mark_run_failed(completed, "rank 0 ended"));
  EXPECT_EQ(read_snapshot_bytes(completed), bytes);
}

TEST_F(SnapshotTest, ARunWithoutEpochsHasNoState) {
  const auto path = write(0, "failed");
  const snapshot_reader reader(path);
  EXPECT_EQ(reader.record().identity["status"], "failed");
  EXPECT_EQ(reader.record().identity["error"], "loss became nan");
  EXPECT_FALSE(reader.state().has_value());
  EXPECT_THROW(reader.weights(1), snapshot_error);
}

TEST_F(SnapshotTest, KeepWeightsNoneRoundTripsTheRecordWithoutWeightsOrState) {
  // Without the checkout's uncommitted diff, which may be large while someone is editing.
  auto record = *record_;
  record.config["keep_weights"] = "none";
  record.code["diff_stored_bytes"] = 0;
  record.code_diff.clear();
  const auto path = dir_ / "metrics-only.h5";
  {
    snapshot_writer writer(path, record);
    writer.append_epoch((*epochs_)[0].metrics, (*epochs_)[0].weights, std::nullopt);
    writer.finish("completed", "");
  }
  EXPECT_LT(fs::file_size(path), 1u << 20);
  EXPECT_GT(fs::file_size(write(1)), 4u << 20) << "the same epoch with its weights and state";

  const snapshot_reader reader(path);
  EXPECT_FALSE(keeps_weights(reader.record()));
  EXPECT_EQ(reader.record().config, record.config);
  ASSERT_EQ(reader.record().epochs.size(), 1u);
  EXPECT_EQ(reader.record().epochs[0].test.loss, (*epochs_)[0].metrics.test.loss);
  EXPECT_EQ(reader.record().epochs[0].test.confusion, (*epochs_)[0].metrics.test.confusion);
  EXPECT_FALSE(reader.state().has_value());
  const std::string message = error_message<snapshot_error>([&] { reader.weights(1); });
  EXPECT_NE(message.find(path.string() + ": keeps no weights"), std::string::npos) << message;
  EXPECT_NE(message.find("--keep-weights none"), std::string::npos) << message;

  // The digests are recorded all the same.
  const auto digests = reader.parameter_digests(1);
  ASSERT_EQ(digests.size(), (*epochs_)[0].weights.size());
  for (const auto& weight : (*epochs_)[0].weights) {
    EXPECT_NE(std::find(digests.begin(), digests.end(), parameter_digest{weight.name, weight.sha256()}), digests.end()) << weight.name;
  }

  // And a writer that keeps weights takes no epoch without the state to resume from.
  snapshot_writer keeping(dir_ / "keeping.h5", *record_);
  EXPECT_THROW(keeping.append_epoch((*epochs_)[0].metrics, (*epochs_)[0].weights, std::nullopt), std::logic_error);
}

TEST_F(SnapshotTest, WriterRefusesToOverwriteAFile) {
  const auto path = write(0);
  EXPECT_THROW(snapshot_writer(path, *record_), snapshot_write_error);
}

// A full disk is simulated by a file size limit in a child process: the write fails with
// EFBIG instead of ENOSPC, through the same code path. Every commit writes about the same
// size, so the limit is below the size of the snapshot after epoch 1: with all and every:2,
// epoch 2's sidecar (compressed, smaller) still goes through, and the snapshot that would
// name it does not.
TEST_F(SnapshotTest, AFailedWriteKeepsThePreviousEpochs) {
  for (const auto* policy : {"all", "last", "best", "every:2", "none"}) {
    SCOPED_TRACE(std::string("--keep-weights ") + policy);
    auto record = *record_;
    record.config["keep_weights"] = policy;
    const bool keeping = std::string(policy) != "none";
    const auto state = [&](std::size_t i) { return keeping ? std::optional((*epochs_)[i].state) : std::nullopt; };
    const auto path = dir_ / ("full-" + std::to_string(++written_) + ".h5");
    snapshot_writer writer(path, record);
    writer.append_epoch((*epochs_)[0].metrics, (*epochs_)[0].weights, state(0));
    writer.wait();  // no write in flight across the fork: the child would not have its thread
    const auto size = fs::file_size(path);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      std::signal(SIGXFSZ, SIG_IGN);
      rlimit unlimited{};
      ::getrlimit(RLIMIT_FSIZE, &unlimited);
      const rlimit limit{keeping ? size / 2 : size - 1, unlimited.rlim_max};
      ::setrlimit(RLIMIT_FSIZE, &limit);
      try {
        writer.append_epoch((*epochs_)[1].metrics, (*epochs_)[1].weights, state(1));
        // The write goes on in the background; check(), which training calls at every step,
        // reports its failure once it has ended, without waiting for it.
        for (int polls = 0; polls < 6000; ++polls) {
          writer.check();
          ::usleep(10000);
        }
        ::_exit(4);
      } catch (const snapshot_write_error& e) {
        const std::string message = e.what();
        const bool clear = message.find(path.string()) != std::string::npos &&
                           message.find("keeps its previous content (epoch 1)") != std::string::npos;
        if (!clear) ::_exit(3);
        // The image in memory holds the failed epoch, so nothing more may reach the disk.
        ::setrlimit(RLIMIT_FSIZE, &unlimited);
        try {
          writer.finish("failed", "disk full");
        } catch (const snapshot_write_error& later) {
          ::_exit(std::string(later.what()).find("an earlier write") != std::string::npos ? 0 : 5);
        }
        ::_exit(6);
      }
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "3: unclear message, 4: the write did not fail or check() did not report it, "
                                         "5: unclear message for the next write, 6: the next write went through";
    const snapshot_reader reader(path);
    EXPECT_EQ(reader.record().epochs.size(), 1u);
    EXPECT_EQ(reader.parameter_digests(1).size(), (*epochs_)[0].weights.size());
    if (keeping) expect_same_arrays((*epochs_)[0].weights, reader.weights(1));
    EXPECT_FALSE(fs::exists(dir_ / ("." + path.filename().string() + ".tmp")));
  }
}

// Each policy keeps the epochs it names, in the file or in sidecars, and every epoch's digests;
// the packed file holds the same inside it, and reads the same.
TEST_F(SnapshotTest, PoliciesKeepTheirEpochsAndPackingKeepsThemInOneFile) {
  struct expectation {
    std::string policy;
    std::vector<int> kept;
    bool sidecars;
  };
  // Epoch 2's validation accuracy decides best: it is kept whichever epoch that is, with the last.
  for (const auto& [policy, kept, sidecars] :
       std::vector<expectation>{{"all", {1, 2}, true}, {"last", {2}, false}, {"every:2", {2}, true}, {"none", {}, false}}) {
    SCOPED_TRACE("--keep-weights " + policy);
    auto record = *record_;
    record.config["keep_weights"] = policy;
    const auto path = dir_ / ("policy-" + std::to_string(++written_) + ".h5");
    {
      snapshot_writer writer(path, record);
      for (std::size_t i = 0; i < 2; ++i) {
        writer.append_epoch((*epochs_)[i].metrics, (*epochs_)[i].weights,
                            policy == "none" ? std::nullopt : std::optional((*epochs_)[i].state));
      }
      writer.finish("completed", "");
    }
    const snapshot_reader reader(path);
    EXPECT_EQ(reader.weight_epochs(), kept);
    EXPECT_EQ(reader.has_sidecars(), sidecars);
    EXPECT_EQ(fs::exists(path.string() + ".epochs"), sidecars);
    for (int epoch = 1; epoch <= 2; ++epoch) {
      EXPECT_EQ(reader.parameter_digests(epoch).size(), (*epochs_)[0].weights.size());
      if (reader.has_weights(epoch)) {
        expect_same_arrays((*epochs_)[epoch - 1].weights, reader.weights(epoch));
      } else {
        EXPECT_THROW(reader.weights(epoch), snapshot_error);
      }
    }
    if (policy == "none") continue;
    const auto packed = dir_ / ("packed-" + std::to_string(++written_) + ".h5");
    pack_snapshot(reader, packed);
    const snapshot_reader unpacked(packed);
    EXPECT_FALSE(unpacked.has_sidecars());
    EXPECT_EQ(unpacked.weight_epochs(), kept);
    for (const int epoch : kept) expect_same_arrays((*epochs_)[epoch - 1].weights, unpacked.weights(epoch));
    // The same record; only record_sha256 differs, since it covers the sidecar digests.
    auto original = to_json(reader.record());
    auto repacked = to_json(unpacked.record());
    original.erase("record_sha256");
    repacked.erase("record_sha256");
    EXPECT_EQ(repacked.dump(), original.dump());  // as text: a NaN never equals itself
  }
}

// A sidecar that is missing, changed, or another run's is an error naming it; show lists the
// epochs whose sidecars are absent.
TEST_F(SnapshotTest, AMissingOrChangedSidecarIsAnErrorNamingIt) {
  const auto path = write(2);  // keep_weights all: epochs 1 and 2 in sidecars, 2 also inside
  const auto sidecar = sidecar_path(path, 1);
  ASSERT_TRUE(fs::exists(sidecar));
  std::string message = error_message<snapshot_error>([&] {
    auto bytes = read_snapshot_bytes(sidecar);
    bytes[bytes.size() / 2] ^= 1;
    std::ofstream(sidecar, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(bytes.data()),
                                                                    static_cast<std::streamsize>(bytes.size()));
    snapshot_reader(path).weights(1);
  });
  EXPECT_NE(message.find(sidecar.string() + ", which does not match the SHA-256 recorded for it"), std::string::npos)
      << message;
  fs::remove(sidecar);
  message = error_message<snapshot_error>([&] { load_snapshot(path, read_depth::arrays); });
  EXPECT_NE(message.find(sidecar.string() + ", which is missing"), std::string::npos) << message;
  EXPECT_EQ(snapshot_reader(path).missing_sidecars(), std::vector<int>{1});
  const auto shown = testing::run_trackbench("show '" + path.string() + "'");
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("ABSENT: the sidecar files of epochs 1 are missing"), std::string::npos) << shown.output;
}

TEST(WeightsPolicy, ParsesEveryFormAndRefusesOthersNamingTheFlag) {
  EXPECT_EQ(to_string(parse_weights_policy("every:3")), "every:3");
  for (const char* good : {"all", "last", "best", "none"}) EXPECT_EQ(to_string(parse_weights_policy(good)), good);
  for (const char* bad : {"every:0", "every:x", "sometimes", "every:", "every:-1", ""}) {
    const std::string message = error_message<input_error>([&] { parse_weights_policy(bad); });
    EXPECT_NE(message.find("--keep-weights '" + std::string(bad) + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("expected all, last, best, every:N"), std::string::npos) << message;
  }
  std::vector<trainer::epoch_metrics> epochs(5);
  const double accuracies[] = {0.5, 0.9, 0.7, 0.9, 0.6};
  for (int i = 0; i < 5; ++i) {
    epochs[i].epoch = i + 1;
    epochs[i].validation = trainer::classification_metrics{};
    epochs[i].validation->accuracy = accuracies[i];
  }
  EXPECT_EQ(kept_epochs(parse_weights_policy("best"), epochs), (std::vector<int>{2, 5}));  // the first of the best
  EXPECT_EQ(kept_epochs(parse_weights_policy("every:2"), epochs), (std::vector<int>{2, 4, 5}));
  EXPECT_EQ(kept_epochs(parse_weights_policy("last"), epochs), (std::vector<int>{5}));
  EXPECT_EQ(kept_epochs(parse_weights_policy("all"), epochs).size(), 5u);
  EXPECT_TRUE(kept_epochs(parse_weights_policy("none"), epochs).empty());
}

// ---- bad snapshots -------------------------------------------------------------------------

void expect_refused(const fs::path& path, const std::string& fragment) {
  const std::string message = error_message<snapshot_error>([&] { snapshot_reader reader(path); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find(fragment), std::string::npos) << message;
}

TEST_F(SnapshotTest, RefusesWhatIsNotASnapshot) {
  expect_refused(dir_ / "missing.h5", "no such snapshot file");
  testing::write_file(dir_ / "empty.h5", {});
  expect_refused(dir_ / "empty.h5", "not an HDF5 file");
  testing::write_file(dir_ / "text.h5", {'h', 'e', 'l', 'l', 'o'});
  expect_refused(dir_ / "text.h5", "not an HDF5 file");

  const auto foreign = dir_ / "foreign.h5";
  const hid_t file = H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  add_dataset(file, "x");
  H5Fclose(file);
  expect_refused(foreign, "no 'schema' attribute");
}

TEST_F(SnapshotTest, RefusesATruncatedFile) {
  const auto path = write(2);
  for (const double fraction : {0.5, 0.9, 0.999}) {
    const auto cut = dir_ / ("cut-" + std::to_string(fraction) + ".h5");
    fs::copy_file(path, cut);
    fs::resize_file(cut, static_cast<std::uintmax_t>(static_cast<double>(fs::file_size(path)) * fraction));
    EXPECT_THROW(
        {
          snapshot_reader reader(cut);
          for (int epoch = 1; epoch <= 2; ++epoch) reader.weights(epoch);
        },
        snapshot_error)
        << fraction;
  }
}

TEST_F(SnapshotTest, RefusesANewerSchemaVersion) {
  const auto path = write(1);
  with_file(path, [](hid_t file) { set_int_attribute(file, "schema_version", 6); });
  expect_refused(path, "schema version 6; this trackbench reads up to 5");
}

TEST_F(SnapshotTest, ReadsAVersion3FileAsTrackbenchWroteIt) {
  // tests/data/run-schema-v3.h5: `trackbench train --epochs 1 --keep-weights none` of the
  // embedded sample by the trackbench before schema version 4, checksummed.
  const fs::path path = fs::path(TRACKBENCH_DATA_DIR) / "run-schema-v3.h5";
  const snapshot_reader reader(path);
  const auto& record = reader.record();
  EXPECT_EQ(record.identity["schema_version"], 3);
  EXPECT_TRUE(checksummed(record));
  EXPECT_FALSE(record.environment.contains("nvml_reason"));
  EXPECT_TRUE(record.environment.contains("nvidia_driver_version"));
  EXPECT_EQ(record.config["keep_weights"], "none");
  EXPECT_EQ(record.epochs.size(), 1u);
  EXPECT_TRUE(record.profiles.empty());  // no profile before version 5
  EXPECT_FALSE(profile_of(record, "train").has_value());
  EXPECT_TRUE(to_json(record)["data"]["profiles"].is_null());

  // A version 3 file carrying a version 4 field is not what version 3 writers made.
  const auto copy = dir_ / "v3-with-nvml.h5";
  fs::copy_file(path, copy);
  with_file(copy, [](hid_t file) { set_text_attribute(file, "environment", "nvml_reason", ""); });
  expect_refused(copy, "environment has attribute 'nvml_reason', which the schema does not define");
}

TEST_F(SnapshotTest, AMalformedProfileIsRefusedNamingIt) {
  const auto path = write(1);
  with_file(path, [](hid_t file) { H5Ldelete(file, "data/profiles/validation/ink_histogram", H5P_DEFAULT); });
  expect_refused(path, "data/profiles/validation lacks 'ink_histogram'");
  const auto missing = write(1);
  with_file(missing, [](hid_t file) { H5Ldelete(file, "data/profiles/test", H5P_DEFAULT); });
  expect_refused(missing, "data/profiles lacks 'test'");
  const auto attribute = write(1);
  with_file(attribute, [](hid_t file) {
    const hid_t group = H5Gopen2(file, "data/profiles/train", H5P_DEFAULT);
    set_text_attribute(group, "note", "x");
    H5Gclose(group);
  });
  expect_refused(attribute, "data/profiles/train has attribute 'note'");
}

TEST_F(SnapshotTest, ACurrentFileLackingAFieldOfItsVersionIsRefusedNamingIt) {
  const auto path = write(1);
  with_file(path, [](hid_t file) { H5Adelete_by_name(file, "environment", "nvml_reason", H5P_DEFAULT); });
  expect_refused(path, "environment lacks 'nvml_reason', which files of this schema version carry");
}

TEST_F(SnapshotTest, GpuFieldsFromNvmlRoundTrip) {
  auto record = *record_;
  json gpu{{"index", 0},
           {"name", "NVIDIA H200"},
           {"uuid", "GPU-00000000-1111-2222-3333-444444444444"},
           {"compute_capability", "9.0"},
           {"sm_count", 132},
           {"memory_bytes", std::int64_t{150} << 30},
           {"driver_version", "580.159.04"},
           {"pci_bus_id", "00000000:19:00.0"},
           {"sm_clock_mhz", 1755},
           {"sm_clock_max_mhz", 1980},
           {"memory_clock_mhz", 3201},
           {"memory_clock_max_mhz", 3201},
           {"power_limit_watts", 700.0},
           {"ecc_mode", "enabled"},
           {"persistence_mode", "enabled"},
           {"nvml_reason", ""}};
  json unmanaged = gpu;
  unmanaged["index"] = 1;
  unmanaged["power_limit_watts"] = std::numeric_limits<double>::quiet_NaN();
  unmanaged["ecc_mode"] = "unavailable";
  unmanaged["nvml_reason"] = "power_limit_watts: Not Supported; ecc_mode: Not Supported";
  record.environment["gpus"] = json::array({gpu, unmanaged});
  const auto path = dir_ / "gpus.h5";
  {
    snapshot_writer writer(path, record);
    writer.append_epoch((*epochs_)[0].metrics, (*epochs_)[0].weights, (*epochs_)[0].state);
    writer.finish("completed", "");
  }
  const snapshot_reader reader(path);
  const auto& gpus = reader.record().environment["gpus"];
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0], gpu);
  EXPECT_EQ(gpus[1]["ecc_mode"], "unavailable");
  EXPECT_TRUE(std::isnan(gpus[1]["power_limit_watts"].get<double>()));
  EXPECT_EQ(gpus[1]["nvml_reason"], unmanaged["nvml_reason"]);

  const auto shown = testing::run_trackbench("show '" + path.string() + "'");
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  for (const char* field : {"pci_bus_id 00000000:19:00.0", "sm_clock_max_mhz 1980", "power_limit_watts 700.0",
                            "power_limit_watts none", "ecc_mode unavailable", "persistence_mode enabled",
                            "nvml_reason power_limit_watts: Not Supported; ecc_mode: Not Supported"}) {
    EXPECT_NE(shown.output.find(field), std::string::npos) << field << "\n" << shown.output;
  }
}

TEST_F(SnapshotTest, KeepWeightsMustMatchWhatTheFileHolds) {
  const auto with_weights = write(1);
  with_file(with_weights, [](hid_t file) { set_text_attribute(file, "config", "keep_weights", "none"); });
  expect_refused(with_weights, "weights holds epochs although config keep_weights is none");

  const auto state_only = write_without_weights(1);
  with_file(state_only, [](hid_t file) { set_int_attribute(file, "state", "epochs_done", 1); });
  expect_refused(state_only, "state is not empty although config keep_weights is none");

  const auto claims_weights = write_without_weights(1);
  with_file(claims_weights, [](hid_t file) { set_text_attribute(file, "config", "keep_weights", "all"); });
  expect_refused(claims_weights, "weights lacks epoch_0001, and no sidecar holds it (config keep_weights all)");

  const auto unknown = write_without_weights(1);
  with_file(unknown, [](hid_t file) { set_text_attribute(file, "config", "keep_weights", "some"); });
  expect_refused(unknown, "config keep_weights 'some': expected all, last, best, every:N");
}

TEST_F(SnapshotTest, ReadsSchemaVersion1FilesAsKeepingWeights) {
  const auto path = write_packed(2);
  testing::downgrade_to_schema_v1(path);
  {
    const snapshot_reader reader(path);  // closed before the file is changed below
    EXPECT_EQ(reader.record().identity["schema_version"], 1);
    EXPECT_EQ(reader.record().config["keep_weights"], "all");
    auto version_2_config = record_->config;
    for (const char* name : {"precision", "cuda_graphs", "target", "world_size", "global_batch_size", "engine",
                             "engine_settings", "launcher", "nodes", "rank_hosts", "rank_devices"}) {
      version_2_config.erase(name);
    }
    EXPECT_EQ(reader.record().config, version_2_config);
    ASSERT_EQ(reader.record().epochs.size(), 2u);
    expect_same_arrays((*epochs_)[1].weights, reader.weights(2));
    ASSERT_TRUE(reader.state().has_value());
    EXPECT_EQ(reader.state()->epochs_done, 2);
  }

  // Version 1 had no keep_weights: a v1 file carrying one is not what v1 writers made.
  with_file(path, [](hid_t file) { set_text_attribute(file, "config", "keep_weights", "all"); });
  expect_refused(path, "config has attribute 'keep_weights', which the schema does not define");
}

TEST_F(SnapshotTest, ReadsSchemaVersion2FilesWithoutTheVersion3Fields) {
  const auto path = write_without_weights(2);
  testing::downgrade_to_schema_v2(path);
  {
    const snapshot_reader reader(path);
    const auto& record = reader.record();
    EXPECT_EQ(record.identity["schema_version"], 2);
    EXPECT_EQ(record.config["keep_weights"], "none");
    for (const char* name : {"precision", "cuda_graphs", "target"}) EXPECT_FALSE(record.config.contains(name)) << name;
    for (const char* name : {"warmup_seconds", "target_reached_epoch", "time_to_target_seconds"}) {
      EXPECT_FALSE(record.identity.contains(name)) << name;
    }
    EXPECT_EQ(record.epochs.size(), 2u);
    // The config of a version 2 run reads back as fp32, the default, with no target.
    EXPECT_EQ(config_from_record(record.config).precision, kernels::precision::fp32);
    EXPECT_FALSE(config_from_record(record.config).cuda_graphs);
    EXPECT_FALSE(target_from_record(record.config).has_value());
  }

  // Version 2 had no precision: a v2 file carrying one is not what v2 writers made.
  with_file(path, [](hid_t file) { set_text_attribute(file, "config", "precision", "fp32"); });
  expect_refused(path, "config has attribute 'precision', which the schema does not define");
}

TEST_F(SnapshotTest, RecordsTheEpochAndTimeAtWhichTheTargetWasReached) {
  auto record = *record_;
  record.config["target"] = "test_accuracy:0.5";
  const auto path = dir_ / "target.h5";
  {
    snapshot_writer writer(path, record);
    writer.append_epoch((*epochs_)[0].metrics, (*epochs_)[0].weights, (*epochs_)[0].state);
    writer.record_target_reached(1, 2.5);
    EXPECT_EQ(writer.record().identity["target_reached_epoch"], 1);
    writer.finish("completed", "");
  }
  const snapshot_reader reader(path);
  EXPECT_EQ(reader.record().config["target"], "test_accuracy:0.5");
  EXPECT_EQ(reader.record().identity["target_reached_epoch"], 1);
  EXPECT_EQ(reader.record().identity["time_to_target_seconds"], 2.5);
  ASSERT_TRUE(target_from_record(reader.record().config).has_value());
  EXPECT_EQ(target_from_record(reader.record().config)->metric, "test_accuracy");
}

TEST_F(SnapshotTest, RefusesObjectsAndAttributesTheSchemaDoesNotDefine) {
  const auto extra = write(1);
  with_file(extra, [](hid_t file) {
    const hid_t config = H5Gopen2(file, "config", H5P_DEFAULT);
    add_dataset(config, "extra");
    H5Gclose(config);
  });
  expect_refused(extra, "'config/extra' is not part of the snapshot schema");

  const auto attribute = dir_ / "attribute.h5";
  fs::copy_file(write(1, ""), attribute, fs::copy_options::overwrite_existing);
  with_file(attribute, [](hid_t file) { set_text_attribute(file, "config", "evil", "x"); });
  expect_refused(attribute, "config has attribute 'evil'");
}

TEST_F(SnapshotTest, RefusesExternalAndSoftLinks) {
  const auto external = write(1);
  with_file(external, [](hid_t file) { H5Lcreate_external("/etc/other.h5", "/x", file, "data/link", H5P_DEFAULT, H5P_DEFAULT); });
  expect_refused(external, "'data/link' is a external link");

  const auto soft = dir_ / "soft.h5";
  fs::copy_file(write(1, ""), soft, fs::copy_options::overwrite_existing);
  with_file(soft, [](hid_t file) { H5Lcreate_soft("/config", file, "weights/epoch_0001/alias", H5P_DEFAULT, H5P_DEFAULT); });
  expect_refused(soft, "soft or user-defined link");
}

TEST_F(SnapshotTest, RefusesWrongTypesShapesAndValues) {
  const auto type = write(1);
  with_file(type, [](hid_t file) { set_text_attribute(file, "config", "epochs", "ten"); });
  expect_refused(type, "attribute 'epochs' is not an integer");

  const auto status = dir_ / "status.h5";
  fs::copy_file(write(1, ""), status, fs::copy_options::overwrite_existing);
  with_file(status, [](hid_t file) { set_text_attribute(file, "status", "\x1b[31mhacked"); });
  expect_refused(status, "expected running, completed, failed or interrupted");

  const auto rows = dir_ / "rows.h5";
  fs::copy_file(write(1, ""), rows, fs::copy_options::overwrite_existing);
  with_file(rows, [](hid_t file) {
    H5Ldelete(file, "metrics/test_loss", H5P_DEFAULT);
    add_dataset(file, "metrics/test_loss");
  });
  expect_refused(rows, "metrics/test_loss");
}

TEST_F(SnapshotTest, RefusesFiltersOtherThanShuffleAndDeflate) {
  const auto path = write(1);
  with_file(path, [](hid_t file) {
    H5Ldelete(file, "weights/epoch_0001/fc2.bias", H5P_DEFAULT);
    const hid_t create = H5Pcreate(H5P_DATASET_CREATE);
    const hsize_t chunk[1] = {4};
    H5Pset_chunk(create, 1, chunk);
    H5Pset_fletcher32(create);
    add_dataset(file, "weights/epoch_0001/fc2.bias", create);
    H5Pclose(create);
  });
  expect_refused(path, "uses filter 3; snapshots use only shuffle and deflate");
}

TEST_F(SnapshotTest, DetectsWeightsThatDoNotMatchTheirDigest) {
  const auto path = write(1);
  with_file(path, [](hid_t file) {
    const hid_t set = H5Dopen2(file, "weights/epoch_0001/fc2.bias", H5P_DEFAULT);
    const std::vector<float> zeros(10, 0.0f);
    H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros.data());
    H5Dclose(set);
  });
  const snapshot_reader reader(path);
  const std::string message = error_message<snapshot_error>([&] { reader.weights(1); });
  EXPECT_NE(message.find("weights/epoch_0001/fc2.bias does not match its SHA-256"), std::string::npos) << message;
}

TEST_F(SnapshotTest, ReadsTheSameFromAFileImage) {
  const auto path = write(2);
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const snapshot_reader reader(image, "image");
  EXPECT_EQ(reader.record().epochs.size(), 2u);
  expect_same_arrays((*epochs_)[1].weights, reader.weights(2));
  const std::vector<std::uint8_t> half(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(image.size() / 2));
  EXPECT_THROW(
      {
        const snapshot_reader cut(half, "half");
        for (int epoch = 1; epoch <= 2; ++epoch) cut.weights(epoch);
        cut.state();
      },
      snapshot_error);
  EXPECT_THROW(snapshot_reader({}, "empty"), snapshot_error);
}

// ---- values against their meaning, checksums ------------------------------------------------

void set_last_metric(hid_t file, const char* column, double value) {
  const hid_t set = H5Dopen2(file, column, H5P_DEFAULT);
  std::vector<double> values(2);
  H5Dread(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  values.back() = value;
  H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Dclose(set);
}

TEST_F(SnapshotTest, RefusesValuesTheirFieldsCannotHoldNamingFieldAndValue) {
  const auto accuracy = write(2);
  with_file(accuracy, [](hid_t file) { set_last_metric(file, "metrics/test_accuracy", 5.0); });
  expect_refused(accuracy, "metrics/test_accuracy row 1 (epoch 2) is 5; expected finite, 0 to 1");

  const auto loss = write(2);
  with_file(loss, [](hid_t file) { set_last_metric(file, "metrics/train_loss", std::nan("")); });
  expect_refused(loss, "metrics/train_loss row 1 (epoch 2) is NaN; expected finite, >= 0");

  const auto epochs = write(2);
  with_file(epochs, [](hid_t file) { set_int_attribute(file, "config", "epochs", 4177526785); });
  expect_refused(epochs, "config 'epochs' is 4177526785; expected 1 to 100000");

  const auto counts = write(2);
  with_file(counts, [](hid_t file) {
    const hid_t set = H5Dopen2(file, "data/test_class_counts", H5P_DEFAULT);
    std::vector<std::int64_t> values(10);
    H5Dread(set, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    values[4] += 1;
    H5Dwrite(set, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(set);
  });
  expect_refused(counts, "data 'test_class_counts' sums to 101 but 'test_count' is 100");

  const auto confusion = write(2);
  with_file(confusion, [](hid_t file) {
    const hid_t set = H5Dopen2(file, "metrics/test_confusion", H5P_DEFAULT);
    std::vector<std::int64_t> values(2 * 100);
    H5Dread(set, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    values[100 + 7 * 10 + 1] += 3;
    H5Dwrite(set, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(set);
  });
  expect_refused(confusion, "metrics/test_confusion of epoch 2 row 7 sums to");
}

// The schema lists --conv's names itself (its reader runs without the trainer): each of the
// trainer's names (backends and custom kernel versions) must be one it accepts, and a name the
// trainer lacks must not be.
TEST_F(SnapshotTest, TheSchemaKnowsTheConvolutionBackendsTheTrainerHas) {
  for (const auto& name : trainer::conv_names()) {
    auto record = *record_;
    record.config["conv"] = name;
    const auto path = dir_ / ("conv-" + name + ".h5");
    snapshot_writer{path, record};
    EXPECT_EQ(snapshot_reader(path).record().config["conv"], name);
  }
  auto record = *record_;
  record.config["conv"] = "winograd";
  EXPECT_THROW(snapshot_writer(dir_ / "conv-unknown.h5", record), std::logic_error);
}

TEST_F(SnapshotTest, FilesCarryMetadataChecksumsAndARecordDigest) {
  const auto path = write(2);
  const auto image = read_snapshot_bytes(path);
  ASSERT_GT(image.size(), 9u);
  EXPECT_GE(image[8], 2) << "superblock version: 2 and later carry checksums";
  {
    const snapshot_reader reader(path);  // closed before the file is changed below
    EXPECT_TRUE(checksummed(reader.record()));
    EXPECT_EQ(reader.record().identity["record_sha256"].get<std::string>().size(), 64u);
  }

  // A text value lives in a global heap, which HDF5 does not checksum: the digest catches it.
  with_file(path, [](hid_t file) { set_text_attribute(file, "code", "branch", "elsewhere"); });
  expect_refused(path, "the record does not match its record_sha256: the file is corrupt");
}

TEST_F(SnapshotTest, OlderFilesAreReadAsUnchecksummed) {
  const auto path = write_packed(2);
  testing::downgrade_to_schema(path, 2);
  const snapshot_reader reader(path);
  EXPECT_FALSE(checksummed(reader.record()));
  EXPECT_EQ(reader.record().epochs.size(), 2u);
  const auto shown = testing::run_trackbench("show '" + path.string() + "'");
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("none: schema version 2 predates them"), std::string::npos) << shown.output;
}

// ---- reading in a guarded child ---------------------------------------------------------

TEST(GuardedRead, ACrashAHangAndAMemoryBlowUpBecomeErrorsNamingTheFile) {
  const read_limits limits{1.0, std::uint64_t{64} << 20};
  const std::string crash = error_message<snapshot_error>([&] {
    run_guarded("crash.h5", limits, []() -> std::string {
      std::raise(SIGSEGV);
      return "";
    });
  });
  EXPECT_NE(crash.find("crash.h5: reading it crashed HDF5 (SIGSEGV)"), std::string::npos) << crash;
  const std::string hang = error_message<snapshot_error>([&] {
    run_guarded("hang.h5", limits, []() -> std::string {
      for (;;) ::pause();
    });
  });
  EXPECT_NE(hang.find("hang.h5: reading it took longer than 1 s"), std::string::npos) << hang;
  const std::string memory = error_message<snapshot_error>([&] {
    run_guarded("memory.h5", limits, []() -> std::string { return std::string(std::size_t{1} << 30, 'x'); });
  });
  EXPECT_NE(memory.find("memory.h5: reading it needed more than 64 MiB"), std::string::npos) << memory;
  EXPECT_EQ(run_guarded("fine.h5", limits, [] { return std::string("result"); }), "result");
  const std::string refused = error_message<snapshot_error>(
      [&] { run_guarded("bad.h5", limits, []() -> std::string { throw snapshot_error("bad.h5: the reason"); }); });
  EXPECT_EQ(refused, "bad.h5: the reason");
}

TEST_F(SnapshotTest, CommandsSayADirectoryIsOne) {
  EXPECT_NE(error_message<snapshot_error>([&] { load_snapshot(dir_.path()); }).find("is a directory"), std::string::npos);
  const auto shown = testing::run_trackbench("show '" + dir_.path().string() + "'");
  EXPECT_EQ(shown.exit_code, 2) << shown.output;
  EXPECT_NE(shown.output.find(dir_.path().string() + ": is a directory"), std::string::npos) << shown.output;
}

TEST_F(SnapshotTest, LoadingWithArraysChecksEveryWeightBeforeAnythingElse) {
  const auto path = write(2);
  with_file(path, [](hid_t file) {
    const hid_t set = H5Dopen2(file, "weights/epoch_0002/fc2.bias", H5P_DEFAULT);
    const std::vector<float> zeros(10, 0.0f);
    H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros.data());
    H5Dclose(set);
  });
  EXPECT_NO_THROW(load_snapshot(path));  // the record alone is intact
  const std::string message = error_message<snapshot_error>([&] { load_snapshot(path, read_depth::arrays); });
  EXPECT_NE(message.find("weights/epoch_0002/fc2.bias does not match its SHA-256"), std::string::npos) << message;
}

}  // namespace
}  // namespace trackbench::tracking
