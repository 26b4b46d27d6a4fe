#pragma once
// A run snapshot as a version of a registered model in MLflow's Model Registry, through its REST
// API: the version points at the snapshot the run export uploaded and carries the weights'
// digests, the commit and the data digest as tags; an alias (champion) names the version in use,
// and moving it back to an older version is the rollback.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "trackbench/interop/mlflow.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"

namespace trackbench::interop {

// MLflow's rules, checked before any request; each throws input_error naming `flag`.
// A name: not blank, no '/' or ':', not '.' nor beginning with '..', at most 256 characters.
void validate_model_name(const std::string& name, const std::string& flag = "--register-model");
// An alias: letters, digits, '_' and '-', 1 to 255 characters; `latest` and v<digits> are MLflow's own.
void validate_model_alias(const std::string& alias, const std::string& flag = "--alias");

// One digest for an epoch's weights: the SHA-256 of "<name> <sha256>\n" per parameter, in the
// recorded order. What the version tags trackbench.weights.sha256 and
// trackbench.weights.epoch_<N>.sha256 hold, so an evaluation of those weights finds its version.
std::string weights_digest(const std::vector<tracking::parameter_digest>& parameters);

// The tags a model version of this snapshot carries (docs/interop.md lists them). Throws
// input_error naming `snapshot` when it keeps no weights (--keep-weights none, or no epoch done).
std::map<std::string, std::string> model_version_tags(const tracking::snapshot_reader& reader,
                                                      const std::string& snapshot);

struct model_version {
  std::string name;
  std::string version;  // "1", "2", ... as MLflow numbers them
  std::string source;
  std::string run_id;   // MLflow's
  std::map<std::string, std::string> tags;
  std::vector<std::string> aliases;
};

struct model_registration {
  model_version version;
  bool model_created = false;    // false: the registered model existed
  bool version_created = false;  // false: this run's snapshot was registered before
  std::size_t tags_set = 0;      // on a version found: tags it lacked or held other values of
  std::string alias;             // set by this registration; empty without one
  std::string alias_was;         // the version the alias named before; empty when it named none
};

class mlflow_registry {
 public:
  // Throws input_error for a bad tracking URI, model name or alias (empty: none).
  mlflow_registry(mlflow_options options, std::string model, std::string alias = "");

  // Registers the snapshot `exported` (export_run's result for it) uploaded: creates the model
  // when missing, and a version unless the MLflow run has one already (then completes its tags);
  // then points the alias at it. `tags` are model_version_tags of the snapshot. Throws
  // mlflow_error, also when the snapshot is not among the run's artifacts.
  model_registration register_run(const mlflow_export& exported, const std::map<std::string, std::string>& tags);

  // The model's version made from MLflow run `mlflow_run_id`, if any.
  std::optional<model_version> find_version(const std::string& mlflow_run_id) const;
  // The version `alias` names, if it names one.
  std::optional<model_version> version_by_alias(const std::string& alias) const;

  const std::string& model() const { return model_; }

 private:
  std::optional<model_version> search_one(const std::string& filter) const;

  mlflow_options options_;
  std::string model_, alias_;
};

}  // namespace trackbench::interop
