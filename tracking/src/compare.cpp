#include "trackbench/tracking/compare.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <regex>

#include "schema.h"
#include "trackbench/tracking/statistics.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

using json = nlohmann::ordered_json;

const std::map<std::string, std::string>& aliases() {
  static const std::map<std::string, std::string> names{{"test_acc", "test_accuracy"},
                                                        {"val_acc", "validation_accuracy"},
                                                        {"val_loss", "validation_loss"},
                                                        {"train_acc", "train_accuracy"}};
  return names;
}

const schema::metric_column* find_column(const std::string& metric) {
  const auto alias = aliases().find(metric);
  const std::string name = alias == aliases().end() ? metric : alias->second;
  for (const auto& column : schema::metric_columns()) {
    if (column.name == name && name != "epoch") return &column;
  }
  return nullptr;
}

// Flattens a section into "prefix.key" -> text; lists of objects by position.
void flatten(const json& section, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (const auto& [key, value] : section.items()) {
    const std::string name = prefix + "." + key;
    if (value.is_array() && !value.empty() && value.front().is_object()) {
      for (std::size_t i = 0; i < value.size(); ++i) flatten(value[i], name + "[" + std::to_string(i) + "]", out);
    } else if (value.is_string()) {
      out[name] = value.get<std::string>();
    } else {
      out[name] = value.dump();
    }
  }
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Which metric columns a reproduction must match: not wall times, throughput or memory.
bool deterministic_column(const schema::metric_column& column) {
  return column.unit != "s" && column.unit != "images/s" && column.unit != "bytes";
}

}  // namespace

std::vector<field_difference> differing_fields(const std::vector<const run_record*>& runs) {
  std::vector<std::map<std::string, std::string>> flat(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    flatten(runs[i]->config, "config", flat[i]);
    flatten(runs[i]->environment, "environment", flat[i]);
    flatten(runs[i]->code, "code", flat[i]);
    flatten(runs[i]->data, "data", flat[i]);
  }
  std::map<std::string, bool> seen;
  for (const auto& fields : flat) {
    for (const auto& entry : fields) seen.emplace(entry.first, true);
  }
  std::vector<field_difference> differences;
  for (const auto& entry : seen) {
    field_difference difference{entry.first, {}};
    for (const auto& fields : flat) {
      const auto found = fields.find(entry.first);
      difference.values.push_back(found == fields.end() ? std::string() : found->second);
    }
    if (std::adjacent_find(difference.values.begin(), difference.values.end(), std::not_equal_to<>()) !=
        difference.values.end()) {
      differences.push_back(std::move(difference));
    }
  }
  return differences;
}

std::vector<std::string> summary_metric_names() {
  std::vector<std::string> names;
  for (const auto& [alias, name] : aliases()) names.push_back(alias);
  for (const auto& column : schema::metric_columns()) {
    if (column.name != "epoch") names.push_back(column.name);
  }
  return names;
}

namespace {

// The column a metric name (or alias) stands for; throws input_error listing the known names.
const schema::metric_column& column_of(const std::string& metric) {
  const auto* column = find_column(metric);
  if (column == nullptr) {
    std::string known;
    for (const auto& name : summary_metric_names()) known += (known.empty() ? "" : ", ") + name;
    throw input_error("unknown metric '" + metric + "'; expected one of " + known);
  }
  return *column;
}

// Absent values (no validation split, a CPU run's CUDA peak) become nullopt; fractions percent.
std::optional<double> scaled(const schema::metric_column& column, double value) {
  if (std::isnan(value) || (column.unit == "bytes" && value < 0)) return std::nullopt;
  return column.unit == "fraction" ? 100.0 * value : value;
}

}  // namespace

std::optional<double> epoch_metric(const trainer::epoch_metrics& epoch, const std::string& metric) {
  const auto& column = column_of(metric);
  return scaled(column, column.get(epoch));
}

std::optional<double> summary_metric(const run_record& run, const std::string& metric) {
  const auto& column = column_of(metric);
  if (run.epochs.empty()) return std::nullopt;
  std::vector<double> values;
  for (const auto& epoch : run.epochs) values.push_back(column.get(epoch));
  double value = values.back();
  if (column.unit == "s" || column.unit == "images/s") value = statistics::median(values);
  if (column.unit == "bytes") value = *std::max_element(values.begin(), values.end());
  return scaled(column, value);
}

gate_rule parse_rule(const std::string& text) {
  static const std::regex pattern(R"(([A-Za-z_]+):([+-])([0-9]+(\.[0-9]*)?|\.[0-9]+)(%?))");
  std::smatch match;
  if (!std::regex_match(text, match, pattern)) {
    throw input_error("--fail-on '" + text +
                      "': expected METRIC:+AMOUNT or METRIC:-AMOUNT, optionally with %, e.g. test_acc:-0.5 or "
                      "epoch_seconds:+10%");
  }
  gate_rule rule{text, match[1].str(), match[2].str() == "+", std::stod(match[3].str()), !match[5].str().empty()};
  try {
    column_of(rule.metric);
  } catch (const input_error& e) {
    throw input_error("--fail-on '" + text + "': " + e.what());
  }
  return rule;
}

