#pragma once
// evaluate: a recorded model asked about other data. The weights of one epoch of a run
// snapshot, checked against their digests, go into the model the run trained (its conv, its
// precision, its threads) and are evaluated on a data set's test split; the result stands
// beside the run's own test result for that epoch.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/drift.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/trainer/config.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/evaluate.h"

namespace trackbench::tracking {

struct evaluation_request {
  std::string epoch = "last";  // --epoch: N, best (highest validation accuracy, the first of them) or last
  std::optional<trainer::device_kind> device;  // --device; the run's own device setting when not given
  std::int64_t batch_size = 0;                 // --batch-size; 0: the run's eval_batch_size
};

// The epoch `request` names among the run's epochs; throws input_error naming --epoch and `name`.
int select_epoch(const run_record& run, const std::string& epoch, const std::string& name);

struct evaluation_outcome {
  std::string run_id;
  int epoch = 0;
  std::vector<parameter_digest> digests;   // of the weights evaluated, as the run recorded them
  std::string device;                      // cpu or cuda:<index>
  std::int64_t batch_size = 0;
  trainer::evaluation_result result;
  trainer::classification_metrics run_test;  // the run's recorded test metrics of `epoch`
  trainer::data_profile profile;             // of the test split evaluated on
  // The new data against the run's training split (analysis/drift.h); nullopt for a run
  // recorded before the data profiles (schema version 5).
  std::optional<drift_report> drift;
};

// Evaluates the weights of the epoch `request` names of `run` (read from `name` through the
// guarded reader at read_depth::arrays) on `data`'s test split. Throws input_error naming
// `name`: no weights kept (--keep-weights none), that epoch's weights not kept, a model the
// device cannot run (--conv custom on a CPU); snapshot_error for weights that fail their digests.
evaluation_outcome evaluate_recorded(const snapshot_reader& run, const std::string& name, const trainer::dataset& data,
                                     const evaluation_request& request);

// One line of the comparison with the run: a metric, its value in the run and in the evaluation.
struct metric_change {
  std::string metric;  // accuracy, precision, recall, f1 (fractions), loss (nats)
  double run = 0.0;
  double evaluation = 0.0;
  bool fraction = true;  // shown in percent, its change in points
};
std::vector<metric_change> compare_with_run(const evaluation_outcome& outcome);

}  // namespace trackbench::tracking
