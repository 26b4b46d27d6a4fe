#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/error_message.h"
#include "trackbench/tracking/analysis/compare.h"
#include "trackbench/tracking/recording/target.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

using testing::error_message;
using json = nlohmann::ordered_json;

// A record with one epoch per test accuracy given, each epoch taking `seconds`.
run_record run(const std::string& id, const std::vector<double>& accuracies, double seconds = 10.0) {
  run_record record;
  record.identity = {{"run_id", id}};
  record.config = {{"learning_rate", 0.001}, {"seed", 1}};
  record.environment = {{"cpu_model", "AMD EPYC"}, {"gpus", json::array()}};
  record.code = {{"commit", "abc"}};
  record.data = {{"content_sha256", "00"}, {"files", json::array({{{"name", "a"}, {"sha256", "11"}}})}};
  int epoch = 0;
  for (const double accuracy : accuracies) {
    trainer::epoch_metrics metrics;
    metrics.epoch = ++epoch;
    metrics.test.accuracy = accuracy;
    metrics.test.loss = 1.0 - accuracy;
    metrics.epoch_seconds = seconds + epoch;  // the median is the middle epoch's
    metrics.peak_rss_bytes = 1000 * epoch;
    record.epochs.push_back(metrics);
  }
  return record;
}

TEST(Compare, ParsesRules) {
  const auto drop = parse_rule("test_acc:-0.5");
  EXPECT_EQ(drop.metric, "test_acc");
  EXPECT_FALSE(drop.increase);
  EXPECT_DOUBLE_EQ(drop.amount, 0.5);
  EXPECT_FALSE(drop.relative);
  const auto rise = parse_rule("epoch_seconds:+10%");
  EXPECT_TRUE(rise.increase);
  EXPECT_TRUE(rise.relative);
  EXPECT_DOUBLE_EQ(rise.amount, 10.0);
}

TEST(Compare, RejectsMalformedRulesNamingTheFlag) {
  for (const char* bad : {"test_acc", "test_acc:0.5", "test_acc:-", "test_acc:-x", ":-1", "test_acc:-1%%"}) {
    const auto message = error_message<input_error>([&] { parse_rule(bad); });
    EXPECT_NE(message.find("--fail-on"), std::string::npos) << bad << ": " << message;
  }
  const auto message = error_message<input_error>([] { parse_rule("accuracy:-1"); });
  EXPECT_NE(message.find("unknown metric 'accuracy'"), std::string::npos) << message;
  EXPECT_NE(message.find("test_acc"), std::string::npos) << message;
}

TEST(Compare, SummaryMetricsUseFinalEpochMedianAndPeak) {
  const auto record = run("a", {0.90, 0.95, 0.97});
  EXPECT_DOUBLE_EQ(*summary_metric(record, "test_acc"), 97.0);
  EXPECT_DOUBLE_EQ(*summary_metric(record, "test_loss"), 1.0 - 0.97);
  EXPECT_DOUBLE_EQ(*summary_metric(record, "epoch_seconds"), 12.0);
  EXPECT_DOUBLE_EQ(*summary_metric(record, "peak_rss_bytes"), 3000.0);
  EXPECT_FALSE(summary_metric(record, "val_acc").has_value());  // no validation split recorded
  EXPECT_FALSE(summary_metric(record, "peak_cuda_bytes").has_value());
  EXPECT_FALSE(summary_metric(run("empty", {}), "test_acc").has_value());
}

TEST(Compare, AccuracyRuleFailsOnARegressionAndPassesOtherwise) {
  const auto baseline = run("base", {0.95, 0.981});
  const auto same = run("same", {0.95, 0.979});
  const auto worse = run("worse", {0.95, 0.970});
  const auto rule = parse_rule("test_acc:-0.5");
  const auto outcomes = check_rules({&baseline, &same, &worse}, {rule});
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_TRUE(outcomes[0].passed) << outcomes[0].explanation;
  EXPECT_EQ(outcomes[0].run_id, "same");
  EXPECT_FALSE(outcomes[1].passed) << outcomes[1].explanation;
  EXPECT_NEAR(outcomes[1].value - outcomes[1].baseline, -1.1, 1e-9);
  EXPECT_NE(outcomes[1].explanation.find("allowed -0.5"), std::string::npos) << outcomes[1].explanation;
}

TEST(Compare, RelativeRuleLimitsARise) {
  const auto baseline = run("base", {0.9, 0.9, 0.9}, 10.0);
  const auto slower = run("slower", {0.9, 0.9, 0.9}, 11.5);  // median 13.5 against 12: +12.5%
  const auto outcomes_tight = check_rules({&baseline, &slower}, {parse_rule("epoch_seconds:+10%")});
  EXPECT_FALSE(outcomes_tight.front().passed);
  const auto outcomes_loose = check_rules({&baseline, &slower}, {parse_rule("epoch_seconds:+15%")});
  EXPECT_TRUE(outcomes_loose.front().passed);
  // A drop never fails a rule that limits a rise.
  EXPECT_TRUE(check_rules({&slower, &baseline}, {parse_rule("epoch_seconds:+1%")}).front().passed);
}

TEST(Compare, RuleOnAMetricARunLacksIsBadInput) {
  const auto a = run("a", {0.9});
  const auto b = run("b", {0.9});
  const auto message = error_message<input_error>([&] { check_rules({&a, &b}, {parse_rule("val_acc:-1")}); });
  EXPECT_NE(message.find("records no val_acc"), std::string::npos) << message;
}

