#include <gtest/gtest.h>

#include "support/error_message.h"
#include "trackbench/tracking/recording/target.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

using testing::error_message;

TEST(Target, TargetsParseWithTheirDirectionAndRoundTrip) {
  const auto accuracy = parse_target("test_acc:0.97");
  EXPECT_EQ(accuracy.metric, "test_accuracy");
  EXPECT_DOUBLE_EQ(accuracy.value, 0.97);
  EXPECT_FALSE(accuracy.at_most);
  EXPECT_EQ(to_string(accuracy), "test_accuracy:0.97");
  const auto loss = parse_target("val_loss:0.05");
  EXPECT_EQ(loss.metric, "validation_loss");
  EXPECT_TRUE(loss.at_most);
  EXPECT_EQ(to_string(loss), "validation_loss:0.05");

  trainer::epoch_metrics epoch;
  epoch.test.accuracy = 0.97;
  EXPECT_TRUE(target_reached(accuracy, epoch));
  epoch.test.accuracy = 0.9699;
  EXPECT_FALSE(target_reached(accuracy, epoch));
  EXPECT_FALSE(target_reached(loss, epoch));  // no validation split: never reached
  epoch.validation.emplace().loss = 0.05;
  EXPECT_TRUE(target_reached(loss, epoch));
  epoch.validation->loss = 0.0501;
  EXPECT_FALSE(target_reached(loss, epoch));
}

TEST(Target, BadTargetsNameTheFlagAndWhatWasExpected) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"test_accuracy", "expected METRIC:VALUE"},
      {"accuracy:0.9", "test_accuracy"},
      {"epoch_seconds:10", "expected METRIC:VALUE"},  // a time is no target
      {"test_accuracy:", "is not a finite number"},
      {"test_accuracy:0.9x", "is not a finite number"},
      {"test_accuracy:nan", "is not a finite number"},
      {"test_accuracy:97", "expected a value in (0, 1]"},
      {"test_accuracy:0", "expected a value in (0, 1]"},
      {"test_loss:-0.1", "a loss is >= 0"}};
  for (const auto& [text, expected] : cases) {
    const auto message = error_message<input_error>([&] { parse_target(text); });
    EXPECT_NE(message.find("--target '" + text + "'"), std::string::npos) << text << ": " << message;
    EXPECT_NE(message.find(expected), std::string::npos) << text << ": " << message;
  }
}

}  // namespace
}  // namespace trackbench::tracking
