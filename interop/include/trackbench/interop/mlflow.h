#pragma once
// Export of run snapshots to an MLflow tracking server through its REST API: one MLflow run
// per snapshot, found again by its trackbench run id so that exporting twice changes nothing.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::interop {

// The server could not be reached or answered an error. The message names the server, the
// request, the HTTP status and MLflow's error code (0 and "" when there was no answer).
class mlflow_error : public std::runtime_error {
 public:
  mlflow_error(const std::string& message, long http_status, std::string error_code)
      : std::runtime_error(message),
        http_status_(http_status),
        error_code_(std::move(error_code)) {}
  long http_status() const { return http_status_; }
  const std::string& error_code() const { return error_code_; }

 private:
  long http_status_;
  std::string error_code_;
};

// What one runs/log-batch request may carry: MLflow's documented limits.
struct log_batch_limits {
  std::size_t metrics = 1000;
  std::size_t params = 100;
  std::size_t tags = 100;
  std::size_t entities = 1000;       // metrics, params and tags together
  std::size_t bytes = 1000 * 1000;   // the request body
};

// Splits metrics, params and tags (arrays of MLflow Metric and Param/RunTag objects) into
// runs/log-batch bodies for `run_id` within `limits`, keeping their order.
std::vector<nlohmann::json> log_batch_requests(const std::string& run_id, const nlohmann::json& metrics,
                                               const nlohmann::json& params, const nlohmann::json& tags,
                                               const log_batch_limits& limits = {});

// MLflow's run status for a snapshot's (displayed) status: FINISHED, FAILED or KILLED.
std::string mlflow_status(const tracking::run_record& record);

// Milliseconds since 1970 for trackbench's ISO 8601 UTC times (2026-11-27T02:37:55.120Z).
// Throws input_error naming `field` when `text` is not one.
std::int64_t unix_millis(const std::string& text, const std::string& field);

struct mlflow_options {
  std::string tracking_uri;  // http(s)://host[:port][/prefix]
  std::string experiment = "trackbench";
  long timeout_seconds = 120;  // per request; the artifact upload is one request
};

struct mlflow_export {
  std::string experiment_id;
  std::string run_id;  // MLflow's
  std::string url;     // the run's page in the MLflow UI
  bool created = false;  // false: an earlier export made the run, and only what it lacks was added
  std::size_t metric_values = 0;  // logged by this export
  std::size_t params = 0;
  std::size_t tags = 0;
  std::size_t batches = 0;  // runs/log-batch requests
  bool inputs_logged = false;
  std::string artifact;  // what became of the snapshot file: uploaded, already there, or why not
  std::string artifact_path;  // the snapshot's path among the run's artifacts; empty when not there
};

class mlflow_exporter {
 public:
  // Throws input_error when the URI is not http(s) or the experiment name is empty.
  explicit mlflow_exporter(mlflow_options options);

  // Exports one snapshot. Throws mlflow_error; once its MLflow run exists, the message also
  // says what that run holds so far and that exporting again completes it.
  mlflow_export export_run(const std::filesystem::path& snapshot, const tracking::run_record& record);

 private:
  std::string experiment_id();

  mlflow_options options_;
  std::string experiment_id_;  // looked up or created once
};

}  // namespace trackbench::interop