// A run that reached `target` at `epoch`, `seconds` after training began; epoch 0: not reached.
run_record targeted(const std::string& id, std::int64_t epoch, double seconds) {
  auto record = run(id, {0.9, 0.96, 0.98});
  record.config["target"] = "test_accuracy:0.95";
  record.identity["warmup_seconds"] = 0.5;
  record.identity["target_reached_epoch"] = epoch;
  record.identity["time_to_target_seconds"] = epoch > 0 ? seconds : std::numeric_limits<double>::quiet_NaN();
  return record;
}

TEST(Compare, RunLevelValuesAreSummaryMetricsAndRulesTakeThem) {
  const auto fast = targeted("fast", 2, 20.0);
  const auto slow = targeted("slow", 3, 23.0);  // +15%
  EXPECT_DOUBLE_EQ(*summary_metric(fast, "time_to_target_seconds"), 20.0);
  EXPECT_DOUBLE_EQ(*summary_metric(fast, "target_reached_epoch"), 2.0);
  EXPECT_DOUBLE_EQ(*summary_metric(fast, "warmup_seconds"), 0.5);
  EXPECT_FALSE(summary_metric(run("old", {0.9}), "warmup_seconds").has_value());  // a file before version 3
  EXPECT_FALSE(summary_metric(targeted("missed", 0, 0.0), "time_to_target_seconds").has_value());
  EXPECT_FALSE(summary_metric(targeted("missed", 0, 0.0), "target_reached_epoch").has_value());

  const auto rule = parse_rule("time_to_target_seconds:+10%");
  EXPECT_FALSE(check_rules({&fast, &slow}, {rule}).front().passed);
  EXPECT_TRUE(check_rules({&slow, &fast}, {rule}).front().passed);
  const auto missed = targeted("missed", 0, 0.0);
  const auto message = error_message<input_error>([&] { check_rules({&fast, &missed}, {rule}); });
  EXPECT_NE(message.find("records no time_to_target_seconds"), std::string::npos) << message;
  EXPECT_NE(message.find("missed"), std::string::npos) << message;
  // Recorded once per run, they have no per-epoch value.
  EXPECT_THROW(epoch_metric(fast.epochs.front(), "time_to_target_seconds"), input_error);
}

TEST(Compare, DescribesWhetherTheTargetWasReached) {
  EXPECT_EQ(describe_target(run("none", {0.9})), "");
  EXPECT_EQ(describe_target(targeted("fast", 2, 20.0)),
            "test_accuracy:0.95 reached at epoch 2, 20.000 s after training began (warm-up included)");
  EXPECT_EQ(describe_target(targeted("missed", 0, 0.0)), "test_accuracy:0.95 not reached in 3 epochs");
}

TEST(Compare, ListsOnlyTheFieldsThatDiffer) {
  auto a = run("a", {0.9});
  auto b = run("b", {0.9});
  b.config["learning_rate"] = 0.002;
  b.data["files"][0]["sha256"] = "22";
  const auto differences = differing_fields({&a, &b});
  ASSERT_EQ(differences.size(), 2u);
  EXPECT_EQ(differences[0].field, "config.learning_rate");
  EXPECT_EQ(differences[0].values, (std::vector<std::string>{"0.001", "0.002"}));
  EXPECT_EQ(differences[1].field, "data.files[0].sha256");
  EXPECT_TRUE(differing_fields({&a, &a}).empty());
}

array_record weights(std::vector<float> values) {
  array_record record{"fc.weight", element_type::float32, {static_cast<std::int64_t>(values.size())}, {}};
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(values.data());
  record.bytes.assign(bytes, bytes + values.size() * sizeof(float));
  return record;
}

TEST(Compare, EpochMatchIsBitwiseOrNamesTheLargestDifference) {
  const auto a = run("a", {0.9}).epochs.front();
  auto b = a;
  // Times, throughput and memory never count against a reproduction: the schema marks those
  // columns not deterministic.
  b.epoch_seconds += 5.0;
  b.train_seconds += 4.0;
  b.images_per_second *= 2.0;
  b.peak_rss_bytes += 4096;
  b.peak_cuda_bytes = std::int64_t{1} << 20;
  const auto equal = match_epoch(a, b, {weights({1, 2})}, {weights({1, 2})});
  EXPECT_TRUE(equal.metrics_equal);
  EXPECT_TRUE(equal.weights_equal);

  auto rate = b;
  rate.learning_rate = std::nextafter(a.learning_rate, 1.0);  // a learning rate does
  EXPECT_FALSE(match_epoch(a, rate, {}, {}).metrics_equal);
  EXPECT_EQ(match_epoch(a, rate, {}, {}).worst_metric, "learning_rate");

  b.test.loss = std::nextafter(a.test.loss, 2.0);
  b.test.confusion[3][5] = 1;
  const auto differ = match_epoch(a, b, {weights({1, 2})}, {weights({1, 2.5f})});
  EXPECT_FALSE(differ.metrics_equal);
  EXPECT_EQ(differ.worst_metric, "test_loss");
  EXPECT_GT(differ.metric_difference, 0.0);
  EXPECT_FALSE(differ.weights_equal);
  EXPECT_EQ(differ.worst_weight, "fc.weight");
  EXPECT_DOUBLE_EQ(differ.weight_difference, 0.5);

  auto c = a;
  c.test.confusion[0][1] = 7;  // only the confusion matrix differs
  EXPECT_FALSE(match_epoch(a, c, {}, {}).metrics_equal);
}

}  // namespace
}  // namespace trackbench::tracking
