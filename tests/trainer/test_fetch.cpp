#include <gtest/gtest.h>

#include "support/error_message.h"
#include "support/http_server.h"
#include "support/idx_files.h"
#include "support/temp_dir.h"
#include "trackbench/trainer/checksum.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/fetch.h"

namespace trackbench::trainer {
namespace {

using testing::error_message;

std::string file_text(const std::filesystem::path& path) {
  const auto bytes = read_file_bytes(path);
  return {bytes.begin(), bytes.end()};
}

// Serves the sample's four files under `prefix`, optionally with one byte of one file flipped.
void serve_sample(testing::local_http_server& server, const std::string& prefix, const std::string& corrupt = "") {
  for (const char* base : idx_file_names) {
    const std::string name = std::string(base) + ".gz";
    std::string body = file_text(testing::sample_dir() / name);
    if (name == corrupt) body[body.size() / 2] ^= 0x01;
    server.serve(prefix + name, body);
  }
}

bool has_partial_files(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().find(".part") != std::string::npos) return true;
  }
  return false;
}

TEST(Fetch, DownloadsAndVerifiesEveryFile) {
  testing::local_http_server server;
  serve_sample(server, "/good/");
  testing::temp_dir dest;
  const auto report = fetch_dataset({"mnist-sample", dest.path(), {server.url("/good/")}});
  EXPECT_EQ(report.downloaded.size(), 4u);
  for (const char* base : idx_file_names) {
    const std::string name = std::string(base) + ".gz";
    EXPECT_EQ(sha256_file(dest / name), sha256_file(testing::sample_dir() / name)) << name;
  }
  EXPECT_FALSE(has_partial_files(dest.path()));
  // The fetched directory is a data set like any other.
  EXPECT_EQ(load_dataset("mnist-sample", dest.path()).train.size(), 7000);
}

TEST(Fetch, SecondRunDownloadsNothing) {
  testing::local_http_server server;
  serve_sample(server, "/");
  testing::temp_dir dest;
  fetch_dataset({"mnist-sample", dest.path(), {server.url()}});
  const int requests = server.requests();
  const auto again = fetch_dataset({"mnist-sample", dest.path(), {server.url()}});
  EXPECT_TRUE(again.downloaded.empty());
  EXPECT_EQ(again.already_valid.size(), 4u);
  EXPECT_EQ(server.requests(), requests);
}

TEST(Fetch, RejectsACorruptedFileAndLeavesNothingUnderItsName) {
  testing::local_http_server server;
  serve_sample(server, "/", "train-labels-idx1-ubyte.gz");
  testing::temp_dir dest;
  const auto message =
      error_message<input_error>([&] { fetch_dataset({"mnist-sample", dest.path(), {server.url()}}); });
  EXPECT_NE(message.find("cannot fetch train-labels-idx1-ubyte.gz"), std::string::npos) << message;
  EXPECT_NE(message.find("checksum mismatch"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(dest / "train-labels-idx1-ubyte.gz"));
  EXPECT_FALSE(has_partial_files(dest.path()));
}

TEST(Fetch, FallsBackToTheNextMirror) {
  testing::local_http_server server;
  serve_sample(server, "/second/", "t10k-images-idx3-ubyte.gz");
  serve_sample(server, "/third/");
  testing::temp_dir dest;
  std::vector<std::string> logged;
  const auto report = fetch_dataset({"mnist-sample", dest.path(), {server.url("/first/"), server.url("/second/"), server.url("/third/")}},
                                    [&](const std::string& line) { logged.push_back(line); });
  EXPECT_EQ(report.downloaded.size(), 4u);
  bool saw_404 = false;
  for (const auto& line : logged) saw_404 = saw_404 || line.find("404") != std::string::npos;
  EXPECT_TRUE(saw_404);
}

TEST(Fetch, OfflineFailureNamesEveryMirror) {
  std::string dead_url;
  {
    testing::local_http_server closed;  // bound, then closed: nothing listens on its port
    dead_url = closed.url("/");
  }
  testing::temp_dir dest;
  const auto message = error_message<input_error>(
      [&] { fetch_dataset({"mnist-sample", dest.path(), {dead_url, dead_url + "mirror2/"}, 2, 10}); });
  EXPECT_NE(message.find(dead_url + "train-images-idx3-ubyte.gz"), std::string::npos) << message;
  EXPECT_NE(message.find(dead_url + "mirror2/train-images-idx3-ubyte.gz"), std::string::npos) << message;
}

TEST(Fetch, FullMnistChecksumsRejectOtherFiles) {
  // The sample's files are not full MNIST: the published SHA-256 (and size) must refuse them.
  testing::local_http_server server;
  serve_sample(server, "/");
  testing::temp_dir dest;
  const auto message = error_message<input_error>([&] { fetch_dataset({"mnist", dest.path(), {server.url()}}); });
  EXPECT_NE(message.find("checksum mismatch"), std::string::npos) << message;
  EXPECT_NE(message.find("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"), std::string::npos) << message;
}

TEST(Fetch, OversizedDownloadIsCutOff) {
  testing::local_http_server server;
  serve_sample(server, "/");
  server.serve("/train-labels-idx1-ubyte.gz", std::string(1 << 20, 'x'));
  testing::temp_dir dest;
  const auto message = error_message<input_error>([&] { fetch_dataset({"mnist-sample", dest.path(), {server.url()}}); });
  EXPECT_NE(message.find("served more than the published 3602 bytes"), std::string::npos) << message;
}

TEST(Fetch, DataSetsWithoutChecksumsAreRefused) {
  testing::temp_dir dest;
  const auto message = error_message<input_error>([&] { fetch_dataset({"fashion-mnist", dest.path(), {"http://127.0.0.1:9/"}}); });
  EXPECT_NE(message.find("dataset-fashion-mnist"), std::string::npos) << message;
}

}  // namespace
}  // namespace trackbench::trainer
