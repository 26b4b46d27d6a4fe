// End to end: real training runs of the trackbench executable, recorded, killed, resumed,
// reproduced and compared, on 640 real digits so each run takes seconds.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <thread>

#include "support/idx_files.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/tracking/format/weights_policy.h"

extern char** environ;

namespace trackbench::testing {
namespace {

namespace fs = std::filesystem;
using tracking::snapshot_reader;

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

// Snapshots in `dir`, oldest first (run ids sort by start time).
std::vector<fs::path> snapshots(const fs::path& dir) {
  std::vector<fs::path> found;
  if (!fs::exists(dir)) return found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() == ".h5" && name.front() != '.') found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Starts trackbench in the background; `exec` makes the pid trackbench's own.
pid_t spawn_trackbench(const std::string& arguments) {
  const std::string command = std::string("exec '") + TRACKBENCH_EXECUTABLE + "' " + arguments + " >/dev/null 2>&1 </dev/null";
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = -1;
  if (::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) return -1;
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Waits until the single snapshot in `dir` holds at least `epochs` epochs (0: until it exists).
fs::path wait_for_epochs(const fs::path& dir, std::size_t epochs) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto found = snapshots(dir);
    if (!found.empty()) {
      try {
        if (snapshot_reader(found.front()).record().epochs.size() >= epochs) return found.front();
      } catch (const tracking::snapshot_error&) {
        // Never expected: every version of the file is complete. Reported by the caller's read.
        return found.front();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "no snapshot with " << epochs << " epochs appeared in " << dir;
  return {};
}

class Runs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new temp_dir();
    write_sample_subset(data_->path(), 640, 200);
  }
  static void TearDownTestSuite() { delete data_; }

  static std::string train(const fs::path& out, int epochs, const std::string& extra = "") {
    return "-q train --data-dir " + quoted(data_->path()) + " --device cpu --threads 2 --epochs " +
           std::to_string(epochs) + " --out " + quoted(out) + " " + extra;
  }

  // Trains to completion and returns the snapshot.
  fs::path trained(const std::string& name, int epochs, const std::string& extra = "") {
    const auto out = dir_ / name;
    const auto result = run_trackbench(train(out, epochs, extra));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    const auto found = snapshots(out);
    EXPECT_EQ(found.size(), 1u) << result.output;
    return found.empty() ? fs::path() : found.front();
  }

  static temp_dir* data_;
  temp_dir dir_;
};

temp_dir* Runs::data_ = nullptr;

TEST_F(Runs, TrainThenReproduceIsBitwiseEqualOnCpu) {
  const auto original = trained("original", 2, "--tag purpose=ci --tag owner=ml");
  const auto show = run_trackbench("show " + quoted(original));
  EXPECT_EQ(show.exit_code, 0) << show.output;
  for (const char* text : {"status                   completed", "purpose", "content_sha256", "epochs", "test_acc"}) {
    EXPECT_NE(show.output.find(text), std::string::npos) << text << "\n" << show.output;
  }
  const auto listing = run_trackbench("ls " + quoted(original.parent_path()));
  EXPECT_EQ(listing.exit_code, 0) << listing.output;
  EXPECT_NE(listing.output.find(original.stem().string() + " "), std::string::npos) << listing.output;

  const auto out = dir_ / "reproduced";
  const auto result = run_trackbench("-q reproduce " + quoted(original) + " --out " + quoted(out));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("    1  metrics bitwise equal"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("    2  metrics bitwise equal"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("reproduced: every epoch's metrics and weights are bitwise equal"), std::string::npos);
  const auto found = snapshots(out);
  ASSERT_EQ(found.size(), 1u);
  const snapshot_reader parent(original);
  const snapshot_reader child(found.front());
  EXPECT_EQ(child.record().identity["origin"], "reproduce");
  EXPECT_EQ(child.record().identity["parent_run_id"], parent.record().identity["run_id"]);
  EXPECT_EQ(parent.record().tags["owner"], "ml");
}

TEST_F(Runs, ReferenceConvIsRecordedAndReproducesBitwise) {
  const auto original = trained("reference", 1, "--conv reference");
  EXPECT_EQ(snapshot_reader(original).record().config["conv"], "reference");
  const auto result = run_trackbench("-q reproduce " + quoted(original) + " --out " + quoted(dir_ / "reproduced"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("reproduced: every epoch's metrics and weights are bitwise equal"), std::string::npos)
      << result.output;
}

TEST_F(Runs, ShowJsonCarriesTheWholeRecord) {
  const auto path = trained("json", 1);
  const auto result = run_trackbench("show --json " + quoted(path) + " 2>/dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto document = nlohmann::json::parse(result.output);
  EXPECT_EQ(document["status"], "completed");
  EXPECT_EQ(document["config"]["epochs"], 1);
  EXPECT_EQ(document["data"]["train_count"], 640);
  EXPECT_EQ(document["epochs"].size(), 1u);
  EXPECT_EQ(document["epochs"][0]["test_confusion"].size(), 10u);
  EXPECT_TRUE(document["environment"]["gpus"].is_array());
}

// The record without weights: small, shown as such, refused by resume, reproduced on metrics.
TEST_F(Runs, KeepWeightsNoneIsSmallCannotResumeAndReproducesOnMetrics) {
  const auto path = trained("metrics-only", 2, "--keep-weights none");
  const snapshot_reader reader(path);
  EXPECT_FALSE(tracking::keeps_weights(reader.record()));
  EXPECT_FALSE(reader.state().has_value());
  EXPECT_EQ(reader.record().epochs.size(), 2u);
  EXPECT_LT(fs::file_size(path), 1u << 20);

  const auto show = run_trackbench("show " + quoted(path));
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_NE(show.output.find("keep_weights             none"), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("not kept (--keep-weights none)"), std::string::npos) << show.output;

  const auto resume = run_trackbench("train --resume " + quoted(path));
  EXPECT_EQ(resume.exit_code, 2) << resume.output;
  EXPECT_NE(resume.output.find("keeps no state to resume from"), std::string::npos) << resume.output;
  EXPECT_NE(resume.output.find("--keep-weights none"), std::string::npos) << resume.output;

  const auto out = dir_ / "reproduced";
  const auto result = run_trackbench("-q reproduce " + quoted(path) + " --out " + quoted(out));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("    2  metrics bitwise equal"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("weights bitwise equal (digests; values not kept)"), std::string::npos) << result.output;
  const auto found = snapshots(out);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(tracking::keeps_weights(snapshot_reader(found.front()).record()));
}

// The --keep-weights policies the crash, signal, disk and resume tests run under.
const std::vector<std::string> keeping_policies{"all", "last", "best", "every:2"};

// What a killed or stopped run's snapshot must be: readable with no repair step, every kept
// epoch's weights (in the file or a sidecar) and the state to resume from it intact.
void expect_whole_epochs(const fs::path& path) {
  const snapshot_reader reader(path);
  const auto& record = reader.record();
  for (const int epoch : reader.weight_epochs()) EXPECT_NO_THROW(reader.weights(epoch)) << path << " epoch " << epoch;
  for (int epoch = 1; epoch <= static_cast<int>(record.epochs.size()); ++epoch) {
    EXPECT_FALSE(reader.parameter_digests(epoch).empty()) << path << " epoch " << epoch;
  }
  if (tracking::keeps_weights(record) && !record.epochs.empty()) {
    EXPECT_EQ(reader.state()->epochs_done, static_cast<std::int64_t>(record.epochs.size()));
  }
  EXPECT_TRUE(reader.missing_sidecars().empty()) << path;
}

// SIGKILL when the file has just appeared, right after an epoch, and during a later epoch or
// its write: every time the file opens, says "running" and holds whole epochs only, whatever
// the policy.
TEST_F(Runs, KilledRunsLeaveASnapshotHoldingEveryCompletedEpoch) {
  struct kill_point {
    std::size_t epochs_seen;
    int extra_ms;
    std::string policy;
  };
  std::vector<kill_point> points{{0, 0, "last"}, {1, 0, "last"}, {2, 150, "last"}, {2, 400, "last"}};
  for (const auto& policy : {"all", "best", "every:2", "none"}) {
    points.push_back({1, 0, policy});
    points.push_back({2, 150, policy});
  }
  int index = 0;
  for (const auto& point : points) {
    SCOPED_TRACE("--keep-weights " + point.policy + " killed after " + std::to_string(point.epochs_seen) + " epochs + " +
                 std::to_string(point.extra_ms) + " ms");
    const auto out = dir_ / ("killed-" + std::to_string(index++));
    const pid_t pid = spawn_trackbench(train(out, 5, "--keep-weights " + point.policy));
    ASSERT_GT(pid, 0);
    const auto path = wait_for_epochs(out, point.epochs_seen);
    std::this_thread::sleep_for(std::chrono::milliseconds(point.extra_ms));
    ::kill(pid, SIGKILL);
    EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
    ASSERT_FALSE(path.empty());
    const snapshot_reader reader(path);
    const auto& record = reader.record();
    EXPECT_EQ(record.identity["status"], "running");
    EXPECT_EQ(tracking::displayed_status(record), "interrupted");
    EXPECT_GE(record.epochs.size(), point.epochs_seen);
    EXPECT_LT(record.epochs.size(), 5u);
    expect_whole_epochs(path);
    const auto listing = run_trackbench("ls " + quoted(out));
    EXPECT_EQ(listing.exit_code, 0) << listing.output;
    EXPECT_NE(listing.output.find("interrupted"), std::string::npos) << listing.output;
  }
}

TEST_F(Runs, ResumeAfterSigkillEndsBitwiseEqualToAnUninterruptedRun) {
  for (const auto& policy : keeping_policies) {
    SCOPED_TRACE("--keep-weights " + policy);
    const std::string flag = "--keep-weights " + policy;
    const auto uninterrupted = trained("uninterrupted-" + policy, 3, flag);

    const auto out = dir_ / ("crashed-" + policy);
    const pid_t pid = spawn_trackbench(train(out, 3, flag));
    ASSERT_GT(pid, 0);
    const auto crashed = wait_for_epochs(out, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // into epoch 2
    ::kill(pid, SIGKILL);
    wait_exit(pid);
    const auto done = snapshot_reader(crashed).record().epochs.size();
    ASSERT_GE(done, 1u);
    ASSERT_LT(done, 3u) << "the run finished before the kill";

    const auto resumed_dir = dir_ / ("resumed-" + policy);
    const auto result = run_trackbench("-q train --resume " + quoted(crashed) + " --out " + quoted(resumed_dir));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const auto found = snapshots(resumed_dir);
    ASSERT_EQ(found.size(), 1u);
    const snapshot_reader resumed(found.front());
    const snapshot_reader reference(uninterrupted);
    EXPECT_EQ(resumed.record().identity["origin"], "resume");
    EXPECT_EQ(resumed.record().config["keep_weights"], policy);
    EXPECT_EQ(resumed.record().identity["parent_run_id"], snapshot_reader(crashed).record().identity["run_id"]);
    EXPECT_EQ(resumed.record().identity["resumed_from_epoch"], static_cast<std::int64_t>(done));
    ASSERT_EQ(resumed.record().epochs.size(), 3u);
    EXPECT_EQ(resumed.weight_epochs(), reference.weight_epochs());
    for (int epoch = 1; epoch <= 3; ++epoch) {
      EXPECT_EQ(resumed.parameter_digests(epoch), reference.parameter_digests(epoch)) << "epoch " << epoch;
      EXPECT_EQ(reference.record().epochs[epoch - 1].test.loss, resumed.record().epochs[epoch - 1].test.loss);
      if (!reference.has_weights(epoch)) continue;
      const auto want = reference.weights(epoch);
      const auto got = resumed.weights(epoch);
      ASSERT_EQ(want.size(), got.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(want[i].bytes, got[i].bytes) << "epoch " << epoch << " " << want[i].name;
      }
    }
  }
}

// --target stops after the first epoch that reaches it, records when, and is shown, listed,
// compared and reproduced; a run that misses it says so.
TEST_F(Runs, TargetStopsAtTheFirstEpochThatReachesItAndIsRecorded) {
  // The same config without a target: CPU runs are bitwise repeatable, so its history says
  // where the targeted run must stop.
  const auto full = trained("full", 3);
  const auto& history = snapshot_reader(full).record().epochs;
  ASSERT_EQ(history.size(), 3u);
  const double goal = history[1].test.accuracy;
  std::size_t expected = 0;
  while (history[expected].test.accuracy < goal) ++expected;
  char target[64];
  std::snprintf(target, sizeof target, "test_accuracy:%.17g", goal);

  const auto path = trained("targeted", 3, std::string("--target ") + target);
  {
    const snapshot_reader reader(path);
    const auto& record = reader.record();
    ASSERT_EQ(record.epochs.size(), expected + 1);
    EXPECT_EQ(record.identity["status"], "completed");
    EXPECT_EQ(record.identity["target_reached_epoch"], static_cast<std::int64_t>(expected + 1));
    double seconds = record.identity["warmup_seconds"].get<double>();
    for (const auto& epoch : record.epochs) seconds += epoch.epoch_seconds;
    EXPECT_DOUBLE_EQ(record.identity["time_to_target_seconds"].get<double>(), seconds);
    EXPECT_EQ(record.epochs.back().test.accuracy, goal);
    EXPECT_EQ(record.config["precision"], "fp32");
  }

  const auto show = run_trackbench("show " + quoted(path));
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_NE(show.output.find("reached at epoch " + std::to_string(expected + 1)), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("warmup_seconds"), std::string::npos) << show.output;

  const auto missed = trained("missed", 2, "--target test_loss:0");
  EXPECT_EQ(snapshot_reader(missed).record().epochs.size(), 2u);
  EXPECT_EQ(snapshot_reader(missed).record().identity["target_reached_epoch"], 0);
  const auto show_missed = run_trackbench("show " + quoted(missed));
  EXPECT_NE(show_missed.output.find("test_loss:0 not reached in 2 epochs"), std::string::npos) << show_missed.output;
  const auto listing = run_trackbench("ls " + quoted(missed.parent_path()));
  EXPECT_NE(listing.output.find("missed"), std::string::npos) << listing.output;
  EXPECT_NE(listing.output.find("to target"), std::string::npos) << listing.output;

  // Reproduced with its target: the same epochs, bitwise, and the same stop.
  const auto out = dir_ / "reproduced";
  const auto reproduce = run_trackbench("-q reproduce " + quoted(path) + " --out " + quoted(out));
  EXPECT_EQ(reproduce.exit_code, 0) << reproduce.output;
  EXPECT_NE(reproduce.output.find("reproduced: every epoch's metrics and weights are bitwise equal"), std::string::npos)
      << reproduce.output;
  const auto repeated = snapshots(out);
  ASSERT_EQ(repeated.size(), 1u);
  EXPECT_EQ(snapshot_reader(repeated.front()).record().identity["target_reached_epoch"],
            static_cast<std::int64_t>(expected + 1));
  EXPECT_EQ(snapshot_reader(repeated.front()).record().config["target"], snapshot_reader(path).record().config["target"]);

  // Compared on the time to it; a run that missed it has none to compare.
  const auto compare = run_trackbench("compare " + quoted(path) + " " + quoted(repeated.front()) +
                                      " --fail-on time_to_target_seconds:+100000%");
  EXPECT_EQ(compare.exit_code, 0) << compare.output;
  EXPECT_NE(compare.output.find("time_to_target_seconds"), std::string::npos) << compare.output;
  const auto against_missed = run_trackbench("compare " + quoted(path) + " " + quoted(missed) +
                                             " --fail-on time_to_target_seconds:+10%");
  EXPECT_EQ(against_missed.exit_code, 2) << against_missed.output;
  EXPECT_NE(against_missed.output.find("records no time_to_target_seconds"), std::string::npos) << against_missed.output;

  // It stopped on purpose: there is nothing to resume.
  const auto resume = run_trackbench("train --resume " + quoted(path));
  EXPECT_EQ(resume.exit_code, 2) << resume.output;
  EXPECT_NE(resume.output.find("reached its target"), std::string::npos) << resume.output;
}

TEST_F(Runs, SigintAndSigtermFinishTheWriteAndMarkTheRunInterrupted) {
  std::vector<std::string> policies = keeping_policies;
  policies.push_back("none");
  for (const auto& policy : policies) {
    for (const int signal : {SIGINT, SIGTERM}) {
      SCOPED_TRACE("--keep-weights " + policy + ", signal " + std::to_string(signal));
      const auto out = dir_ / ("stopped-" + policy + "-" + std::to_string(signal));
      const pid_t pid = spawn_trackbench(train(out, 5, "--keep-weights " + policy));
      ASSERT_GT(pid, 0);
      const auto path = wait_for_epochs(out, 1);
      ::kill(pid, signal);
      EXPECT_EQ(wait_exit(pid), 128 + signal);
      const snapshot_reader reader(path);
      EXPECT_EQ(reader.record().identity["status"], "interrupted");
      EXPECT_NE(reader.record().identity["error"].get<std::string>().find("stopped by a signal"), std::string::npos);
      EXPECT_NE(reader.record().identity["end_time"], "");
      EXPECT_GE(reader.record().epochs.size(), 1u);
      EXPECT_LT(reader.record().epochs.size(), 5u);
      expect_whole_epochs(path);
    }
  }
}

TEST_F(Runs, CompareFailsOnAnInjectedAccuracyRegressionAndPassesOtherwise) {
  const auto baseline = trained("baseline", 2);
  const auto same = trained("same", 2);
  const auto regressed = trained("regressed", 2, "--lr 0.00002");  // the injected regression
  const auto pass = run_trackbench("compare " + quoted(baseline) + " " + quoted(same) + " --fail-on test_acc:-0.5");
  EXPECT_EQ(pass.exit_code, 0) << pass.output;
  EXPECT_NE(pass.output.find("pass  test_acc:-0.5"), std::string::npos) << pass.output;

  const auto fail = run_trackbench("compare " + quoted(baseline) + " " + quoted(regressed) +
                                   " --fail-on test_acc:-0.5 --fail-on epoch_seconds:+1000%");
  EXPECT_EQ(fail.exit_code, 1) << fail.output;
  EXPECT_NE(fail.output.find("FAIL  test_acc:-0.5"), std::string::npos) << fail.output;
  EXPECT_NE(fail.output.find("pass  epoch_seconds:+1000%"), std::string::npos) << fail.output;
  EXPECT_NE(fail.output.find("config.learning_rate"), std::string::npos) << fail.output;

  const auto json = run_trackbench("compare --json " + quoted(baseline) + " " + quoted(regressed) +
                                   " --fail-on test_acc:-0.5 2>/dev/null");
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_FALSE(nlohmann::json::parse(json.output)["passed"].get<bool>());

  const auto bad_rule = run_trackbench("compare " + quoted(baseline) + " " + quoted(same) + " --fail-on test_acc=0.5");
  EXPECT_EQ(bad_rule.exit_code, 2) << bad_rule.output;
  EXPECT_NE(bad_rule.output.find("--fail-on 'test_acc=0.5'"), std::string::npos) << bad_rule.output;
}

TEST_F(Runs, BadSnapshotsAndFlagsExitWithCode2) {
  const auto good = trained("good", 1);
  const auto cut = dir_ / "good" / "cut.h5";
  fs::copy_file(good, cut);
  fs::resize_file(cut, fs::file_size(good) / 2);
  for (const std::string command : {"show " + quoted(cut), "reproduce " + quoted(cut), "train --resume " + quoted(cut),
                                    "compare " + quoted(good) + " " + quoted(cut)}) {
    const auto result = run_trackbench(command);
    EXPECT_EQ(result.exit_code, 2) << command << "\n" << result.output;
    EXPECT_NE(result.output.find(cut.string()), std::string::npos) << command << "\n" << result.output;
  }
  const auto listing = run_trackbench("ls " + quoted(dir_ / "good"));
  EXPECT_EQ(listing.exit_code, 2) << listing.output;
  EXPECT_NE(listing.output.find(good.stem().string()), std::string::npos) << listing.output;

  const auto finished = run_trackbench("train --resume " + quoted(good));
  EXPECT_EQ(finished.exit_code, 2);
  EXPECT_NE(finished.output.find("nothing to resume"), std::string::npos) << finished.output;
  const auto mixed = run_trackbench("train --resume " + quoted(good) + " --lr 0.1");
  EXPECT_EQ(mixed.exit_code, 2);
  EXPECT_NE(mixed.output.find("--lr cannot be combined with --resume"), std::string::npos) << mixed.output;
  const auto tag = run_trackbench(train(dir_ / "tagged", 1, "--tag 'no equals'"));
  EXPECT_EQ(tag.exit_code, 2);
  EXPECT_NE(tag.output.find("--tag 'no equals'"), std::string::npos) << tag.output;
}

TEST_F(Runs, ReproduceRefusesOtherDataUnlessAllowed) {
  const auto original = trained("data", 1);
  temp_dir other;
  write_sample_subset(other.path(), 600, 200);
  const auto refused = run_trackbench("reproduce " + quoted(original) + " --data-dir " + quoted(other.path()));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("content digest"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("--allow-data-mismatch"), std::string::npos) << refused.output;
  const auto allowed = run_trackbench("-q reproduce " + quoted(original) + " --data-dir " + quoted(other.path()) +
                                      " --allow-data-mismatch --out " + quoted(dir_ / "other-data"));
  EXPECT_EQ(allowed.exit_code, 1) << allowed.output;  // it runs, and on other data it cannot match
  EXPECT_NE(allowed.output.find("not reproduced"), std::string::npos) << allowed.output;
}

// A file size limit stands in for a full disk: the write fails and the run stops with a clear
// error, and the snapshot keeps what was written before. Every write is about one epoch's size
// whatever the epoch, so the limit lets the empty snapshot through and stops the first epoch's
// write (the writer's own test, test_snapshot, stops a later one).
TEST_F(Runs, AFullDiskStopsTheRunAndKeepsEarlierEpochs) {
  for (const auto& policy : keeping_policies) {
    SCOPED_TRACE("--keep-weights " + policy);
    const std::string flag = "--keep-weights " + policy;
    const auto out = dir_ / ("full-" + policy);
    const auto size_after_one_epoch = fs::file_size(trained("probe-" + policy, 1, flag));
    // ulimit -f counts 512-byte blocks in POSIX sh.
    const auto limit_blocks = size_after_one_epoch / 2 / 512;
    const auto result = run_command("trap '' XFSZ; ulimit -f " + std::to_string(limit_blocks) + "; exec '" +
                                    TRACKBENCH_EXECUTABLE + "' " + train(out, 3, flag));
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("writing snapshot"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("keeps its previous content (no epoch)"), std::string::npos) << result.output;
    const auto found = snapshots(out);
    ASSERT_EQ(found.size(), 1u);
    const snapshot_reader reader(found.front());
    EXPECT_EQ(reader.record().epochs.size(), 0u);
    EXPECT_EQ(reader.record().identity["status"], "running");
  }
}

// --keep-weights last keeps one epoch's weights however long the run: a 100-epoch snapshot is
// no larger than a 2-epoch one plus its 98 more metric rows and digests. (One step an epoch on
// 64 images, SGD without momentum, to keep 100 epochs cheap.)
TEST_F(Runs, KeepWeightsLastStaysTheSizeOfOneEpochsWeights) {
  const temp_dir tiny;
  write_sample_subset(tiny.path(), 64, 20);
  const auto run = [&](int epochs) {
    const auto out = dir_ / ("last-" + std::to_string(epochs));
    const auto result = run_trackbench("-q train --data-dir " + quoted(tiny.path()) +
                                       " --device cpu --threads 2 --optimizer sgd --momentum 0 --batch-size 64 "
                                       "--keep-weights last --epochs " + std::to_string(epochs) + " --out " + quoted(out));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    const auto found = snapshots(out);
    EXPECT_EQ(found.size(), 1u);
    EXPECT_FALSE(fs::exists(found.front().string() + ".epochs")) << "last writes no sidecar";
    return found.front();
  };
  const auto two = run(2);
  const auto hundred = run(100);
  const snapshot_reader reader(hundred);
  ASSERT_EQ(reader.record().epochs.size(), 100u);
  EXPECT_EQ(reader.weight_epochs(), std::vector<int>{100});
  // Per epoch: each metric column (8 bytes), two 10x10 int64 confusion matrices, a SHA-256
  // per parameter and one for the sidecar column; plus HDF5's index of the chunks they fill.
  const std::size_t parameters = reader.parameter_digests(1).size();
  const std::size_t row_bytes = 8 * 32 + 2 * 800 + 32 * (parameters + 1);
  const std::size_t chunk_index = 64 << 10;
  EXPECT_LE(fs::file_size(hundred), fs::file_size(two) + 98 * row_bytes + chunk_index)
      << "2 epochs: " << fs::file_size(two) << " bytes, 100 epochs: " << fs::file_size(hundred);
}

}  // namespace
}  // namespace trackbench::testing
