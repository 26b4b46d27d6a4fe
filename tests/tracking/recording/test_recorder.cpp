#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include "support/error_message.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/recording/recorder.h"

namespace trackbench::tracking {
namespace {

using testing::error_message;
using json = nlohmann::ordered_json;

class scoped_env {
 public:
  scoped_env(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~scoped_env() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST(Recorder, RunIdsSortByTimeAndAreUnique) {
  const auto first = make_run_id();
  const auto second = make_run_id();
  EXPECT_TRUE(std::regex_match(first, std::regex("[0-9]{8}T[0-9]{6}\\.[0-9]{3}Z-[0-9a-f]{8}"))) << first;
  EXPECT_NE(first, second);
  EXPECT_LE(first.substr(0, 20), second.substr(0, 20));
}

TEST(Recorder, CommandLineQuotesWhatTheShellWouldSplit) {
  EXPECT_EQ(format_command_line({"trackbench", "train", "--lr", "0.01"}), "trackbench train --lr 0.01");
  EXPECT_EQ(format_command_line({"trackbench", "--tag", "note=two words", "it's"}),
            "trackbench --tag 'note=two words' 'it'\\''s'");
}

TEST(Recorder, CodeOutsideGitIsUnknownNotGuessed) {
  testing::temp_dir not_a_checkout;
  const scoped_env checkout("TRACKBENCH_CHECKOUT", not_a_checkout.path().string());
  const auto code = capture_code();
  EXPECT_EQ(code.fields["checkout_dir"], not_a_checkout.path().string());
  EXPECT_EQ(code.fields["commit"], "unknown");
  EXPECT_EQ(code.fields["branch"], "unknown");
  EXPECT_EQ(code.fields["tree"], "unknown");
  EXPECT_EQ(code.fields["diff_sha256"], "");
  EXPECT_TRUE(code.diff.empty());
}

TEST(Recorder, CodeInAGitCheckoutHasCommitBranchAndDiffDigest) {
  testing::temp_dir repo;
  const std::string git = "git -C '" + repo.path().string() + "' ";
  ASSERT_EQ(std::system((git + "init -q -b main && " + git + "-c user.name=t -c user.email=t@e commit -q --allow-empty -m first").c_str()), 0);
  const scoped_env checkout("TRACKBENCH_CHECKOUT", repo.path().string());
  const auto clean = capture_code();
  EXPECT_TRUE(std::regex_match(clean.fields["commit"].get<std::string>(), std::regex("[0-9a-f]{40}"))) << clean.fields.dump();
  EXPECT_EQ(clean.fields["branch"], "main");
  EXPECT_EQ(clean.fields["tree"], "clean");
  EXPECT_EQ(clean.fields["diff_bytes"], 0);

  testing::write_file(repo / "model.txt", {'a', '\n'});
  ASSERT_EQ(std::system((git + "add model.txt").c_str()), 0);
  const auto dirty = capture_code();
  EXPECT_EQ(dirty.fields["tree"], "dirty");
  EXPECT_NE(dirty.diff.find("+a"), std::string::npos) << dirty.diff;
  EXPECT_EQ(dirty.fields["diff_bytes"], static_cast<std::int64_t>(dirty.diff.size()));
  EXPECT_EQ(dirty.fields["diff_sha256"].get<std::string>().size(), 64u);
}

TEST(Recorder, ConfigRoundTripsThroughTheRecord) {
  json config{{"model", "digit_cnn"},  {"dataset", "mnist"},     {"data_dir", "/data/mnist"}, {"conv", "cudnn"},
              {"optimizer", "sgd"},    {"learning_rate", 0.05},  {"momentum", 0.8},           {"weight_decay", 1e-4},
              {"schedule", "one_cycle"}, {"batch_size", 128},    {"eval_batch_size", 500},    {"epochs", 3},
              {"seed", 42u},           {"threads", 0},           {"threads_used", 2},         {"deterministic", true},
              {"device", "auto"},      {"device_used", "cpu"},   {"validation_fraction", 0.2}};
  const auto c = config_from_record(config);
  EXPECT_EQ(c.dataset, "mnist");
  EXPECT_EQ(c.data_dir->string(), "/data/mnist");
  EXPECT_EQ(c.optimizer, trainer::optimizer_kind::sgd);
  EXPECT_DOUBLE_EQ(c.learning_rate, 0.05);
  EXPECT_TRUE(c.one_cycle);
  EXPECT_EQ(c.batch_size, 128);
  EXPECT_EQ(c.seed, 42u);
  EXPECT_EQ(c.threads, 2);  // the threads used, not the request
  EXPECT_TRUE(c.deterministic);
  EXPECT_EQ(c.device, trainer::device_kind::cpu);

  // The custom kernels' version: named since the versioned names, version 2 before them.
  config["conv"] = "custom_v3";
  EXPECT_EQ(config_from_record(config).conv, trainer::conv_backend::custom);
  EXPECT_EQ(config_from_record(config).conv_version, 3);
  config["conv"] = "custom";
  EXPECT_EQ(config_from_record(config).conv, trainer::conv_backend::custom);
  EXPECT_EQ(config_from_record(config).conv_version, 2);
  config["conv"] = "custom_v7";
  EXPECT_NE(error_message<snapshot_error>([&] { config_from_record(config); }).find("unknown backend 'custom_v7'"),
            std::string::npos);
  config["conv"] = "cudnn";

  config["schedule"] = "cosine";
  EXPECT_NE(error_message<snapshot_error>([&] { config_from_record(config); }).find("schedule 'cosine'"), std::string::npos);
  config["schedule"] = "constant";
  config["batch_size"] = 0;
  EXPECT_NE(error_message<snapshot_error>([&] { config_from_record(config); }).find("--batch-size"), std::string::npos);
}

TEST(Recorder, StateConvertsToArraysAndBack) {
  trainer::training_state state;
  state.epochs_done = 3;
  state.parameters = {{"fc.weight", torch::randn({2, 3})}, {"fc.bias", torch::randn({2})}};
  state.optimizer_state = {{"fc.weight.step", torch::tensor(std::int64_t{7})}, {"fc.weight.exp_avg", torch::randn({2, 3})}};
  state.cpu_generator = torch::randint(0, 255, {16}, torch::kUInt8);
  const auto saved = to_saved_state(state, 99);
  EXPECT_EQ(saved.next_shuffle_seed, 99u);
  EXPECT_EQ(saved.optimizer[0].type, element_type::int64);
  EXPECT_TRUE(saved.optimizer[0].shape.empty());
  EXPECT_FALSE(saved.cuda_generator.has_value());
  const auto restored = to_training_state(to_records(state.parameters), saved);
  EXPECT_EQ(restored.epochs_done, 3);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(restored.parameters[i].first, state.parameters[i].first);
    EXPECT_TRUE(torch::equal(restored.parameters[i].second, state.parameters[i].second));
  }
  EXPECT_EQ(restored.optimizer_state[0].second.item<std::int64_t>(), 7);
  EXPECT_TRUE(torch::equal(restored.cpu_generator, state.cpu_generator));
}

}  // namespace
}  // namespace trackbench::tracking
