#include "trackbench/interop/mlflow.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>
#include <regex>

#include "json_text.h"
#include "rest_client.h"
#include "trackbench/tracking/analysis/compare.h"
#include "trackbench/tracking/format/schema.h"

namespace trackbench::interop {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

const std::string api = "/api/2.0/mlflow/";
const std::string artifacts_api = "/api/2.0/mlflow-artifacts/artifacts/";
// MLflow refuses longer values (its MAX_PARAM_VAL_LENGTH and MAX_TAG_VAL_LENGTH); longer text is cut.
constexpr std::size_t max_param_value = 6000;
constexpr std::size_t max_tag_value = 8000;
constexpr std::size_t max_dataset_digest = 36;  // MAX_DATASET_DIGEST_SIZE

json key_value(const std::string& key, std::string value, std::size_t limit) {
  if (value.size() > limit) value.resize(limit);
  return {{"key", key}, {"value", std::move(value)}};
}

// MLflow keys allow letters, digits, _ - . / and spaces; snapshot names may also hold '+'.
std::string mlflow_key(std::string key) {
  for (auto& c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' && c != '/' && c != ' ') c = '_';
  }
  return key;
}

// A section as tags prefix.key; lists of objects (GPUs, data files) as prefix.key.<index or name>.field.
void add_section(json& tags, const std::string& prefix, const ordered_json& section) {
  for (const auto& [key, value] : section.items()) {
    if (value.is_array() && !value.empty() && value.front().is_object()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        const auto& item = value[i];
        const std::string name = item.contains("name") && key == "files" ? item["name"].get<std::string>() : std::to_string(i);
        for (const auto& [field, field_value] : item.items()) {
          tags.push_back(key_value(mlflow_key(prefix + key + "." + name + "." + field), text_of(field_value), max_tag_value));
        }
      }
      continue;
    }
    tags.push_back(key_value(mlflow_key(prefix + key), text_of(value), max_tag_value));
  }
}

// MLflow writes int64 fields as numbers, protobuf's JSON mapping as strings.
std::int64_t integer_of(const json& value) {
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_string()) return std::strtoll(value.get<std::string>().c_str(), nullptr, 10);
  return -1;
}

std::string login_name() {
  if (const passwd* entry = ::getpwuid(::geteuid()); entry != nullptr && entry->pw_name != nullptr) return entry->pw_name;
  const char* user = std::getenv("USER");
  return user != nullptr ? user : "unknown";
}

// The GPU the run trained on, or the CPU when it trained on none.
std::string device_model(const tracking::run_record& record) {
  const auto device = record.config.value("device_used", std::string());
  if (device.rfind("cuda:", 0) == 0) {
    for (const auto& gpu : record.environment.value("gpus", ordered_json::array())) {
      if ("cuda:" + std::to_string(gpu.value("index", -1)) == device) return gpu.value("name", device);
    }
    return device;
  }
  return record.environment.value("cpu_model", std::string("cpu"));
}

json run_tags(const tracking::run_record& record) {
  const auto& identity = record.identity;
  const auto tree = record.code.value("tree", std::string("unknown"));
  json tags = json::array();
  tags.push_back(key_value("mlflow.runName", identity["run_id"].get<std::string>(), max_tag_value));
  tags.push_back(key_value("mlflow.user", login_name(), max_tag_value));
  tags.push_back(key_value("mlflow.source.name", identity.value("command_line", std::string()), max_tag_value));
  tags.push_back(key_value("mlflow.source.type", "LOCAL", max_tag_value));
  tags.push_back(key_value("mlflow.source.git.commit", record.code.value("commit", std::string()), max_tag_value));
  tags.push_back(key_value("mlflow.source.git.branch", record.code.value("branch", std::string()), max_tag_value));
  tags.push_back(key_value("trackbench.git.dirty", tree == "dirty" ? "true" : tree == "clean" ? "false" : "unknown", max_tag_value));
  tags.push_back(key_value("trackbench.data.digest", record.data.value("content_sha256", std::string()), max_tag_value));
  tags.push_back(key_value("trackbench.device", device_model(record), max_tag_value));
  tags.push_back(key_value("trackbench.conv", record.config.value("conv", std::string()), max_tag_value));
  // Everything else the snapshot says about the run, so nothing is lost on the way.
  ordered_json shown_identity = identity;
  shown_identity["status"] = tracking::displayed_status(record);
  add_section(tags, "trackbench.", shown_identity);
  add_section(tags, "trackbench.tag.", record.tags);
  add_section(tags, "trackbench.environment.", record.environment);
  add_section(tags, "trackbench.code.", record.code);
  add_section(tags, "trackbench.data.", record.data);
  return tags;
}

