#include "trackbench/tracking/recording/evaluation_gate.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {

evaluation_rule parse_evaluation_rule(const std::string& text) {
  evaluation_rule rule;
  rule.text = text;
  if (text == "drift") {
    rule.what = evaluation_rule::kind::drift;
    return rule;
  }
  const std::string prefix = "accuracy:";
  if (text.rfind(prefix, 0) == 0) {
    const std::string number = text.substr(prefix.size());
    char* end = nullptr;
    const double value = std::strtod(number.c_str(), &end);
    if (!number.empty() && end == number.c_str() + number.size() && std::isfinite(value) && value <= 0.0) {
      rule.points = -value;
      return rule;
    }
  }
  throw input_error("--fail-on '" + text + "': expected accuracy:-P (fail when the accuracy is more than P points below "
                    "the run's test accuracy, P >= 0) or drift");
}

std::optional<std::string> rule_broken(const evaluation_rule& rule, const evaluation_outcome& outcome) {
  if (rule.what == evaluation_rule::kind::drift) {
    if (!outcome.drift) {
      throw input_error("--fail-on drift: the run records no data profile (its snapshot predates schema version 5), "
                        "so there is nothing to hold the new data against");
    }
    std::string drifted;
    for (const auto& check : outcome.drift->checks) {
      if (check.verdict == drift_verdict::drift) drifted += (drifted.empty() ? "" : ", ") + check.name;
    }
    if (drifted.empty()) return std::nullopt;
    return "--fail-on drift: the data drifted by " + drifted;
  }
  const double run = 100.0 * outcome.run_test.accuracy;
  const double now = 100.0 * outcome.result.metrics.accuracy;
  if (run - now <= rule.points) return std::nullopt;
  return fmt::format("--fail-on {}: accuracy {:.2f}% is {:.2f} points below the run's {:.2f}%, more than the {:g} allowed",
                     rule.text, now, run - now, run, rule.points);
}

}  // namespace trackbench::tracking
