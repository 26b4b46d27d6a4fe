#include "trackbench/tracking/analysis/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>

#include "trackbench/tracking/analysis/statistics.h"
#include "trackbench/tracking/format/schema.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

using json = nlohmann::ordered_json;

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

namespace {

bool is_run_level(const std::string& metric) {
  const auto& names = schema::run_level_metrics();
  return std::find(names.begin(), names.end(), metric) != names.end();
}

}  // namespace

std::vector<std::string> summary_metric_names() {
  std::vector<std::string> names;
  for (const auto& [alias, name] : schema::metric_aliases()) names.push_back(alias);
  for (const auto& column : schema::metric_columns()) {
    if (column.name != "epoch") names.push_back(column.name);
  }
  names.insert(names.end(), schema::run_level_metrics().begin(), schema::run_level_metrics().end());
  return names;
}

namespace {

// The column a metric name (or alias) stands for; throws input_error listing the known names.
const schema::metric_column& column_of(const std::string& metric) {
  const auto* column = schema::find_metric_column(metric);
  if (column == nullptr && is_run_level(metric)) {
    throw input_error(metric + " is recorded once per run, not per epoch");
  }
  if (column == nullptr) throw input_error("unknown metric '" + metric + "'; expected one of " + joined(summary_metric_names()));
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
  if (is_run_level(metric)) return run_level_value(run, metric);
  const auto& column = column_of(metric);
  if (run.epochs.empty()) return std::nullopt;
  std::vector<double> values;
  for (const auto& epoch : run.epochs) values.push_back(column.get(epoch));
  switch (column.summary) {
    case schema::summary_kind::final_epoch:
      return scaled(column, values.back());
    case schema::summary_kind::median:
      return scaled(column, statistics::median(values));
    case schema::summary_kind::peak:
      return scaled(column, *std::max_element(values.begin(), values.end()));
  }
  return std::nullopt;
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
    if (!is_run_level(rule.metric)) column_of(rule.metric);
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
    if (!column.deterministic) continue;
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

std::optional<bool> digests_match(const std::vector<parameter_digest>& recorded,
                                  const std::vector<parameter_digest>& repeated) {
  if (recorded.empty() || repeated.empty()) return std::nullopt;
  return recorded == repeated;
}

}  // namespace trackbench::tracking