// Per-epoch metrics, key by key in step order, leaving out the steps `logged` already holds
// (key -> last step), so a run that an interrupted export left half-filled is completed.
json run_metrics(const tracking::run_record& record, const std::map<std::string, std::int64_t>& logged) {
  const auto document = tracking::to_json(record);
  const std::int64_t start = unix_millis(record.identity["start_time"].get<std::string>(), "start_time");
  std::vector<std::int64_t> timestamps;
  double elapsed = 0.0;
  for (const auto& epoch : record.epochs) {
    elapsed += epoch.epoch_seconds;
    timestamps.push_back(start + std::llround(elapsed * 1000.0));
  }
  std::map<std::string, json> by_key;
  std::vector<std::string> order;
  for (std::size_t e = 0; e < record.epochs.size(); ++e) {
    const auto& row = document["epochs"][e];
    const std::int64_t step = row["epoch"].get<std::int64_t>();
    for (const auto& [key, value] : row.items()) {
      if (key == "epoch" || !value.is_number()) continue;  // confusion matrices and absent values
      if (const auto found = logged.find(key); found != logged.end() && step <= found->second) continue;
      if (by_key.find(key) == by_key.end()) order.push_back(key);
      by_key[key].push_back({{"key", key}, {"value", value.get<double>()}, {"timestamp", timestamps[e]}, {"step", step}});
    }
  }
  json metrics = json::array();
  for (const auto& key : order) {
    for (auto& metric : by_key[key]) metrics.push_back(std::move(metric));
  }
  // Values the run records once (warm-up, time to its --target), at step 0, when it has them.
  for (const auto& key : tracking::schema::run_level_metrics()) {
    const auto value = tracking::summary_metric(record, key);
    if (!value || logged.count(key) > 0) continue;
    metrics.push_back({{"key", key}, {"value", *value}, {"timestamp", start}, {"step", 0}});
  }
  return metrics;
}

// "tags.`trackbench.run_id` = '...'" needs a value without quotes; run ids never hold any.
void require_plain_run_id(const std::string& run_id) {
  static const std::regex plain("[A-Za-z0-9_.:-]{1,128}");
  if (!std::regex_match(run_id, plain)) throw input_error("run_id '" + run_id + "' is not a trackbench run id");
}

// Where the server stores the run's artifacts, when it serves them itself: the part of an
// mlflow-artifacts: URI after the scheme (and after an authority, when it has one).
std::optional<std::string> served_artifact_path(const std::string& artifact_uri) {
  const std::string scheme = "mlflow-artifacts:";
  if (artifact_uri.rfind(scheme, 0) != 0) return std::nullopt;
  std::string path = artifact_uri.substr(scheme.size());
  if (path.rfind("//", 0) == 0) {
    const auto slash = path.find('/', 2);
    path = slash == std::string::npos ? "" : path.substr(slash);
  }
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  return path;
}

}  // namespace

std::vector<json> log_batch_requests(const std::string& run_id, const json& metrics, const json& params,
                                     const json& tags, const log_batch_limits& limits) {
  std::vector<json> requests;
  json current;
  std::size_t bytes = 0;
  const auto start = [&] {
    current = {{"run_id", run_id}, {"metrics", json::array()}, {"params", json::array()}, {"tags", json::array()}};
    bytes = current.dump().size();
  };
  start();
  const auto add = [&](const char* kind, const json& item, std::size_t limit) {
    const std::size_t size = item.dump(-1, ' ', false, json::error_handler_t::replace).size() + 1;  // and a comma
    const std::size_t entities = current["metrics"].size() + current["params"].size() + current["tags"].size();
    if (current[kind].size() >= limit || entities >= limits.entities || bytes + size > limits.bytes) {
      requests.push_back(std::move(current));
      start();
    }
    current[kind].push_back(item);
    bytes += size;
  };
  for (const auto& item : tags) add("tags", item, limits.tags);
  for (const auto& item : params) add("params", item, limits.params);
  for (const auto& item : metrics) add("metrics", item, limits.metrics);
  if (!current["metrics"].empty() || !current["params"].empty() || !current["tags"].empty()) {
    requests.push_back(std::move(current));
  }
  return requests;
}

