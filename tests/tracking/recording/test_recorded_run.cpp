#include <gtest/gtest.h>

#include "trackbench/tracking/format/weights_policy.h"
#include "trackbench/tracking/recording/recorded_run.h"

namespace trackbench::tracking {
namespace {

TEST(RecordedRun, BestWeightsWithoutAValidationSplitAreRefusedBeforeTraining) {
  trainer::train_config config;
  recording_options options;
  options.keep_weights = parse_weights_policy("best");
  config.validation_fraction = 0.1;
  EXPECT_NO_THROW(check_recording_options(config, options));
  config.validation_fraction = 0.0;
  try {
    check_recording_options(config, options);
    FAIL() << "best weights without validation were accepted";
  } catch (const input_error& e) {
    EXPECT_NE(std::string(e.what()).find("--keep-weights best"), std::string::npos) << e.what();
  }
  options.keep_weights = parse_weights_policy("last");
  EXPECT_NO_THROW(check_recording_options(config, options));
}

}  // namespace
}  // namespace trackbench::tracking
