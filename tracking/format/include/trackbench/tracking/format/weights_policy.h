#pragma once
// --keep-weights: which epochs' weights a run snapshot keeps.
#include <cstdint>
#include <string>
#include <vector>

#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::tracking {

// --keep-weights: which epochs' parameters a snapshot keeps. `last` and the resume state are kept
// by every policy but `none`; `best` adds the epoch of the highest validation accuracy so far;
// `every:N` adds epochs N, 2N, ...; `all` keeps every epoch. Every policy records the SHA-256
// of each parameter after every epoch.
struct weights_policy {
  enum class kind { all, last, best, every, none };
  kind keep = kind::last;
  std::int64_t every = 0;  // N of every:N
};
// Parses all, last, best, every:N (N >= 1) or none; throws input_error naming `flag`.
weights_policy parse_weights_policy(const std::string& text, const std::string& flag = "--keep-weights");
std::string to_string(const weights_policy& policy);
// The policy a record's config keep_weights names (version 1 files keep all).
weights_policy weights_policy_of(const run_record& record);
// Whether the snapshot keeps any weights and the state to resume from (every policy but none).
bool keeps_weights(const run_record& record);
// The epochs (1-based, ascending) whose weights `policy` keeps after `epochs` completed ones.
// `best` is the first epoch of the highest validation accuracy among them.
std::vector<int> kept_epochs(const weights_policy& policy, const std::vector<trainer::epoch_metrics>& epochs);

}  // namespace trackbench::tracking
