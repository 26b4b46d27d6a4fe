#pragma once
// JSON over HTTP with libcurl, for MLflow's REST API: every failure becomes an mlflow_error
// naming the server, the request, the HTTP status and MLflow's error code.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace trackbench::interop {

// `uri` without trailing slashes; throws input_error naming --tracking-uri unless it is http(s).
std::string checked_tracking_uri(std::string uri);

class rest_client {
 public:
  // `base` is the tracking URI without a trailing slash, e.g. http://127.0.0.1:5000.
  rest_client(std::string base, long timeout_seconds);

  // GET base/path?query (the query's values are URL-encoded here).
  nlohmann::json get(const std::string& path, const std::vector<std::pair<std::string, std::string>>& query) const;
  nlohmann::json post(const std::string& path, const nlohmann::json& body) const;
  // PUT of a file's bytes, streamed from disk.
  void put_file(const std::string& path, const std::filesystem::path& file) const;

  const std::string& base() const { return base_; }
  std::string where() const { return "MLflow at " + base_ + ": "; }  // how messages begin

 private:
  nlohmann::json perform(const std::string& method, const std::string& path, const std::string& url,
                         const std::string* body, const std::filesystem::path* upload) const;

  std::string base_;
  long timeout_seconds_;
};

}  // namespace trackbench::interop
