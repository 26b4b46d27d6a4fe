#pragma once
// A real 2-epoch run snapshot (ExportSnapshot) and a real `mlflow server` (MlflowServer: SQLite
// backend, served artifacts) started on 127.0.0.1 for the MLflow export and registry tests,
// with helpers that read the server back through MLflow's own REST API. Without the mlflow
// executable (scripts/setup.sh installs it) the server tests skip, saying so.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "support/http_client.h"
#include "support/idx_files.h"
#include "support/process.h"
#include "support/temp_dir.h"

extern char** environ;

namespace trackbench::testing {

namespace mlflow_fixture_detail {
namespace fs = std::filesystem;
using json = nlohmann::json;

inline std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

// A port nothing listens on now (the kernel's pick, released at once).
inline int free_port() {
  const int socket = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(socket, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(socket, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(socket);
  return ntohs(address.sin_port);
}

inline json get(const std::string& url) {
  const auto response = http_request(url);
  EXPECT_EQ(response.status, 200) << url << ": " << response.error << response.body;
  return json::parse(response.body, nullptr, false);
}

inline json post(const std::string& url, const json& body) {
  const auto response = http_request(url, body.dump());
  EXPECT_EQ(response.status, 200) << url << ": " << response.error << response.body;
  return json::parse(response.body, nullptr, false);
}

inline std::map<std::string, std::string> key_values(const json& list) {
  std::map<std::string, std::string> out;
  for (const auto& item : list) out[item["key"].get<std::string>()] = item["value"].get<std::string>();
  return out;
}

// A real 2-epoch run on 640 digits that keeps every epoch's weights (epoch 1's in a sidecar
// file beside the snapshot), shared by the suite's tests.
class ExportSnapshot : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new temp_dir();
    const auto data = dir_->path() / "data";
    fs::create_directories(data);
    write_sample_subset(data, 640, 200);
    const auto trained = run_trackbench("-q train --data-dir " + quoted(data) +
                                        " --device cpu --threads 2 --epochs 2 --keep-weights all --tag owner=ml --out " + quoted(dir_->path() / "runs"));
    ASSERT_EQ(trained.exit_code, 0) << trained.output;
    for (const auto& entry : fs::directory_iterator(dir_->path() / "runs")) {
      if (entry.path().extension() == ".h5") snapshot_ = entry.path();
    }
  }
  static void TearDownTestSuite() { delete dir_; }

  void SetUp() override { ASSERT_FALSE(snapshot_.empty()) << "no snapshot trained"; }

  static inline temp_dir* dir_ = nullptr;
  static inline fs::path snapshot_;
};

// And an `mlflow server` on a free port, SQLite backend, serving artifacts from a folder.
class MlflowServer : public ExportSnapshot {
 protected:
  static void SetUpTestSuite() {
    const char* named = std::getenv("TRACKBENCH_MLFLOW");
    const std::string mlflow = named != nullptr && *named != '\0' ? named : TRACKBENCH_MLFLOW;
    if (::access(mlflow.c_str(), X_OK) != 0) {
      skip_reason_ = "support/mlflow_server.h: no mlflow executable at " + mlflow + " (scripts/setup.sh installs it)";
      return;
    }
    ExportSnapshot::SetUpTestSuite();
    const int port = free_port();
    uri_ = "http://127.0.0.1:" + std::to_string(port);
    const std::string command = "exec '" + mlflow + "' server --backend-store-uri 'sqlite:///" +
                                (dir_->path() / "mlflow.db").string() + "' --artifacts-destination " +
                                quoted(dir_->path() / "artifacts") + " --host 127.0.0.1 --port " + std::to_string(port) +
                                " --workers 1 > " + quoted(dir_->path() / "server.log") + " 2>&1 < /dev/null";
    // Its own process group, so the workers the server starts end with it.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    ASSERT_EQ(::posix_spawn(&server_, "/bin/sh", nullptr, &attributes, const_cast<char**>(argv), environ), 0);
    posix_spawnattr_destroy(&attributes);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(150);
    while (http_request(uri_ + "/health", "", 2).status != 200) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "mlflow server did not answer /health within 150 s";
      ASSERT_EQ(::waitpid(server_, nullptr, WNOHANG), 0) << "mlflow server exited:\n" << read_log();
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }

  static void TearDownTestSuite() {
    if (server_ > 0) {
      ::kill(-server_, SIGTERM);
      ::waitpid(server_, nullptr, 0);
    }
    ExportSnapshot::TearDownTestSuite();
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ExportSnapshot::SetUp();
  }

  static std::string read_log() {
    std::ifstream in(dir_->path() / "server.log");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static std::string api(const std::string& path) { return uri_ + "/api/2.0/mlflow/" + path; }

  static inline std::string skip_reason_;
  static inline std::string uri_;
  static inline pid_t server_ = -1;
};

}  // namespace mlflow_fixture_detail

using mlflow_fixture_detail::ExportSnapshot;
using mlflow_fixture_detail::free_port;
using mlflow_fixture_detail::get;
using mlflow_fixture_detail::key_values;
using mlflow_fixture_detail::MlflowServer;
using mlflow_fixture_detail::post;
using mlflow_fixture_detail::quoted;

}  // namespace trackbench::testing