std::string mlflow_status(const tracking::run_record& record) {
  const auto status = tracking::displayed_status(record);
  if (status == "completed") return "FINISHED";
  if (status == "failed") return "FAILED";
  return "KILLED";  // interrupted, or killed while running
}

std::int64_t unix_millis(const std::string& text, const std::string& field) {
  static const std::regex iso("(\\d{4})-(\\d{2})-(\\d{2})T(\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,3}))?Z");
  std::smatch parts;
  if (!std::regex_match(text, parts, iso)) {
    throw input_error(field + " '" + text + "' is not an ISO 8601 UTC time such as 2026-11-27T02:37:55.120Z");
  }
  std::tm time{};
  time.tm_year = std::stoi(parts[1]) - 1900;
  time.tm_mon = std::stoi(parts[2]) - 1;
  time.tm_mday = std::stoi(parts[3]);
  time.tm_hour = std::stoi(parts[4]);
  time.tm_min = std::stoi(parts[5]);
  time.tm_sec = std::stoi(parts[6]);
  std::string fraction = parts[7].matched ? parts[7].str() : "0";
  fraction.resize(3, '0');
  return static_cast<std::int64_t>(::timegm(&time)) * 1000 + std::stoi(fraction);
}

mlflow_exporter::mlflow_exporter(mlflow_options options) : options_(std::move(options)) {
  options_.tracking_uri = checked_tracking_uri(options_.tracking_uri);
  if (options_.experiment.empty()) throw input_error("--experiment: expected a non-empty experiment name");
}

std::string mlflow_exporter::experiment_id() {
  if (!experiment_id_.empty()) return experiment_id_;
  const rest_client client(options_.tracking_uri, options_.timeout_seconds);
  try {
    const auto found = client.get(api + "experiments/get-by-name", {{"experiment_name", options_.experiment}});
    const auto& experiment = found.at("experiment");
    if (experiment.value("lifecycle_stage", std::string()) == "deleted") {
      throw mlflow_error(client.where() + "experiment '" + options_.experiment +
                             "' is deleted; restore it or name another with --experiment",
                         200, "");
    }
    experiment_id_ = experiment.at("experiment_id").get<std::string>();
  } catch (const mlflow_error& e) {
    if (e.error_code() != "RESOURCE_DOES_NOT_EXIST") throw;
    experiment_id_ = client.post(api + "experiments/create", {{"name", options_.experiment}}).at("experiment_id").get<std::string>();
  }
  return experiment_id_;
}

