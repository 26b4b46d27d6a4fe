#include "trackbench/trainer/fetch.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <mutex>

#include "trackbench/trainer/checksum.h"
#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::trainer {
namespace {

void ensure_curl_initialised() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// A download in progress: bytes go to the temporary file and the hash together.
struct download_sink {
  std::FILE* file = nullptr;
  sha256_hasher hasher;
  std::uint64_t bytes = 0;
  std::uint64_t limit = 0;  // abort past the published size: a wrong file, not a slow one
};

std::size_t write_chunk(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<download_sink*>(user);
  const std::size_t length = size * count;
  sink->bytes += length;
  if (sink->bytes > sink->limit) return 0;
  sink->hasher.update(data, length);
  return std::fwrite(data, 1, length, sink->file) == length ? length : 0;
}

struct file_closer {
  void operator()(std::FILE* file) const {
    if (file != nullptr) std::fclose(file);
  }
};

// Returns an empty string on success, else why this mirror failed.
std::string download_verified(const std::string& url, const published_file& expected,
                              const std::filesystem::path& final_path, const fetch_options& options) {
  const std::filesystem::path temp_path = final_path.string() + ".part." + std::to_string(::getpid());
  std::unique_ptr<std::FILE, file_closer> file(std::fopen(temp_path.c_str(), "wb"));
  if (!file) return "cannot create " + temp_path.string();
  download_sink sink;
  sink.file = file.get();
  sink.limit = expected.bytes;

  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  char error_buffer[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, options.connect_timeout_seconds);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, options.transfer_timeout_seconds);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, write_chunk);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "trackbench");
  const CURLcode status = curl_easy_perform(curl.get());

  std::string failure;
  if (sink.bytes > expected.bytes) {
    failure = "served more than the published " + std::to_string(expected.bytes) + " bytes";
  } else if (status != CURLE_OK) {
    long http_status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &http_status);
    failure = std::string(error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(status));
    if (http_status >= 400 && failure.find(std::to_string(http_status)) == std::string::npos) {
      failure += " (HTTP " + std::to_string(http_status) + ")";
    }
  } else if (const std::string actual = sink.hasher.hex_digest(); actual != expected.sha256) {
    failure = "checksum mismatch: SHA-256 " + actual + ", expected " + expected.sha256 + " (" +
              std::to_string(sink.bytes) + " bytes, expected " + std::to_string(expected.bytes) + ")";
  } else if (std::fflush(file.get()) != 0 || ::fsync(::fileno(file.get())) != 0) {
    failure = "cannot write " + temp_path.string() + " (disk full?)";
  }
  file.reset();
  std::error_code ec;
  if (!failure.empty()) {
    std::filesystem::remove(temp_path, ec);
    return failure;
  }
  std::filesystem::rename(temp_path, final_path, ec);
  if (ec) {
    std::filesystem::remove(temp_path, ec);
    return "cannot rename into " + final_path.string() + ": " + ec.message();
  }
  return {};
}

void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

fetch_report fetch_dataset(const fetch_options& options, const std::function<void(const std::string&)>& log) {
  const dataset_info& info = find_dataset(options.dataset);
  if (info.files.empty()) {
    throw input_error("data set '" + info.name + "' has no published checksums to verify a download against; " +
                      (info.system_dir.empty() ? "pass --data-dir DIR"
                                               : "it is read from " + info.system_dir.string() +
                                                     " (Debian's dataset-" + info.name + " package) or --data-dir DIR"));
  }
  const std::vector<std::string>& mirrors = options.mirrors.empty() ? info.mirrors : options.mirrors;
  if (mirrors.empty()) {
    throw input_error("data set '" + info.name + "' has no public mirror; pass --mirror URL");
  }
  fetch_report report;
  report.directory = options.destination.empty() ? dataset_directory(info) : options.destination;
  std::error_code ec;
  std::filesystem::create_directories(report.directory, ec);
  if (ec) throw input_error(report.directory.string() + ": cannot create directory: " + ec.message());
  ensure_curl_initialised();

  for (const published_file& expected : info.files) {
    const std::filesystem::path final_path = report.directory / expected.name;
    if (std::filesystem::exists(final_path, ec) && sha256_file(final_path) == expected.sha256) {
      report.already_valid.push_back(expected.name);
      continue;
    }
    std::string failures;
    bool fetched = false;
    for (const std::string& mirror : mirrors) {
      const std::string url = mirror + (mirror.empty() || mirror.back() == '/' ? "" : "/") + expected.name;
      if (log) log("fetching " + url);
      const std::string failure = download_verified(url, expected, final_path, options);
      if (failure.empty()) {
        fetched = true;
        break;
      }
      if (log) log(url + ": " + failure);
      failures += "\n  " + url + ": " + failure;
    }
    if (!fetched) {
      throw input_error("cannot fetch " + expected.name + " of data set '" + info.name + "' from any mirror:" + failures);
    }
    report.downloaded.push_back(expected.name);
  }
  sync_directory(report.directory);
  return report;
}

}  // namespace trackbench::trainer