std::vector<rule_outcome> check_rules(const std::vector<const run_record*>& runs, const std::vector<gate_rule>& rules) {
  std::vector<rule_outcome> outcomes;
  if (runs.empty()) return outcomes;
  const auto id_of = [](const run_record& run) { return run.identity.value("run_id", std::string("?")); };
  for (const auto& rule : rules) {
    const auto baseline = summary_metric(*runs.front(), rule.metric);
    if (!baseline) throw input_error("--fail-on " + rule.text + ": run " + id_of(*runs.front()) + " records no " + rule.metric);
    for (std::size_t i = 1; i < runs.size(); ++i) {
      const auto value = summary_metric(*runs[i], rule.metric);
      if (!value) throw input_error("--fail-on " + rule.text + ": run " + id_of(*runs[i]) + " records no " + rule.metric);
      const double change = *value - *baseline;
      const double limit = rule.relative ? std::abs(*baseline) * rule.amount / 100.0 : rule.amount;
      const bool passed = rule.increase ? change <= limit : -change <= limit;
      char buffer[256];
      std::snprintf(buffer, sizeof buffer, "%s %.6g against %.6g: %+.6g (%+.2f%%); allowed %s%.6g%s", rule.metric.c_str(),
                    *value, *baseline, change, *baseline != 0.0 ? 100.0 * change / std::abs(*baseline) : 0.0,
                    rule.increase ? "+" : "-", rule.amount, rule.relative ? "%" : "");
      outcomes.push_back({rule, id_of(*runs[i]), *baseline, *value, passed, buffer});
    }
  }
  return outcomes;
}

epoch_match match_epoch(const trainer::epoch_metrics& recorded, const trainer::epoch_metrics& repeated,
                        const std::vector<array_record>& recorded_weights,
                        const std::vector<array_record>& repeated_weights) {
  epoch_match match;
  match.epoch = recorded.epoch;
  match.metrics_equal = true;
  for (const auto& column : schema::metric_columns()) {
    if (!deterministic_column(column)) continue;
    const double a = column.get(recorded);
    const double b = column.get(repeated);
    if (same_bits(a, b)) continue;
    match.metrics_equal = false;
    const double difference = std::isnan(a) || std::isnan(b) ? INFINITY : std::abs(a - b);
    if (difference >= match.metric_difference) {
      match.metric_difference = difference;
      match.worst_metric = column.name;
    }
  }
  const auto confusion_equal = [](const trainer::confusion_matrix& a, const trainer::confusion_matrix& b) { return a == b; };
  if (!confusion_equal(recorded.test.confusion, repeated.test.confusion) ||
      recorded.validation.has_value() != repeated.validation.has_value() ||
      (recorded.validation && !confusion_equal(recorded.validation->confusion, repeated.validation->confusion))) {
    match.metrics_equal = false;
    if (match.worst_metric.empty()) match.worst_metric = "confusion matrix";
  }
  match.test_accuracy_difference = 100.0 * std::abs(recorded.test.accuracy - repeated.test.accuracy);
  match.test_loss_difference = std::abs(recorded.test.loss - repeated.test.loss);

  match.weights_equal = recorded_weights.size() == repeated_weights.size();
  if (!match.weights_equal) {
    match.worst_weight = "the parameter lists differ";
    match.weight_difference = INFINITY;
  }
  for (std::size_t i = 0; i < std::min(recorded_weights.size(), repeated_weights.size()); ++i) {
    const auto& a = recorded_weights[i];
    const auto& b = repeated_weights[i];
    if (a.name != b.name || a.shape != b.shape || a.type != element_type::float32 || b.type != a.type) {
      match.weights_equal = false;
      match.worst_weight = a.name + " (shape or name differs)";
      match.weight_difference = INFINITY;
      continue;
    }
    if (a.bytes == b.bytes) continue;
    match.weights_equal = false;
    const auto* x = reinterpret_cast<const float*>(a.bytes.data());
    const auto* y = reinterpret_cast<const float*>(b.bytes.data());
    for (std::int64_t k = 0; k < a.element_count(); ++k) {
      const double difference = std::abs(static_cast<double>(x[k]) - static_cast<double>(y[k]));
      if (difference >= match.weight_difference || std::isnan(difference)) {
        match.weight_difference = std::isnan(difference) ? INFINITY : difference;
        match.worst_weight = a.name;
      }
    }
  }
  return match;
}

}  // namespace trackbench::tracking
