#include "trackbench/tracking/format/weights_policy.h"

#include <map>
#include <regex>
#include <set>

namespace trackbench::tracking {

weights_policy parse_weights_policy(const std::string& text, const std::string& flag) {
  using kind = weights_policy::kind;
  static const std::map<std::string, kind> plain{{"all", kind::all}, {"last", kind::last}, {"best", kind::best}, {"none", kind::none}};
  if (const auto found = plain.find(text); found != plain.end()) return {found->second, 0};
  static const std::regex every("every:([1-9][0-9]{0,5})");
  std::smatch match;
  if (std::regex_match(text, match, every)) return {kind::every, std::stoll(match[1].str())};
  throw input_error(flag + " '" + text + "': expected all, last, best, every:N (N a whole number from 1 to 999999) or none");
}

std::string to_string(const weights_policy& policy) {
  switch (policy.keep) {
    case weights_policy::kind::all:
      return "all";
    case weights_policy::kind::last:
      return "last";
    case weights_policy::kind::best:
      return "best";
    case weights_policy::kind::every:
      return "every:" + std::to_string(policy.every);
    case weights_policy::kind::none:
      return "none";
  }
  return "none";
}

weights_policy weights_policy_of(const run_record& record) {
  return parse_weights_policy(record.config.at("keep_weights").get<std::string>(), "config keep_weights");
}

bool keeps_weights(const run_record& record) { return weights_policy_of(record).keep != weights_policy::kind::none; }

std::vector<int> kept_epochs(const weights_policy& policy, const std::vector<trainer::epoch_metrics>& epochs) {
  using kind = weights_policy::kind;
  const int last = static_cast<int>(epochs.size());
  std::set<int> kept;
  if (policy.keep == kind::none || last == 0) return {};
  kept.insert(last);
  if (policy.keep == kind::all) {
    for (int epoch = 1; epoch <= last; ++epoch) kept.insert(epoch);
  } else if (policy.keep == kind::every) {
    for (std::int64_t epoch = policy.every; epoch <= last; epoch += policy.every) kept.insert(static_cast<int>(epoch));
  } else if (policy.keep == kind::best) {
    int best = 0;
    for (int epoch = 1; epoch <= last; ++epoch) {
      const auto& validation = epochs[static_cast<std::size_t>(epoch - 1)].validation;
      if (validation && (best == 0 || validation->accuracy > epochs[static_cast<std::size_t>(best - 1)].validation->accuracy)) {
        best = epoch;
      }
    }
    if (best > 0) kept.insert(best);
  }
  return {kept.begin(), kept.end()};
}

}  // namespace trackbench::tracking
