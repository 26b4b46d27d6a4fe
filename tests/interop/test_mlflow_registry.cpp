// Registering run snapshots in MLflow's Model Registry (export mlflow --register-model, --alias)
// against a real `mlflow server`, read back through MLflow's own REST API; and the checks made
// before any request: model names, aliases, snapshots without weights.
#include <gtest/gtest.h>

#include <functional>

#include "support/mlflow_server.h"
#include "trackbench/interop/mlflow_registry.h"
#include "trackbench/tracking/format/snapshot_reader.h"

namespace trackbench::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path only_snapshot_in(const fs::path& folder) {
  fs::path found;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().extension() == ".h5") found = entry.path();
  }
  return found;
}

// The MLflow run a snapshot was exported to, found by its trackbench run id.
std::string mlflow_run_of(const std::string& uri, const std::string& experiment, const std::string& run_id) {
  const std::string experiment_id =
      get(uri + "/api/2.0/mlflow/experiments/get-by-name?experiment_name=" + experiment)["experiment"]["experiment_id"];
  const json search{{"experiment_ids", json::array({experiment_id})}, {"filter", "tags.`trackbench.run_id` = '" + run_id + "'"}};
  const auto runs = post(uri + "/api/2.0/mlflow/runs/search", search)["runs"];
  return runs.size() == 1 ? runs[0]["info"]["run_id"].get<std::string>() : "";
}

// The digest of an epoch's weights from the weights' bytes themselves, not from the recorded digests.
std::string digest_of_weights(const tracking::snapshot_reader& reader, int epoch) {
  std::vector<tracking::parameter_digest> parameters;
  for (const auto& array : reader.weights(epoch)) parameters.push_back({array.name, array.sha256()});
  return interop::weights_digest(parameters);
}

