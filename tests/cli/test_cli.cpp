#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "support/http_server.h"
#include "support/idx_files.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "trackbench/kernels/cuda_device.h"

namespace trackbench {
namespace {

using testing::run_trackbench;

constexpr int exit_bad_input = 2;

TEST(Cli, HelpDocumentsFlagsWithDefaults) {
  const auto help = run_trackbench("train --help");
  EXPECT_EQ(help.exit_code, 0) << help.output;
  for (const char* flag : {"--epochs INT=10", "--batch-size INT=64", "--lr FLOAT=0.001", "--seed UINT=1",
                           "--device TEXT:{auto,cpu,cuda}=auto",
                           "--conv TEXT:{cudnn,custom,custom_v1,custom_v2,custom_v3,reference}=cudnn", "--deterministic",
                           "--precision TEXT:{fp32,tf32}=fp32", "--cuda-graphs TEXT:{on,off}=off",
                           "not yet checked on a GPU", "--target"}) {
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag << "\n" << help.output;
  }
}

TEST(Cli, BadUsageExitsWithTwo) {
  for (const char* args : {"", "train --no-such-flag", "train --epochs", "train --epochs ten", "train --device tpu",
                           "train --data-dir /nonexistent/dir", "data fetch cifar"}) {
    const auto result = run_trackbench(args);
    EXPECT_EQ(result.exit_code, exit_bad_input) << "args: " << args << "\n" << result.output;
  }
}

TEST(Cli, BadValuesNameTheirFlag) {
  const auto result = run_trackbench("train --epochs 0");
  EXPECT_EQ(result.exit_code, exit_bad_input) << result.output;
  EXPECT_NE(result.output.find("--epochs must be >= 1, got 0"), std::string::npos) << result.output;
}

TEST(Cli, BadTargetAndPrecisionNameTheirFlag) {
  for (const auto& [args, expected] : std::vector<std::pair<std::string, std::string>>{
           {"train --epochs 1 --target test_accuracy:97", "--target 'test_accuracy:97'"},
           {"train --epochs 1 --target speed:1", "expected METRIC:VALUE"},
           {"train --epochs 1 --device cpu --precision tf32", "--precision tf32 runs on the GPU's tensor cores"},
           {"train --epochs 1 --precision fp16", "--precision"}}) {
    const auto result = run_trackbench(args);
    EXPECT_EQ(result.exit_code, exit_bad_input) << args << "\n" << result.output;
    EXPECT_NE(result.output.find(expected), std::string::npos) << args << "\n" << result.output;
  }
}

TEST(Cli, CorruptDataDirectoryNamesTheFile) {
  testing::temp_dir dir;
  testing::copy_sample(dir.path());
  testing::write_file(dir / "t10k-images-idx3-ubyte.gz", testing::gzip(testing::make_labels(10)));
  const auto result = run_trackbench("train --epochs 1 --data-dir " + dir.path().string());
  EXPECT_EQ(result.exit_code, exit_bad_input) << result.output;
  EXPECT_NE(result.output.find("t10k-images-idx3-ubyte.gz: magic number is 0x00000801, expected 0x00000803"),
            std::string::npos)
      << result.output;
  const auto verify = run_trackbench("data verify --data-dir " + dir.path().string());
  EXPECT_EQ(verify.exit_code, exit_bad_input) << verify.output;
}

TEST(Cli, MissingGpuWithDeviceCudaExitsWithTwo) {
  if (kernels::probe_cuda().usable) GTEST_SKIP() << "a usable GPU is present; this checks its absence";
  const auto result = run_trackbench("train --device cuda --epochs 1");
  EXPECT_EQ(result.exit_code, exit_bad_input) << result.output;
  EXPECT_NE(result.output.find("--device cuda: no usable CUDA GPU"), std::string::npos) << result.output;
}

TEST(Cli, InfoDescribesTheMachine) {
  const auto result = run_trackbench("info");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* field : {"cpu ", "memory ", "libtorch ", "cudnn ", "cuda driver ", "gpus"}) {
    EXPECT_NE(result.output.find(field), std::string::npos) << field << "\n" << result.output;
  }
  const auto json = run_trackbench("info --json");
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_NE(json.output.find("\"libtorch_version\""), std::string::npos) << json.output;
}

TEST(Cli, InfoNamesTheDriverNvmlReports) {
  const auto fake = testing::run_command(std::string("TRACKBENCH_NVML_LIBRARY='") + TRACKBENCH_FAKE_NVML + "' '" +
                                         TRACKBENCH_EXECUTABLE + "' info");
  EXPECT_EQ(fake.exit_code, 0) << fake.output;
  EXPECT_NE(fake.output.find("nvidia driver      999.12.34 (NVML)"), std::string::npos) << fake.output;
  const auto absent = testing::run_command(std::string("TRACKBENCH_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1 '") +
                                           TRACKBENCH_EXECUTABLE + "' info");
  EXPECT_EQ(absent.exit_code, 0) << absent.output;
  EXPECT_NE(absent.output.find("nvml               cannot load /nonexistent/libnvidia-ml.so.1"), std::string::npos)
      << absent.output;
}

TEST(Cli, VerifyChecksTheEmbeddedSample) {
  const auto result = run_trackbench("data verify mnist-sample");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("train: 7000 images, classes 0..9: 701/803/692/718/695/603/725/738/640/685"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("matches the published checksum"), std::string::npos) << result.output;
}

TEST(Cli, VerifyChecksAnyDirectoryAndKnownChecksums) {
  testing::temp_dir dir;
  testing::copy_sample(dir.path(), /*decompress=*/true);
  const auto plain = run_trackbench("data verify --data-dir " + dir.path().string());
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_NE(plain.output.find("no published checksum"), std::string::npos) << plain.output;
  testing::temp_dir gz_dir;
  testing::copy_sample(gz_dir.path());
  const auto named = run_trackbench("data verify mnist-sample --data-dir " + gz_dir.path().string());
  EXPECT_EQ(named.exit_code, 0) << named.output;
  EXPECT_NE(named.output.find("matches the published checksum"), std::string::npos) << named.output;
  const auto wrong = run_trackbench("data verify mnist --data-dir " + gz_dir.path().string());
  EXPECT_EQ(wrong.exit_code, exit_bad_input) << wrong.output;
  EXPECT_NE(wrong.output.find("MISMATCH, expected 440fcabf"), std::string::npos) << wrong.output;
}

TEST(Cli, FetchFromALocalMirror) {
  testing::local_http_server server;
  for (const char* base : trainer::idx_file_names) {
    const std::string name = std::string(base) + ".gz";
    const auto bytes = trainer::read_file_bytes(testing::sample_dir() / name);
    std::string body(bytes.begin(), bytes.end());
    server.serve("/ok/" + name, body);
    if (name == "t10k-images-idx3-ubyte.gz") body[100] ^= 0x10;
    server.serve("/bad/" + name, body);
  }
  testing::temp_dir dest;
  const auto good = run_trackbench("data fetch mnist-sample --mirror " + server.url("/ok/") + " --dest " + dest.path().string());
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_NE(good.output.find("mnist-sample is ready in"), std::string::npos) << good.output;

  testing::temp_dir bad_dest;
  const auto bad = run_trackbench("data fetch mnist-sample --mirror " + server.url("/bad/") + " --dest " + bad_dest.path().string());
  EXPECT_EQ(bad.exit_code, exit_bad_input) << bad.output;
  EXPECT_NE(bad.output.find("t10k-images-idx3-ubyte.gz"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("checksum mismatch"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(bad_dest / "t10k-images-idx3-ubyte.gz"));
}

// The README's first command: the default run on the embedded sample must learn the digits.
TEST(Cli, DefaultTrainingReachesTheAccuracyTarget) {
  const auto result = run_trackbench("train --device cpu");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::smatch match;
  ASSERT_TRUE(std::regex_search(result.output, match, std::regex(R"(test accuracy\s+([0-9.]+)%)"))) << result.output;
  EXPECT_GE(std::stod(match[1]), 97.0) << result.output;
  const std::regex epoch_row(R"(\n\s+(\d+)\s+\d+\.\d{4}\s+\d+\.\d\d%)");
  const auto rows = std::distance(std::sregex_iterator(result.output.begin(), result.output.end(), epoch_row),
                                  std::sregex_iterator());
  EXPECT_EQ(rows, 10) << result.output;
  // Not a terminal: progress comes as plain lines, not a redrawn bar.
  EXPECT_NE(result.output.find("epoch 1/10: step 25/99  loss "), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find('\r'), std::string::npos);
}

TEST(Cli, QuietRunKeepsTheSummaryAndTheLogFileKeepsEverything) {
  testing::temp_dir dir;
  const auto log = dir / "train.log";
  const auto result = run_trackbench("train --device cpu --epochs 1 --quiet --log-file " + log.string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("test accuracy"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("train_loss"), std::string::npos) << "quiet prints no epoch table\n" << result.output;
  EXPECT_EQ(result.output.find("info:"), std::string::npos) << result.output;
  const auto bytes = trainer::read_file_bytes(log);
  const std::string text(bytes.begin(), bytes.end());
  for (const char* expected : {"info: data set mnist-sample from embedded", "debug: epoch 1: train loss",
                               "debug: epoch 1: validation loss", "debug: epoch 1: test confusion, digit 9: "}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
}

}  // namespace
}  // namespace trackbench
