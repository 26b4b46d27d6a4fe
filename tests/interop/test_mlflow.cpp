// The MLflow export against a real `mlflow server` (SQLite backend, served artifacts) started
// here on 127.0.0.1, checked through MLflow's own REST API; and its failures.
#include <gtest/gtest.h>

#include "support/http_server.h"
#include "support/mlflow_server.h"
#include "trackbench/interop/mlflow.h"
#include "trackbench/tracking/format/snapshot_reader.h"

namespace trackbench::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

TEST_F(MlflowServer, ExportedRunHoldsParamsMetricsCommitAndDigestAndExportingTwiceChangesNothing) {
  const tracking::snapshot_reader reader(snapshot_);
  const auto& record = reader.record();
  const std::string run_id = record.identity["run_id"];
  const std::string export_command = "export mlflow " + quoted(snapshot_) + " --tracking-uri " + uri_ + " --experiment digits";

  const auto first = run_trackbench(export_command);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("created"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find(snapshot_.filename().string() + " uploaded"), std::string::npos) << first.output;

  const auto experiment = get(api("experiments/get-by-name?experiment_name=digits"))["experiment"];
  const std::string experiment_id = experiment["experiment_id"];
  const json search{{"experiment_ids", json::array({experiment_id})}, {"filter", "tags.`trackbench.run_id` = '" + run_id + "'"}};
  const auto found = post(api("runs/search"), search)["runs"];
  ASSERT_EQ(found.size(), 1u);
  const std::string mlflow_run = found[0]["info"]["run_id"];
  const auto run = get(api("runs/get?run_id=" + mlflow_run))["run"];

  EXPECT_EQ(run["info"]["status"], "FINISHED");
  EXPECT_EQ(run["info"]["run_name"], run_id);
  EXPECT_EQ(std::stoll(run["info"]["start_time"].dump()), interop::unix_millis(record.identity["start_time"], "start_time"));
  const auto params = key_values(run["data"]["params"]);
  EXPECT_EQ(params.size(), record.config.size());
  EXPECT_EQ(params.at("learning_rate"), record.config["learning_rate"].dump());
  EXPECT_EQ(params.at("optimizer"), record.config["optimizer"].get<std::string>());
  EXPECT_EQ(params.at("deterministic"), record.config["deterministic"].get<bool>() ? "true" : "false");
  const auto tags = key_values(run["data"]["tags"]);
  EXPECT_EQ(tags.at("mlflow.source.git.commit"), record.code["commit"].get<std::string>());
  EXPECT_EQ(tags.at("mlflow.source.type"), "LOCAL");
  EXPECT_EQ(tags.at("trackbench.run_id"), run_id);
  EXPECT_EQ(tags.at("trackbench.data.digest"), record.data["content_sha256"].get<std::string>());
  EXPECT_EQ(tags.at("trackbench.git.dirty"), record.code["tree"] == "dirty" ? "true" : "false");
  EXPECT_EQ(tags.at("trackbench.device"), record.environment["cpu_model"].get<std::string>());
  EXPECT_EQ(tags.at("trackbench.conv"), record.config["conv"].get<std::string>());
  EXPECT_EQ(tags.at("trackbench.tag.owner"), "ml");
  ASSERT_EQ(run["inputs"]["dataset_inputs"].size(), 1u);
  const auto& dataset = run["inputs"]["dataset_inputs"][0]["dataset"];
  EXPECT_EQ(dataset["name"], record.data["name"].get<std::string>());
  EXPECT_EQ(dataset["digest"], record.data["content_sha256"].get<std::string>().substr(0, 36));  // MLflow's maximum
  EXPECT_EQ(json::parse(dataset["profile"].get<std::string>())["content_sha256"],
            record.data["content_sha256"].get<std::string>());

  const auto history = [&](const std::string& key) {
    return get(api("metrics/get-history?run_id=" + mlflow_run + "&metric_key=" + key))["metrics"];
  };
  const auto accuracy = history("test_accuracy");
  ASSERT_EQ(accuracy.size(), 2u);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    EXPECT_EQ(accuracy[epoch - 1]["step"].get<std::int64_t>(), epoch);
    EXPECT_DOUBLE_EQ(accuracy[epoch - 1]["value"].get<double>(), record.epochs[epoch - 1].test.accuracy);
  }
  EXPECT_LT(accuracy[0]["timestamp"].get<std::int64_t>(), accuracy[1]["timestamp"].get<std::int64_t>());
  EXPECT_EQ(history("train_loss").size(), 2u);
  EXPECT_EQ(history("images_per_second").size(), 2u);
  // Recorded once per run: one value at step 0; a target not reached (none here) has no time.
  const auto warmup = history("warmup_seconds");
  ASSERT_EQ(warmup.size(), 1u);
  EXPECT_DOUBLE_EQ(warmup[0]["value"].get<double>(), record.identity["warmup_seconds"].get<double>());
  EXPECT_TRUE(history("time_to_target_seconds").empty());
  EXPECT_EQ(params.at("precision"), "fp32");
  const auto artifacts = get(api("artifacts/list?run_id=" + mlflow_run))["files"];
  ASSERT_EQ(artifacts.size(), 1u);
  EXPECT_EQ(artifacts[0]["path"], snapshot_.filename().string());
  // The artifact is the snapshot packed: one self-contained file that holds the sidecar's epoch too.
  fs::path uploaded;
  for (const auto& entry : fs::recursive_directory_iterator(dir_->path() / "artifacts")) {
    if (entry.path().filename() == snapshot_.filename()) uploaded = entry.path();
  }
  ASSERT_FALSE(uploaded.empty()) << "no " << snapshot_.filename() << " under the server's artifacts";
  EXPECT_EQ(std::stoll(artifacts[0]["file_size"].dump()), static_cast<long long>(fs::file_size(uploaded)));
  EXPECT_GT(fs::file_size(uploaded), fs::file_size(snapshot_));
  const auto alone = dir_->path() / "alone" / snapshot_.filename();
  fs::create_directories(alone.parent_path());
  fs::copy_file(uploaded, alone);
  const tracking::snapshot_reader packed(alone);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    const auto inside = packed.weights(epoch);
    const auto original = reader.weights(epoch);
    ASSERT_EQ(inside.size(), original.size()) << "epoch " << epoch;
    for (std::size_t i = 0; i < inside.size(); ++i) {
      EXPECT_EQ(inside[i].name, original[i].name);
      EXPECT_EQ(inside[i].bytes, original[i].bytes) << "epoch " << epoch << " " << inside[i].name;
    }
  }

  const auto second = run_trackbench(export_command);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("found (exported before): 0 metric values, 0 params"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("already uploaded"), std::string::npos) << second.output;
  EXPECT_EQ(post(api("runs/search"), search)["runs"].size(), 1u);
  EXPECT_EQ(history("test_accuracy"), accuracy);
  EXPECT_EQ(history("train_loss").size(), 2u);
  EXPECT_EQ(get(api("runs/get?run_id=" + mlflow_run))["run"]["inputs"]["dataset_inputs"].size(), 1u);

  // A request the server refuses: MLflow allows experiment names of at most 500 characters.
  const auto refused = run_trackbench("export mlflow " + quoted(snapshot_) + " --tracking-uri " + uri_ +
                                      " --experiment " + std::string(600, 'x'));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("experiments/create answered HTTP 400: INVALID_PARAMETER_VALUE"), std::string::npos)
      << refused.output;
}