mlflow_export mlflow_exporter::export_run(const fs::path& snapshot, const tracking::run_record& record) {
  const rest_client client(options_.tracking_uri, options_.timeout_seconds);
  const std::string run_id = record.identity["run_id"].get<std::string>();
  require_plain_run_id(run_id);
  const std::int64_t start = unix_millis(record.identity["start_time"].get<std::string>(), "start_time");
  const auto end_text = record.identity.value("end_time", std::string());
  double seconds = 0.0;
  for (const auto& epoch : record.epochs) seconds += epoch.epoch_seconds;
  const std::int64_t end = end_text.empty() ? start + std::llround(seconds * 1000.0) : unix_millis(end_text, "end_time");

  mlflow_export result;
  result.experiment_id = experiment_id();
  const auto found = client.post(api + "runs/search", {{"experiment_ids", json::array({result.experiment_id})},
                                                       {"filter", "tags.`trackbench.run_id` = '" + run_id + "'"},
                                                       {"max_results", 1}});
  json run;
  if (found.contains("runs") && !found["runs"].empty()) {
    run = client.get(api + "runs/get", {{"run_id", found["runs"][0]["info"]["run_id"].get<std::string>()}}).at("run");
  } else {
    // Created with the tag it is found by, so an export that fails later is completed, not repeated.
    run = client.post(api + "runs/create", {{"experiment_id", result.experiment_id},
                                            {"run_name", run_id},
                                            {"start_time", start},
                                            {"tags", json::array({key_value("trackbench.run_id", run_id, max_tag_value)})}})
              .at("run");
    result.created = true;
  }
  result.run_id = run.at("info").at("run_id").get<std::string>();
  result.url = options_.tracking_uri + "/#/experiments/" + result.experiment_id + "/runs/" + result.run_id;

  std::size_t planned_metrics = 0;
  try {
    std::map<std::string, std::int64_t> logged_steps;
    std::map<std::string, bool> logged_params;
    const auto& data = run.contains("data") ? run["data"] : json::object();
    for (const auto& metric : data.value("metrics", json::array())) {
      logged_steps[metric.at("key").get<std::string>()] = integer_of(metric.value("step", json(0)));
    }
    for (const auto& param : data.value("params", json::array())) logged_params[param.at("key").get<std::string>()] = true;

    json params = json::array();
    for (const auto& [key, value] : record.config.items()) {
      if (!logged_params.count(key)) params.push_back(key_value(key, text_of(value), max_param_value));
    }
    const json metrics = run_metrics(record, logged_steps);
    // Tags are always sent: they are overwritten in place and follow a status that changed.
    const json tags = run_tags(record);
    planned_metrics = metrics.size();
    for (const auto& request : log_batch_requests(result.run_id, metrics, params, tags)) {
      client.post(api + "runs/log-batch", request);
      result.metric_values += request["metrics"].size();
      result.params += request["params"].size();
      result.tags += request["tags"].size();
      ++result.batches;
    }

    const auto digest = record.data.value("content_sha256", std::string());
    bool has_input = false;
    for (const auto& input : run.value("inputs", json::object()).value("dataset_inputs", json::array())) {
      has_input = has_input || input.value("dataset", json::object()).value("digest", std::string()) ==
                                   digest.substr(0, max_dataset_digest);
    }
    if (!has_input) {
      const json profile = {{"content_sha256", digest},
                            {"train_count", record.data.value("train_count", 0)},
                            {"test_count", record.data.value("test_count", 0)},
                            {"split_train_count", record.data.value("split_train_count", 0)},
                            {"split_validation_count", record.data.value("split_validation_count", 0)}};
      // MLflow keeps at most 36 characters of a dataset digest; the whole SHA-256 is in the
      // profile and the tag trackbench.data.digest.
      const json dataset = {{"name", record.data.value("name", std::string("data"))},
                            {"digest", digest.substr(0, max_dataset_digest)},
                            {"source_type", "local"},
                            {"source", json{{"uri", record.data.value("source", std::string())}}.dump()},
                            {"profile", profile.dump()}};
      const json input = {{"tags", json::array({key_value("mlflow.data.context", "train", max_tag_value)})},
                          {"dataset", dataset}};
      client.post(api + "runs/log-inputs", {{"run_id", result.run_id}, {"datasets", json::array({input})}});
      result.inputs_logged = true;
    }

    const auto artifact_uri = run.at("info").value("artifact_uri", std::string());
    const auto served = served_artifact_path(artifact_uri);
    const auto name = snapshot.filename().string();
    if (!served) {
      result.artifact = "not uploaded: the server does not serve artifacts (the run's artifact location is '" +
                        artifact_uri + "')";
    } else {
      std::error_code error;
      const auto size = static_cast<std::int64_t>(fs::file_size(snapshot, error));
      bool present = false;
      for (const auto& file : client.get(api + "artifacts/list", {{"run_id", result.run_id}}).value("files", json::array())) {
        present = present || (file.value("path", std::string()) == name && integer_of(file.value("file_size", json())) == size);
      }
      if (present) {
        result.artifact = name + " already uploaded";
      } else {
        client.put_file(artifacts_api + *served + "/" + name, snapshot);
        result.artifact = name + " uploaded";
      }
      result.artifact_path = name;
    }
    client.post(api + "runs/update", {{"run_id", result.run_id}, {"status", mlflow_status(record)}, {"end_time", end}});
  } catch (const mlflow_error& e) {
    throw mlflow_error(
        fmt::format("{}; MLflow run {} in experiment {} is incomplete (this export logged {} of {} metric values, {} "
                    "params and {} tags before the failure; its status is not set): exporting {} again completes it",
                    e.what(), result.run_id, result.experiment_id, result.metric_values, planned_metrics, result.params,
                    result.tags, snapshot.string()),
        e.http_status(), e.error_code());
  }
  return result;
}

}  // namespace trackbench::interop
