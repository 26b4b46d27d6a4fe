#include "trackbench/tracking/analysis/instruction_gate.h"

#include <algorithm>
#include <regex>
#include <stdexcept>

#include "trackbench/tracking/analysis/bench_gate.h"
#include "trackbench/tracking/analysis/statistics.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

std::string text_field(const bench_record& record, const char* name) {
  const auto found = record.identity.find(name);
  return found == record.identity.end() ? std::string() : found->get<std::string>();
}

}  // namespace

std::string to_string(instruction_verdict verdict) {
  switch (verdict) {
    case instruction_verdict::faster:
      return "faster";
    case instruction_verdict::slower:
      return "slower";
    case instruction_verdict::uncertain:
      return "uncertain";
    case instruction_verdict::same:
      break;
  }
  return "same";
}

instruction_change decide_instructions(const std::string& name, const std::vector<double>& base_counts,
                                       const std::vector<double>& new_counts, double threshold) {
  if (base_counts.empty() || new_counts.empty()) throw std::invalid_argument("decide_instructions: a side has no count");
  instruction_change c{name, statistics::median(base_counts), statistics::median(new_counts)};
  c.base_counts = base_counts;
  c.new_counts = new_counts;
  const auto spread = [](const std::vector<double>& counts) {
    const auto [low, high] = std::minmax_element(counts.begin(), counts.end());
    return *low > 0 ? *high / *low - 1 : (*high > 0 ? 1.0 : 0.0);
  };
  c.base_spread = spread(base_counts);
  c.new_spread = spread(new_counts);
  // A loop of no instructions cannot change by a fraction; any count after none is slower.
  c.change = c.base_per_iteration > 0 ? c.new_per_iteration / c.base_per_iteration - 1
                                      : (c.new_per_iteration > 0 ? 1.0 : 0.0);
  c.verdict = c.base_spread > threshold || c.new_spread > threshold ? instruction_verdict::uncertain
              : c.change > threshold                                ? instruction_verdict::slower
              : c.change < -threshold                               ? instruction_verdict::faster
                                                                    : instruction_verdict::same;
  return c;
}

bool is_instruction_rule(const std::string& text) { return text.rfind("instructions:", 0) == 0; }

instruction_rule parse_instruction_rule(const std::string& text) {
  static const std::regex form(R"(instructions:([0-9]+(\.[0-9]*)?|\.[0-9]+)%)");
  std::smatch match;
  if (!std::regex_match(text, match, form)) {
    throw input_error("--fail-on '" + text +
                      "': an instruction rule is instructions:N% (fail when a benchmark's instructions per iteration "
                      "are slower and rose by more than N percent), e.g. instructions:0.5%");
  }
  return {text, std::stod(match[1].str()) / 100.0};
}

bool instruction_gate::failed() const {
  return !advisory && std::any_of(rules.begin(), rules.end(), [](const auto& r) { return !r.broken_by.empty(); });
}

instruction_gate judge_instructions(const bench_record& base, const bench_record& next,
                                    const std::vector<std::string>& rule_texts, bool allow_mismatch, double threshold) {
  instruction_gate gate;
  for (const auto& text : rule_texts) {
    if (is_instruction_rule(text)) gate.rules.push_back({parse_instruction_rule(text), {}});
  }
  for (const auto& b : base.benchmarks) {
    const auto n = std::find_if(next.benchmarks.begin(), next.benchmarks.end(), [&](const auto& r) { return r.name == b.name; });
    if (!b.instructions_per_iteration || n == next.benchmarks.end() || !n->instructions_per_iteration) continue;
    gate.changes.push_back(
        decide_instructions(b.name, {*b.instructions_per_iteration}, {*n->instructions_per_iteration}, threshold));
  }
  if (gate.changes.empty()) return gate;
  for (const char* field : {"instruction_tool", "instruction_isa_limit", "instruction_settings"}) {
    const auto a = text_field(base, field);
    const auto b = text_field(next, field);
    if (a != b) gate.counter_differences.push_back(std::string(field) + ": " + a + " -> " + b);
  }
  // A count depends less on the machine than a time does, but the code oneDNN and MKL choose
  // still follows the CPU they find (its features, its cache sizes).
  const bool hardware_differs = !hardware_differences(base, next).empty();
  gate.advisory = (hardware_differs || !gate.counter_differences.empty()) && !allow_mismatch;
  for (auto& outcome : gate.rules) {
    for (const auto& c : gate.changes) {
      if (c.verdict == instruction_verdict::slower && c.change > outcome.rule.threshold) outcome.broken_by.push_back(c);
    }
  }
  return gate;
}

}  // namespace trackbench::tracking