// Run A (the suite's 2-epoch run, every epoch kept) becomes version 1 with alias champion,
// run B (1 epoch) version 2 taking the alias; exporting A again with --alias champion moves
// the alias back to version 1: the rollback.
TEST_F(MlflowServer, RegisteredVersionsCarryTheirSnapshotAndDigestsAndTheAliasMovesBackToAnOlderVersion) {
  const tracking::snapshot_reader reader_a(snapshot_);
  const auto& record_a = reader_a.record();
  const auto trained = run_trackbench("-q train --data-dir " + quoted(dir_->path() / "data") +
                                      " --device cpu --threads 2 --epochs 1 --seed 7 --out " + quoted(dir_->path() / "b"));
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const auto snapshot_b = only_snapshot_in(dir_->path() / "b");
  ASSERT_FALSE(snapshot_b.empty());
  const tracking::snapshot_reader reader_b(snapshot_b);

  const auto exporting = [&](const fs::path& snapshot, const std::string& flags) {
    return run_trackbench("export mlflow " + quoted(snapshot) + " --tracking-uri " + uri_ +
                          " --experiment registry --register-model digits-cnn " + flags);
  };
  const auto model_api = [&](const std::string& path) { return api("registered-models/" + path); };
  const auto version_api = [&](const std::string& version) {
    return get(api("model-versions/get?name=digits-cnn&version=" + version))["model_version"];
  };
  const auto champion = [&] { return get(model_api("alias?name=digits-cnn&alias=champion"))["model_version"]; };
  const auto version_count = [&] {
    return get(api("model-versions/search?filter=name%3D%27digits-cnn%27"))["model_versions"].size();
  };

  const auto first = exporting(snapshot_, "--alias champion");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("registered model 'digits-cnn' (created): version 1 created, alias champion -> version 1 (new)"),
            std::string::npos)
      << first.output;
  const auto run_a = mlflow_run_of(uri_, "registry", record_a.identity["run_id"]);
  ASSERT_FALSE(run_a.empty());

  const auto model = get(model_api("get?name=digits-cnn"))["registered_model"];
  EXPECT_EQ(model["name"], "digits-cnn");
  ASSERT_EQ(model["aliases"].size(), 1u) << model.dump();
  EXPECT_EQ(model["aliases"][0]["alias"], "champion");
  EXPECT_EQ(model["aliases"][0]["version"], "1");

  const auto v1 = version_api("1");
  EXPECT_EQ(v1["source"], "runs:/" + run_a + "/" + snapshot_.filename().string());
  EXPECT_EQ(v1["run_id"], run_a);
  EXPECT_EQ(v1.value("aliases", json::array()), json::array({"champion"}));
  const auto tags = key_values(v1["tags"]);
  EXPECT_EQ(tags.at("trackbench.run_id"), record_a.identity["run_id"].get<std::string>());
  EXPECT_EQ(tags.at("trackbench.snapshot"), snapshot_.filename().string());
  EXPECT_EQ(tags.at("trackbench.git.commit"), record_a.code["commit"].get<std::string>());
  EXPECT_EQ(tags.at("trackbench.data.digest"), record_a.data["content_sha256"].get<std::string>());
  EXPECT_EQ(tags.at("trackbench.weights.epoch"), "2");
  EXPECT_EQ(tags.at("trackbench.weights.sha256"), digest_of_weights(reader_a, 2));
  EXPECT_EQ(tags.at("trackbench.weights.epoch_2.sha256"), digest_of_weights(reader_a, 2));
  EXPECT_EQ(tags.at("trackbench.weights.epoch_1.sha256"), digest_of_weights(reader_a, 1));
  EXPECT_NE(tags.at("trackbench.weights.epoch_1.sha256"), tags.at("trackbench.weights.epoch_2.sha256"));
  const auto last_weights = reader_a.weights(2);
  ASSERT_FALSE(last_weights.empty());
  for (const auto& array : last_weights) {
    EXPECT_EQ(tags.at("trackbench.weights.parameter." + array.name + ".sha256"), array.sha256()) << array.name;
  }
  EXPECT_DOUBLE_EQ(std::stod(tags.at("trackbench.test_accuracy")), record_a.epochs[1].test.accuracy);

  // Exporting again registers nothing new; a tag changed on the server is set back.
  post(api("model-versions/set-tag"),
       {{"name", "digits-cnn"}, {"version", "1"}, {"key", "trackbench.git.commit"}, {"value", "edited"}});
  ASSERT_EQ(key_values(version_api("1")["tags"]).at("trackbench.git.commit"), "edited");
  const auto again = exporting(snapshot_, "--alias champion");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("version 1 found (registered before; 1 tags updated), alias champion -> version 1 (unchanged)"),
            std::string::npos)
      << again.output;
  EXPECT_EQ(version_count(), 1u);
  EXPECT_EQ(key_values(version_api("1")["tags"]).at("trackbench.git.commit"), record_a.code["commit"].get<std::string>());

  const auto second = exporting(snapshot_b, "--alias champion");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("registered model 'digits-cnn': version 2 created, alias champion -> version 2 (was version 1)"),
            std::string::npos)
      << second.output;
  const auto run_b = mlflow_run_of(uri_, "registry", reader_b.record().identity["run_id"]);
  EXPECT_EQ(version_count(), 2u);
  EXPECT_EQ(champion()["version"], "2");
  EXPECT_EQ(champion()["run_id"], run_b);
  EXPECT_EQ(key_values(version_api("2")["tags"]).at("trackbench.weights.sha256"), digest_of_weights(reader_b, 1));
  EXPECT_EQ(version_api("1").value("aliases", json::array()), json::array());

  // The rollback: champion back to run A's version.
  const auto rollback = exporting(snapshot_, "--alias champion");
  ASSERT_EQ(rollback.exit_code, 0) << rollback.output;
  EXPECT_NE(rollback.output.find("version 1 found (registered before; 0 tags updated), alias champion -> version 1 (was version 2)"),
            std::string::npos)
      << rollback.output;
  EXPECT_EQ(version_count(), 2u);
  EXPECT_EQ(champion()["version"], "1");
  EXPECT_EQ(champion()["run_id"], run_a);
  EXPECT_EQ(version_api("2").value("aliases", json::array()), json::array());

  // What a later export finds a run's version by: its MLflow run or an alias.
  const interop::mlflow_registry registry({uri_}, "digits-cnn");
  ASSERT_TRUE(registry.find_version(run_b).has_value());
  EXPECT_EQ(registry.find_version(run_b)->version, "2");
  EXPECT_EQ(registry.find_version(run_a)->source, "runs:/" + run_a + "/" + snapshot_.filename().string());
  EXPECT_FALSE(registry.find_version("0123456789abcdef0123456789abcdef").has_value());
  EXPECT_EQ(registry.version_by_alias("champion")->version, "1");
  EXPECT_EQ(registry.version_by_alias("champion")->aliases, std::vector<std::string>{"champion"});
  EXPECT_FALSE(registry.version_by_alias("staging").has_value());

  // A run may be a version of several models; names are matched exactly, quotes and all.
  const std::string quoted_name = "Bob's \"digits\"";
  interop::mlflow_registry other({uri_}, quoted_name, "staging");
  interop::mlflow_export exported;
  exported.run_id = run_b;
  exported.artifact_path = snapshot_b.filename().string();
  const auto registered = other.register_run(exported, interop::model_version_tags(reader_b, snapshot_b.string()));
  EXPECT_TRUE(registered.model_created);
  EXPECT_TRUE(registered.version_created);
  EXPECT_EQ(registered.version.version, "1");
  EXPECT_EQ(registered.version.name, quoted_name);
  EXPECT_EQ(registered.version.aliases, std::vector<std::string>{"staging"});
  EXPECT_EQ(other.find_version(run_b)->version, "1");
  EXPECT_FALSE(other.find_version(run_a).has_value());
  EXPECT_EQ(registry.find_version(run_b)->version, "2");
  EXPECT_FALSE(other.register_run(exported, interop::model_version_tags(reader_b, snapshot_b.string())).version_created);

  // A snapshot the server holds no artifact of cannot become a version.
  interop::mlflow_export not_uploaded = exported;
  not_uploaded.artifact_path.clear();
  not_uploaded.artifact = "not uploaded: the server does not serve artifacts";
  try {
    other.register_run(not_uploaded, {});
    ADD_FAILURE() << "registered a version without its artifact";
  } catch (const interop::mlflow_error& e) {
    EXPECT_NE(std::string(e.what()).find("the snapshot is not among MLflow run " + run_b + "'s artifacts"), std::string::npos)
        << e.what();
  }
}

