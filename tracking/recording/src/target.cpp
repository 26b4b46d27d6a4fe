#include "trackbench/tracking/recording/target.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "trackbench/tracking/format/schema.h"

namespace trackbench::tracking {

run_target parse_target(const std::string& text) {
  const auto colon = text.find(':');
  const std::string metric = text.substr(0, colon);
  const auto* column = colon == std::string::npos ? nullptr : schema::find_metric_column(metric);
  const bool fraction = column != nullptr && column->unit == "fraction";
  const bool loss = column != nullptr && column->unit == "nats";
  if (!fraction && !loss) {
    std::vector<std::string> names;
    for (const auto& candidate : schema::metric_columns()) {
      if (candidate.unit == "fraction" || candidate.unit == "nats") names.push_back(candidate.name);
    }
    throw input_error("--target '" + text + "': expected METRIC:VALUE, e.g. test_accuracy:0.97, with METRIC one of " +
                      joined(names) + " (or test_acc, val_acc, train_acc, val_loss)");
  }
  const std::string number = text.substr(colon + 1);
  double value = 0.0;
  std::size_t used = 0;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (number.empty() || used != number.size() || !std::isfinite(value)) {
    throw input_error("--target '" + text + "': the value '" + number + "' is not a finite number");
  }
  if (fraction && !(value > 0.0 && value <= 1.0)) {
    throw input_error("--target '" + text + "': " + column->name + " is a fraction; expected a value in (0, 1], e.g. 0.97");
  }
  if (loss && value < 0.0) throw input_error("--target '" + text + "': a loss is >= 0");
  return {column->name, value, loss};
}

std::string to_string(const run_target& target) {
  // The shortest text that reads back as the same number: 0.97, not 0.96999999999999997.
  char value[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(value, sizeof value, "%.*g", digits, target.value);
    if (std::strtod(value, nullptr) == target.value) break;
  }
  return target.metric + ":" + value;
}

bool target_reached(const run_target& target, const trainer::epoch_metrics& epoch) {
  const auto* column = schema::find_metric_column(target.metric);
  if (column == nullptr) throw std::logic_error("a target of unknown metric " + target.metric);
  const double value = column->get(epoch);
  if (std::isnan(value)) return false;
  return target.at_most ? value <= target.value : value >= target.value;
}

std::string describe_target(const run_record& run) {
  const auto target = run.config.find("target");
  if (target == run.config.end() || target->get<std::string>().empty()) return "";
  const auto epoch = run_level_value(run, "target_reached_epoch");
  const auto seconds = run_level_value(run, "time_to_target_seconds");
  char text[160];
  if (epoch && seconds) {
    std::snprintf(text, sizeof text, " reached at epoch %lld, %.3f s after training began (warm-up included)",
                  static_cast<long long>(*epoch), *seconds);
  } else {
    std::snprintf(text, sizeof text, " not reached in %zu epochs", run.epochs.size());
  }
  return target->get<std::string>() + text;
}

std::optional<run_target> target_from_record(const nlohmann::ordered_json& config) {
  const auto found = config.find("target");
  if (found == config.end() || found->get<std::string>().empty()) return std::nullopt;
  try {
    return parse_target(found->get<std::string>());
  } catch (const input_error& e) {
    throw snapshot_error(std::string("config 'target': ") + e.what());
  }
}

}  // namespace trackbench::tracking
