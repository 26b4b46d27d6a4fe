#include <gtest/gtest.h>

#include "support/sample_records.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/tracking/format/snapshot_writer.h"
#include "trackbench/tracking/recording/reproduce.h"

namespace trackbench::tracking {
namespace {

using json = nlohmann::ordered_json;
using testing::make_metrics;
using testing::make_parameters;
using testing::make_state;
using testing::sample_run_record;

// A completed two-epoch snapshot of the sample record, its config changed by `config` and
// epoch 2's test loss and accuracy by `loss_change` and `accuracy_change`.
std::filesystem::path write_run(const std::filesystem::path& path, const json& config, double loss_change = 0.0,
                                double accuracy_change = 0.0) {
  auto record = sample_run_record();
  record.config.update(config);
  snapshot_writer writer(path, record);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    auto metrics = make_metrics(epoch);
    if (epoch == 2) {
      metrics.test.loss += loss_change;
      metrics.test.accuracy -= accuracy_change;
    }
    const auto parameters = make_parameters(epoch);
    writer.append_epoch(metrics, parameters, make_state(epoch, parameters));
  }
  writer.finish("completed", "");
  return path;
}

TEST(Reproduce, OnlyFactsThatCanChangeAResultCount) {
  for (const char* field : {"code.commit", "code.build_commit", "environment.cpu_model", "environment.cxx_flags",
                            "environment.libtorch_version", "environment.cudnn_version", "environment.gpus[0].name"}) {
    EXPECT_TRUE(affects_results(field)) << field;
  }
  for (const char* field : {"environment.hostname", "environment.memory_bytes", "code.branch",
                            "environment.gpus[0].temperature", "config.seed"}) {
    EXPECT_FALSE(affects_results(field)) << field;
  }
}

TEST(Reproduce, ListsTheChangedFactsThatAffectResultsPrintably) {
  const auto then = sample_run_record();
  auto now = then;
  now.environment["cpu_model"] = "Other CPU\x1b[2J";
  now.environment["hostname"] = "elsewhere";  // does not change a result
  now.code["commit"] = "abc123";
  const auto changes = result_affecting_changes(then, now);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0], "code.commit: recorded 'unknown', now 'abc123'");
  EXPECT_EQ(changes[1], "environment.cpu_model: recorded 'Fuzz CPU', now 'Other CPU\\x1b[2J'");
  EXPECT_TRUE(result_affecting_changes(then, then).empty());
}

TEST(Reproduce, AnIdenticalRunIsBitwiseAndEveryEpochIsChecked) {
  testing::temp_dir dir;
  const snapshot_reader original(write_run(dir.path() / "a.h5", json::object()));
  const snapshot_reader repeated(write_run(dir.path() / "b.h5", json::object()));
  const auto result = check_reproduction(original, repeated);
  EXPECT_EQ(result.verdict, reproduce_verdict::bitwise);
  EXPECT_TRUE(result.bitwise_expected);  // the sample is a CPU run
  EXPECT_EQ(result.run_id, "20261127T023755.120Z-0badf00d");
  ASSERT_EQ(result.epochs.size(), 2u);
  for (const auto& epoch : result.epochs) {
    EXPECT_TRUE(epoch.values);
    ASSERT_TRUE(epoch.digests.has_value());
    EXPECT_TRUE(*epoch.digests);
    EXPECT_TRUE(epoch.match.metrics_equal && epoch.match.weights_equal);
  }
  EXPECT_FALSE(result.weights_unchecked);
}

TEST(Reproduce, ACpuRunMustBeBitwiseWhileACudaRunHasTolerances) {
  testing::temp_dir dir;
  // A test loss 0.01 off at epoch 2: beyond bitwise, within the CUDA tolerances.
  const snapshot_reader cpu(write_run(dir.path() / "cpu.h5", json::object()));
  const snapshot_reader cpu_off(write_run(dir.path() / "cpu-off.h5", json::object(), 0.01));
  const auto strict = check_reproduction(cpu, cpu_off);
  EXPECT_EQ(strict.verdict, reproduce_verdict::not_reproduced);
  EXPECT_FALSE(strict.epochs[1].match.metrics_equal);
  EXPECT_TRUE(strict.epochs[0].match.metrics_equal);

  const json cuda{{"device", "cuda"}, {"device_used", "cuda"}, {"deterministic", false}};
  const snapshot_reader gpu(write_run(dir.path() / "gpu.h5", cuda));
  const snapshot_reader gpu_off(write_run(dir.path() / "gpu-off.h5", cuda, 0.01));
  const auto tolerant = check_reproduction(gpu, gpu_off);
  EXPECT_FALSE(tolerant.bitwise_expected);
  EXPECT_EQ(tolerant.verdict, reproduce_verdict::within_tolerance);

  // Past either tolerance the CUDA run is not reproduced either.
  const snapshot_reader loss_far(write_run(dir.path() / "gpu-loss.h5", cuda, 2 * reproduce_loss_tolerance));
  EXPECT_EQ(check_reproduction(gpu, loss_far).verdict, reproduce_verdict::not_reproduced);
  const double accuracy_far = 2 * reproduce_accuracy_tolerance_points / 100.0;
  const snapshot_reader accuracy_off(write_run(dir.path() / "gpu-acc.h5", cuda, 0.0, accuracy_far));
  EXPECT_EQ(check_reproduction(gpu, accuracy_off).verdict, reproduce_verdict::not_reproduced);
}

}  // namespace
}  // namespace trackbench::tracking