// A run stopped by its --target: the epoch that reached it and the time to it are metrics at
// step 0 with the recorded values, and the target itself is a param.
TEST_F(MlflowServer, ARunThatReachedItsTargetExportsTheEpochAndTheTimeToIt) {
  const auto out = dir_->path() / "targeted";
  const auto trained = run_trackbench("-q train --data-dir " + quoted(dir_->path() / "data") +
                                      " --device cpu --threads 2 --epochs 3 --target test_accuracy:0.05 --keep-weights none"
                                      " --out " + quoted(out));
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  fs::path snapshot;
  for (const auto& entry : fs::directory_iterator(out)) {
    if (entry.path().extension() == ".h5") snapshot = entry.path();
  }
  ASSERT_FALSE(snapshot.empty()) << "no snapshot in " << out;
  const tracking::snapshot_reader reader(snapshot);
  const auto& record = reader.record();
  ASSERT_EQ(record.epochs.size(), 1u) << "5% test accuracy is reached in the first epoch, and the run stops there";
  ASSERT_EQ(record.identity["target_reached_epoch"].get<std::int64_t>(), 1);
  const double seconds = record.identity["time_to_target_seconds"].get<double>();
  ASSERT_GT(seconds, 0.0);

  const auto exported = run_trackbench("export mlflow " + quoted(snapshot) + " --tracking-uri " + uri_ + " --experiment targets");
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  const std::string experiment_id = get(api("experiments/get-by-name?experiment_name=targets"))["experiment"]["experiment_id"];
  const json search{{"experiment_ids", json::array({experiment_id})},
                    {"filter", "tags.`trackbench.run_id` = '" + record.identity["run_id"].get<std::string>() + "'"}};
  const auto found = post(api("runs/search"), search)["runs"];
  ASSERT_EQ(found.size(), 1u);
  const std::string mlflow_run = found[0]["info"]["run_id"];
  const auto history = [&](const std::string& key) {
    return get(api("metrics/get-history?run_id=" + mlflow_run + "&metric_key=" + key))["metrics"];
  };
  const auto time_to_target = history("time_to_target_seconds");
  ASSERT_EQ(time_to_target.size(), 1u);
  EXPECT_EQ(time_to_target[0]["step"].get<std::int64_t>(), 0);
  EXPECT_DOUBLE_EQ(time_to_target[0]["value"].get<double>(), seconds);
  const auto reached_epoch = history("target_reached_epoch");
  ASSERT_EQ(reached_epoch.size(), 1u);
  EXPECT_EQ(reached_epoch[0]["step"].get<std::int64_t>(), 0);
  EXPECT_DOUBLE_EQ(reached_epoch[0]["value"].get<double>(), 1.0);
  const auto warmup = history("warmup_seconds");
  ASSERT_EQ(warmup.size(), 1u);
  EXPECT_DOUBLE_EQ(warmup[0]["value"].get<double>(), record.identity["warmup_seconds"].get<double>());
  const auto run = get(api("runs/get?run_id=" + mlflow_run))["run"];
  EXPECT_EQ(key_values(run["data"]["params"]).at("target"), "test_accuracy:0.05");
}

