#include "rest_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <mutex>

#include "trackbench/interop/mlflow.h"

namespace trackbench::interop {
namespace {

using json = nlohmann::json;

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::string encode(CURL* curl, const std::string& text) {
  std::unique_ptr<char, decltype(&curl_free)> escaped(
      curl_easy_escape(curl, text.c_str(), static_cast<int>(text.size())), curl_free);
  return escaped ? std::string(escaped.get()) : text;
}

// MLflow answers errors as {"error_code": "...", "message": "..."}; other servers may not.
std::string describe_error_body(const std::string& body, std::string& error_code) {
  const auto parsed = json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error_code")) {
    error_code = parsed["error_code"].is_string() ? parsed["error_code"].get<std::string>() : parsed["error_code"].dump();
    const auto message = parsed.value("message", std::string());
    return error_code + (message.empty() ? "" : ": " + message);
  }
  constexpr std::size_t shown = 300;
  return body.empty() ? "an empty body" : "body '" + body.substr(0, shown) + (body.size() > shown ? "...'" : "'");
}

}  // namespace

std::string checked_tracking_uri(std::string uri) {
  if (uri.rfind("http://", 0) != 0 && uri.rfind("https://", 0) != 0) {
    throw input_error("--tracking-uri '" + uri + "': expected an http:// or https:// address of an MLflow server");
  }
  while (uri.size() > 8 && uri.back() == '/') uri.pop_back();
  return uri;
}

rest_client::rest_client(std::string base, long timeout_seconds)
    : base_(std::move(base)), timeout_seconds_(timeout_seconds) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

json rest_client::get(const std::string& path, const std::vector<std::pair<std::string, std::string>>& query) const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string url = base_ + path;
  for (std::size_t i = 0; i < query.size(); ++i) {
    url += (i == 0 ? "?" : "&") + query[i].first + "=" + encode(curl.get(), query[i].second);
  }
  return perform("GET", path, url, nullptr, nullptr);
}

json rest_client::post(const std::string& path, const json& body) const {
  const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return perform("POST", path, base_ + path, &text, nullptr);
}

void rest_client::put_file(const std::string& path, const std::filesystem::path& file) const {
  perform("PUT", path, base_ + path, nullptr, &file);
}

json rest_client::perform(const std::string& method, const std::string& path, const std::string& url,
                          const std::string* body, const std::filesystem::path* upload) const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw mlflow_error(where() + method + " " + path + ": curl_easy_init failed", 0, "");
  char error_buffer[CURL_ERROR_SIZE] = {};
  std::string response;
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr, curl_slist_free_all);
  std::unique_ptr<FILE, decltype(&std::fclose)> input(nullptr, std::fclose);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, timeout_seconds_);
  curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "trackbench");
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  if (body != nullptr) {
    headers.reset(curl_slist_append(nullptr, "Content-Type: application/json"));
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  if (upload != nullptr) {
    input.reset(std::fopen(upload->c_str(), "rb"));
    std::error_code error;
    const auto size = std::filesystem::file_size(*upload, error);
    if (!input || error) throw input_error(upload->string() + ": cannot read the file to upload");
    headers.reset(curl_slist_append(nullptr, "Content-Type: application/octet-stream"));
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_READDATA, input.get());
    curl_easy_setopt(curl.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
  }
  const CURLcode status = curl_easy_perform(curl.get());
  const std::string request = method + " " + path;
  if (status != CURLE_OK) {
    throw mlflow_error(where() + fmt::format("cannot reach the server ({}): {}", request,
                                          error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(status)),
                       0, "");
  }
  long http_status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &http_status);
  if (http_status < 200 || http_status >= 300) {
    std::string error_code;
    const auto described = describe_error_body(response, error_code);
    throw mlflow_error(where() + fmt::format("{} answered HTTP {}: {}", request, http_status, described), http_status,
                       error_code);
  }
  if (response.empty()) return json::object();
  auto parsed = json::parse(response, nullptr, false);
  if (parsed.is_discarded()) {
    throw mlflow_error(where() + fmt::format("{} answered HTTP {} with a body that is not JSON", request, http_status),
                       http_status, "");
  }
  return parsed;
}

}  // namespace trackbench::interop
