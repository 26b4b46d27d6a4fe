#include "trackbench/interop/mlflow_registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <regex>

#include "rest_client.h"
#include "trackbench/trainer/checksum.h"
#include "trackbench/tracking/format/weights_policy.h"

namespace trackbench::interop {
namespace {

using json = nlohmann::json;

const std::string api = "/api/2.0/mlflow/";
// MLflow's limits: the registered model name column, MAX_REGISTERED_MODEL_ALIAS_LENGTH.
constexpr std::size_t max_model_name = 256;
constexpr std::size_t max_alias = 255;

// Characters, not bytes, as MLflow (Python) counts them: UTF-8 continuation bytes are not counted.
std::size_t characters(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string weights_tag(int epoch) { return "trackbench.weights.epoch_" + std::to_string(epoch) + ".sha256"; }

model_version version_of(const json& version) {
  model_version out;
  out.name = version.value("name", std::string());
  out.version = version.value("version", std::string());
  out.source = version.value("source", std::string());
  out.run_id = version.value("run_id", std::string());
  for (const auto& tag : version.value("tags", json::array())) {
    out.tags[tag.value("key", std::string())] = tag.value("value", std::string());
  }
  for (const auto& alias : version.value("aliases", json::array())) out.aliases.push_back(alias.get<std::string>());
  return out;
}

}  // namespace

void validate_model_name(const std::string& name, const std::string& flag) {
  const auto blank = name.find_first_not_of(" \t\n\r\v\f") == std::string::npos;
  if (blank) throw input_error(flag + ": expected a registered model name, got an empty one");
  const auto refuse = [&](const std::string& why) {
    throw input_error(flag + " '" + name + "': MLflow refuses this registered model name: " + why);
  };
  if (name.find_first_of("/:") != std::string::npos) refuse("it may not contain '/' or ':'");
  // MLflow treats names as paths: they must not be '.' or climb with '..'.
  if (name == "." || name.rfind("..", 0) == 0) refuse("it may not be '.' or begin with '..'");
  if (characters(name) > max_model_name) refuse(fmt::format("it is longer than {} characters", max_model_name));
}

void validate_model_alias(const std::string& alias, const std::string& flag) {
  if (alias.empty()) throw input_error(flag + ": expected an alias such as champion, got an empty one");
  const auto refuse = [&](const std::string& why) { throw input_error(flag + " '" + alias + "': " + why); };
  static const std::regex allowed("[A-Za-z0-9_-]+");
  if (!std::regex_match(alias, allowed)) refuse("an alias may hold only letters, digits, '_' and '-'");
  if (alias.size() > max_alias) refuse(fmt::format("an alias is at most {} characters", max_alias));
  std::string lower = alias;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "latest") refuse("MLflow reserves 'latest' for the newest version");
  static const std::regex version_alias("[vV][0-9]+");
  if (std::regex_match(alias, version_alias)) refuse("MLflow reserves v<number> for version numbers");
}

std::string weights_digest(const std::vector<tracking::parameter_digest>& parameters) {
  std::string lines;
  for (const auto& parameter : parameters) lines += parameter.name + " " + parameter.sha256 + "\n";
  return trainer::sha256_hex(lines.data(), lines.size());
}

std::map<std::string, std::string> model_version_tags(const tracking::snapshot_reader& reader,
                                                      const std::string& snapshot) {
  const auto& record = reader.record();
  if (!tracking::keeps_weights(record)) {
    throw input_error(snapshot + ": keeps no weights (recorded with --keep-weights none), so it holds no model to register");
  }
  const auto kept = reader.weight_epochs();
  if (kept.empty()) throw input_error(snapshot + ": holds no epoch's weights (the run completed no epoch) to register");
  std::map<std::string, std::string> tags;
  for (const int epoch : kept) {
    const auto digests = reader.parameter_digests(epoch);
    if (digests.empty()) throw input_error(snapshot + ": records no parameter digests for epoch " + std::to_string(epoch));
    tags[weights_tag(epoch)] = weights_digest(digests);
  }
  // The version is the run's final weights: the last kept epoch, which every policy but none keeps.
  const int last = kept.back();
  tags["trackbench.weights.epoch"] = std::to_string(last);
  tags["trackbench.weights.sha256"] = tags[weights_tag(last)];
  for (const auto& parameter : reader.parameter_digests(last)) {
    tags["trackbench.weights.parameter." + parameter.name + ".sha256"] = parameter.sha256;
  }
  for (const auto& epoch : record.epochs) {
    if (epoch.epoch == last) tags["trackbench.test_accuracy"] = json(epoch.test.accuracy).dump();
  }
  const auto tree = record.code.value("tree", std::string("unknown"));
  tags["trackbench.run_id"] = record.identity["run_id"].get<std::string>();
  tags["trackbench.snapshot"] = std::filesystem::path(snapshot).filename().string();
  tags["trackbench.git.commit"] = record.code.value("commit", std::string());
  tags["trackbench.git.dirty"] = tree == "dirty" ? "true" : tree == "clean" ? "false" : "unknown";
  tags["trackbench.data.digest"] = record.data.value("content_sha256", std::string());
  return tags;
}

mlflow_registry::mlflow_registry(mlflow_options options, std::string model, std::string alias)
    : options_(std::move(options)), model_(std::move(model)), alias_(std::move(alias)) {
  options_.tracking_uri = checked_tracking_uri(options_.tracking_uri);
  validate_model_name(model_);
  if (!alias_.empty()) validate_model_alias(alias_);
}

// model-versions/search over every page; the model's name is matched here, not in the filter,
// since a name may hold quotes the filter language would need escaped.
std::optional<model_version> mlflow_registry::search_one(const std::string& filter) const {
  const rest_client client(options_.tracking_uri, options_.timeout_seconds);
  std::string page;
  do {
    std::vector<std::pair<std::string, std::string>> query{{"filter", filter}, {"max_results", "1000"}};
    if (!page.empty()) query.emplace_back("page_token", page);
    const auto found = client.get(api + "model-versions/search", query);
    for (const auto& version : found.value("model_versions", json::array())) {
      if (version.value("name", std::string()) == model_) return version_of(version);
    }
    page = found.value("next_page_token", std::string());
  } while (!page.empty());
  return std::nullopt;
}

std::optional<model_version> mlflow_registry::find_version(const std::string& mlflow_run_id) const {
  // MLflow run ids are hex; anything else would not be one and could break the filter.
  static const std::regex plain("[A-Za-z0-9_-]{1,256}");
  if (!std::regex_match(mlflow_run_id, plain)) throw input_error("'" + mlflow_run_id + "' is not an MLflow run id");
  return search_one("run_id = '" + mlflow_run_id + "'");
}

std::optional<model_version> mlflow_registry::version_by_alias(const std::string& alias) const {
  const rest_client client(options_.tracking_uri, options_.timeout_seconds);
  // The model's alias list, not registered-models/alias: MLflow answers an unknown alias there
  // with INVALID_PARAMETER_VALUE, which would not tell it from a bad request.
  json model;
  try {
    model = client.get(api + "registered-models/get", {{"name", model_}}).at("registered_model");
  } catch (const mlflow_error& e) {
    if (e.error_code() == "RESOURCE_DOES_NOT_EXIST") return std::nullopt;
    throw;
  }
  for (const auto& entry : model.value("aliases", json::array())) {
    if (entry.value("alias", std::string()) != alias) continue;
    return version_of(
        client.get(api + "model-versions/get", {{"name", model_}, {"version", entry.value("version", std::string())}})
            .at("model_version"));
  }
  return std::nullopt;
}

model_registration mlflow_registry::register_run(const mlflow_export& exported,
                                                 const std::map<std::string, std::string>& tags) {
  const rest_client client(options_.tracking_uri, options_.timeout_seconds);
  if (exported.artifact_path.empty()) {
    throw mlflow_error(client.where() + "cannot register model '" + model_ + "': the snapshot is not among MLflow run " +
                           exported.run_id + "'s artifacts (" + exported.artifact + "), and a version must point at it",
                       0, "");
  }
  model_registration result;
  try {
    try {
      client.get(api + "registered-models/get", {{"name", model_}});
    } catch (const mlflow_error& e) {
      if (e.error_code() != "RESOURCE_DOES_NOT_EXIST") throw;
      try {
        client.post(api + "registered-models/create", {{"name", model_}});
        result.model_created = true;
      } catch (const mlflow_error& created) {
        if (created.error_code() != "RESOURCE_ALREADY_EXISTS") throw;  // another export made it meanwhile
      }
    }

    // One version per MLflow run, so exporting a snapshot again finds its version.
    auto found = find_version(exported.run_id);
    if (!found) {
      json tag_list = json::array();
      for (const auto& [key, value] : tags) tag_list.push_back({{"key", key}, {"value", value}});
      found = version_of(client
                             .post(api + "model-versions/create",
                                   {{"name", model_},
                                    {"source", "runs:/" + exported.run_id + "/" + exported.artifact_path},
                                    {"run_id", exported.run_id},
                                    {"tags", tag_list}})
                             .at("model_version"));
      result.version_created = true;
    } else {
      // A snapshot exported while its run trained has new weights the next time.
      for (const auto& [key, value] : tags) {
        const auto held = found->tags.find(key);
        if (held != found->tags.end() && held->second == value) continue;
        client.post(api + "model-versions/set-tag",
                    {{"name", model_}, {"version", found->version}, {"key", key}, {"value", value}});
        ++result.tags_set;
      }
    }

    if (!alias_.empty()) {
      const auto before = version_by_alias(alias_);
      result.alias = alias_;
      result.alias_was = before ? before->version : "";
      if (!before || before->version != found->version) {
        client.post(api + "registered-models/alias", {{"name", model_}, {"alias", alias_}, {"version", found->version}});
      }
    }
    // Read back, so the result says what the server now holds (the alias included).
    result.version =
        version_of(client.get(api + "model-versions/get", {{"name", model_}, {"version", found->version}}).at("model_version"));
  } catch (const mlflow_error& e) {
    throw mlflow_error(fmt::format("{}; the run is exported (MLflow run {}) but not registered as a version of '{}' "
                                   "with every tag and alias: the same export again completes it",
                                   e.what(), exported.run_id, model_),
                       e.http_status(), e.error_code());
  }
  return result;
}

}  // namespace trackbench::interop
