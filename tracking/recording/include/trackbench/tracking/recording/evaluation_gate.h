#pragma once
// evaluate --fail-on: the rules that make an evaluation a monitoring gate (exit 1 when one breaks).
#include <optional>
#include <string>

#include "trackbench/tracking/recording/evaluation.h"

namespace trackbench::tracking {

struct evaluation_rule {
  enum class kind { accuracy, drift } what = kind::accuracy;
  // accuracy:-2: fails when the evaluation's accuracy is more than 2 points below the run's test accuracy.
  double points = 0.0;
  std::string text;  // as given
};

// accuracy:-P (P >= 0 points) or drift; throws input_error naming --fail-on.
evaluation_rule parse_evaluation_rule(const std::string& text);

// Why `outcome` breaks `rule` ("accuracy 84.10% is 12.3 points below the run's 96.40%, more than
// the 2 allowed"), or nullopt when it keeps it.
std::optional<std::string> rule_broken(const evaluation_rule& rule, const evaluation_outcome& outcome);

}  // namespace trackbench::tracking