TEST_F(ExportSnapshot, AServerAnsweringAnErrorGivesItsStatusAndErrorCode) {
  local_http_server failing;
  failing.answer_every_request("500 Internal Server Error",
                               R"({"error_code": "INTERNAL_ERROR", "message": "database is locked"})");
  const auto result = run_trackbench("export mlflow " + quoted(snapshot_) + " --tracking-uri " + failing.url());
  EXPECT_EQ(result.exit_code, 1) << result.output;
  const std::string address = failing.url("");
  for (const std::string expected : {"MLflow at " + address + ": GET /api/2.0/mlflow/experiments/get-by-name answered HTTP 500",
                                     std::string("INTERNAL_ERROR: database is locked")}) {
    EXPECT_NE(result.output.find(expected), std::string::npos) << expected << "\n" << result.output;
  }
}

// Every snapshot the export did not get to is named, the one it failed on included.
TEST_F(ExportSnapshot, AServerThatIsDownIsReportedWithItsAddressAndEverySnapshotNotExported) {
  const auto uri = "http://127.0.0.1:" + std::to_string(free_port());
  const auto copy = dir_->path() / "copy.h5";
  fs::copy_file(snapshot_, copy, fs::copy_options::overwrite_existing);
  const auto result = run_trackbench("export mlflow " + quoted(snapshot_) + " " + quoted(copy) + " --tracking-uri " + uri);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("MLflow at " + uri + ": cannot reach the server"), std::string::npos) << result.output;
  for (const auto& path : {snapshot_, copy}) {
    EXPECT_NE(result.output.find("not exported: " + path.string()), std::string::npos) << result.output;
  }
}

TEST(Mlflow, BadUriIsBadInput) {
  const auto result = run_trackbench("export mlflow x.h5 --tracking-uri ftp://example.org");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("--tracking-uri 'ftp://example.org'"), std::string::npos) << result.output;
}

TEST(Mlflow, LogBatchRequestsKeepWithinEveryLimit) {
  json metrics = json::array(), params = json::array(), tags = json::array();
  for (int i = 0; i < 2500; ++i) metrics.push_back({{"key", "m" + std::to_string(i % 7)}, {"value", i}, {"timestamp", 0}, {"step", i}});
  for (int i = 0; i < 130; ++i) params.push_back({{"key", "p" + std::to_string(i)}, {"value", "v"}});
  for (int i = 0; i < 250; ++i) tags.push_back({{"key", "t" + std::to_string(i)}, {"value", std::string(5000, 'x')}});
  const auto requests = interop::log_batch_requests("r1", metrics, params, tags);
  std::size_t metric_count = 0, param_count = 0, tag_count = 0;
  for (const auto& request : requests) {
    EXPECT_EQ(request["run_id"], "r1");
    EXPECT_LE(request["metrics"].size(), 1000u);
    EXPECT_LE(request["params"].size(), 100u);
    EXPECT_LE(request["tags"].size(), 100u);
    EXPECT_LE(request["metrics"].size() + request["params"].size() + request["tags"].size(), 1000u);
    EXPECT_LE(request.dump().size(), 1000u * 1000u);
    metric_count += request["metrics"].size();
    param_count += request["params"].size();
    tag_count += request["tags"].size();
  }
  EXPECT_EQ(metric_count, 2500u);
  EXPECT_EQ(param_count, 130u);
  EXPECT_EQ(tag_count, 250u);
  // 250 tags of 5 kB: the 1 MB limit, not the 100-tag one, splits them; order is kept.
  EXPECT_GE(requests.size(), 5u);
  EXPECT_EQ(requests.front()["tags"][0]["key"], "t0");
  EXPECT_EQ(requests.back()["metrics"].back()["step"], 2499);
}

TEST(Mlflow, TimesAndStatus) {
  EXPECT_EQ(interop::unix_millis("1970-01-01T00:00:01.250Z", "t"), 1250);
  EXPECT_EQ(interop::unix_millis("2026-11-27T02:37:55.120Z", "t"), 1795747075120);
  EXPECT_THROW(interop::unix_millis("27/11/2026", "start_time"), input_error);
  tracking::run_record record;
  record.identity = {{"status", "completed"}};
  EXPECT_EQ(interop::mlflow_status(record), "FINISHED");
  record.identity["status"] = "failed";
  EXPECT_EQ(interop::mlflow_status(record), "FAILED");
  record.identity["status"] = "running";  // killed
  EXPECT_EQ(interop::mlflow_status(record), "KILLED");
}

}  // namespace
}  // namespace trackbench::testing