// Refused before any request (the server named is down, which would be exit 1).
TEST(MlflowRegistry, ASnapshotWithoutWeightsIsNotRegistered) {
  const temp_dir dir;
  write_sample_subset(dir.path(), 200, 100);
  const auto trained = run_trackbench("-q train --data-dir " + quoted(dir.path()) +
                                      " --device cpu --threads 2 --epochs 1 --keep-weights none --out " + quoted(dir.path() / "runs"));
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const auto snapshot = only_snapshot_in(dir.path() / "runs");
  ASSERT_FALSE(snapshot.empty());
  const auto result = run_trackbench("export mlflow " + quoted(snapshot) + " --tracking-uri http://127.0.0.1:" +
                                     std::to_string(free_port()) + " --register-model digits-cnn");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find(snapshot.string() + ": keeps no weights (recorded with --keep-weights none)"), std::string::npos)
      << result.output;
}

TEST(MlflowRegistry, FlagsAreCheckedBeforeAnyRequest) {
  const std::string export_command = "export mlflow x.h5 --tracking-uri http://127.0.0.1:" + std::to_string(free_port());
  const auto check = [&](const std::string& flags, const std::string& expected) {
    const auto result = run_trackbench(export_command + " " + flags);
    EXPECT_EQ(result.exit_code, 2) << flags << "\n" << result.output;
    EXPECT_NE(result.output.find(expected), std::string::npos) << flags << "\n" << result.output;
  };
  check("--alias champion", "--alias requires --register-model");
  check("--register-model ''", "--register-model: expected a registered model name");
  check("--register-model a/b", "--register-model 'a/b': MLflow refuses this registered model name");
  check("--register-model m --alias latest", "--alias 'latest': MLflow reserves 'latest'");
  check("--register-model m --alias 'cham pion'", "--alias 'cham pion': an alias may hold only");
  check("--register-model m --alias champion y.h5", "--alias names one version, but 2 snapshots were given");
}

// Every one of `values` refused by `validate` with an input_error whose message starts with `flag`.
void expect_refused(const std::function<void(const std::string&)>& validate, const std::vector<std::string>& values,
                    const std::string& flag) {
  for (const auto& value : values) {
    try {
      validate(value);
      ADD_FAILURE() << "accepted '" << value << "'";
    } catch (const input_error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(flag, 0), 0u) << e.what();
    }
  }
}

TEST(MlflowRegistry, ModelNamesFollowMlflowsRules) {
  std::string accents;
  for (int i = 0; i < 256; ++i) accents += "\xc3\xa9";  // 256 characters, 512 bytes
  for (const std::string& name : std::vector<std::string>{"digits-cnn", "Bob's \"digits\"", "a.b", "x..y", "mnist v2",
                                                          std::string(256, 'x'), accents}) {
    EXPECT_NO_THROW(interop::validate_model_name(name)) << name;
  }
  expect_refused([](const std::string& name) { interop::validate_model_name(name); },
                 {"", "   ", "a/b", "a:b", ".", "..", "..x", std::string(257, 'x')}, "--register-model");
}

TEST(MlflowRegistry, AliasesFollowMlflowsRules) {
  for (const std::string& alias : std::vector<std::string>{"champion", "challenger_2", "blue-green", "v1x", "vv1", "latest1", "V", std::string(255, 'a')}) {
    EXPECT_NO_THROW(interop::validate_model_alias(alias)) << alias;
  }
  expect_refused([](const std::string& alias) { interop::validate_model_alias(alias); },
                 {"", "cham pion", "a.b", "prod/eu", "latest", "LaTeSt", "v1", "V23", std::string(256, 'a')}, "--alias");
}

TEST(MlflowRegistry, WeightsDigestIsTheSha256OfOneLinePerParameter) {
  // sha256("conv1.weight 00ff\nfc2.bias abcd\n"), computed with Python's hashlib.
  EXPECT_EQ(interop::weights_digest({{"conv1.weight", "00ff"}, {"fc2.bias", "abcd"}}),
            "31be9c17b6bfe89f6d1e36789124c4ffc688a27c8be93babe8cefac16c4ec6ac");
  EXPECT_NE(interop::weights_digest({{"fc2.bias", "abcd"}, {"conv1.weight", "00ff"}}),
            interop::weights_digest({{"conv1.weight", "00ff"}, {"fc2.bias", "abcd"}}));
}

}  // namespace
}  // namespace trackbench::testing
