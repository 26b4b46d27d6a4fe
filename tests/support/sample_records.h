#pragma once
// Records with every field the schemas require (tracking/src/schema.cpp) and plausible values,
// made without LibTorch: for the fuzzer's seeds and for tests that need a snapshot file of a
// kind but not a real run or a real benchmark.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::testing {

inline const std::string zero_digest(64, '0');

inline std::vector<std::int64_t> class_counts(std::int64_t per_class) {
  return std::vector<std::int64_t>(10, per_class);
}

// A profile of `per_class` x 10 images, each with ink in bin 100 and half its pixels at 0 and 255.
inline trainer::data_profile sample_profile(const std::string& split, std::uint64_t per_class) {
  trainer::data_profile profile;
  profile.split = split;
  profile.images = 10 * per_class;
  profile.class_counts.assign(10, per_class);
  profile.mean_image.assign(784, 0.5);
  profile.intensity_histogram.assign(256, 0);
  profile.intensity_histogram[0] = profile.intensity_histogram[255] = 392 * profile.images;
  profile.ink_histogram.assign(784, 0);
  profile.ink_histogram[100] = profile.images;
  profile.ink_mean = profile.images > 0 ? 100.5 : 0.0;
  profile.ink_stddev = 0.0;
  return profile;
}

// A run snapshot's record, before its first epoch.
inline tracking::run_record sample_run_record() {
  using json = nlohmann::ordered_json;
  tracking::run_record record;
  record.identity = {{"schema", tracking::schema_name},
                     {"schema_version", tracking::schema_version},
                     {"trackbench_version", "0.1.0"},
                     {"run_id", "20261127T023755.120Z-0badf00d"},
                     {"parent_run_id", ""},
                     {"origin", "train"},
                     {"resumed_from_epoch", 0},
                     {"status", "running"},
                     {"error", ""},
                     {"start_time", "2026-11-27T02:37:55.120Z"},
                     {"end_time", ""},
                     {"command_line", "trackbench train --epochs 2"},
                     {"warmup_seconds", 0.25},
                     {"target_reached_epoch", 0},
                     {"time_to_target_seconds", std::numeric_limits<double>::quiet_NaN()}};
  record.tags = {{"purpose", "fuzz-seed"}};
  record.config = {{"model", "digit_cnn"},      {"dataset", "mnist-sample"},  {"data_dir", ""},
                   {"conv", "cudnn"},           {"optimizer", "adam"},        {"learning_rate", 0.001},
                   {"momentum", 0.9},           {"weight_decay", 0.0},        {"schedule", "constant"},
                   {"batch_size", 64},          {"eval_batch_size", 256},     {"epochs", 2},
                   {"seed", std::uint64_t{42}}, {"threads", 0},               {"threads_used", 2},
                   {"deterministic", true},     {"device", "cpu"},            {"device_used", "cpu"},
                   {"validation_fraction", 0.1}, {"keep_weights", "all"},   {"precision", "fp32"},
                   {"cuda_graphs", false},      {"target", "test_accuracy:0.97"}, {"world_size", 1},
                   {"global_batch_size", 64},   {"engine", "none"},           {"engine_settings", ""},
                   {"launcher", "none"},        {"nodes", 1},                 {"rank_hosts", "fuzz"},
                   {"rank_devices", "cpu"}};
  record.environment = {{"cpu_model", "Fuzz CPU"},
                        {"cpu_cores", 2},
                        {"hardware_threads", 2},
                        {"libtorch_threads", 2},
                        {"memory_bytes", std::int64_t{8} << 30},
                        {"os", "Debian GNU/Linux 12 (bookworm)"},
                        {"kernel", "Linux 6.1.0 x86_64"},
                        {"hostname", "fuzz"},
                        {"compiler", "clang 14.0.6"},
                        {"cxx_flags", "-O2"},
                        {"build_type", "RelWithDebInfo"},
                        {"cuda_compiler", ""},
                        {"libtorch_version", "2.5.0"},
                        {"libtorch_cuda_version", ""},
                        {"cudnn_version", ""},
                        {"cuda_built", false},
                        {"cuda_usable", false},
                        {"cuda_reason", "built without CUDA"},
                        {"cuda_runtime_version", "none"},
                        {"cuda_driver_version", "none"},
                        {"nvidia_driver_version", ""},
                        {"nvml_reason", "cannot load libnvidia-ml.so.1: no such file"},
                        {"gpus", json::array()}};
  record.code = {{"build_commit", "unknown"}, {"build_tree", "unknown"}, {"checkout_dir", "/src/trackbench"},
                 {"commit", "unknown"},       {"branch", "unknown"},     {"tree", "unknown"},
                 {"diff_sha256", ""},         {"diff_bytes", 0},         {"diff_stored_bytes", 0}};
  record.data = {{"name", "mnist-sample"},
                 {"source", "embedded"},
                 {"content_sha256", zero_digest},
                 {"train_count", 1000},
                 {"test_count", 200},
                 {"split_seed", std::uint64_t{42}},
                 {"split_sha256", zero_digest},
                 {"split_train_count", 900},
                 {"split_validation_count", 100},
                 {"train_class_counts", class_counts(90)},
                 {"validation_class_counts", class_counts(10)},
                 {"test_class_counts", class_counts(20)},
                 {"files", json::array({{{"name", "train-images-idx3-ubyte.gz"}, {"sha256", zero_digest}, {"bytes", 1234}}})}};
  record.profiles = {sample_profile("train", 90), sample_profile("validation", 10), sample_profile("test", 20)};
  return record;
}

// Epochs of the run above, without LibTorch: a tiny stand-in for the model's parameters and
// Adam's state, and metric rows whose confusion matrices add up to the record's class counts.
template <typename T>
inline tracking::array_record make_array(const std::string& name, tracking::element_type type,
                                        std::vector<std::int64_t> shape, T first) {
  tracking::array_record array{name, type, std::move(shape), {}};
  std::vector<T> values(static_cast<std::size_t>(array.element_count()));
  for (auto& value : values) value = first++;
  array.bytes.resize(values.size() * sizeof(T));
  std::memcpy(array.bytes.data(), values.data(), array.bytes.size());
  return array;
}

// A tiny stand-in for the model's parameters, changing with the epoch.
inline std::vector<tracking::array_record> make_parameters(int epoch) {
  const float base = static_cast<float>(epoch);
  return {make_array("conv1.weight", tracking::element_type::float32, {2, 1, 3, 3}, base),
          make_array("conv1.bias", tracking::element_type::float32, {2}, base),
          make_array("fc.weight", tracking::element_type::float32, {10, 2}, base),
          make_array("fc.bias", tracking::element_type::float32, {10}, base)};
}

// Adam's per-parameter state and a CPU generator state after `epoch`.
inline tracking::saved_state make_state(int epoch, const std::vector<tracking::array_record>& parameters) {
  tracking::saved_state state;
  state.epochs_done = epoch;
  state.next_shuffle_seed = 1000 + static_cast<std::uint64_t>(epoch);
  for (const auto& parameter : parameters) {
    for (const char* moment : {".exp_avg", ".exp_avg_sq"}) {
      state.optimizer.push_back(
          make_array(parameter.name + moment, tracking::element_type::float32, parameter.shape, 0.5f));
    }
    state.optimizer.push_back(
        make_array(parameter.name + ".step", tracking::element_type::int64, {}, std::int64_t{epoch} * 15));
  }
  state.cpu_generator = make_array("cpu", tracking::element_type::uint8, {64}, static_cast<std::uint8_t>(epoch));
  return state;
}

inline trainer::epoch_metrics make_metrics(int epoch) {
  trainer::epoch_metrics metrics;
  metrics.epoch = epoch;
  metrics.train_loss = 1.0 / epoch;
  metrics.train_accuracy = 0.8;
  // Loss 0.5 and every test image right, set by hand: derive_from_confusion lives in
  // metrics.cpp, which is not linked here.
  metrics.test = {0.5, 1.0, 1.0, 1.0, 1.0, {}};
  for (std::size_t c = 0; c < 10; ++c) metrics.test.confusion[c][c] = 20;
  metrics.validation = metrics.test;
  // The sample record holds out 10 images per class for validation and tests 20 per class.
  for (std::size_t c = 0; c < 10; ++c) metrics.validation->confusion[c][c] = 10;
  metrics.learning_rate = 0.001;
  metrics.epoch_seconds = 2.0;
  metrics.train_seconds = 1.5;
  metrics.images_per_second = 600.0;
  metrics.peak_rss_bytes = std::int64_t{200} << 20;
  return metrics;
}

// A bench record of the environment above (cpu_model replaced when given): a manual-time GPU
// benchmark with FLOP/s and bytes/s counters, a CPU benchmark with items/s (its samples
// `times` scaled by 1000), and one skipped for want of a GPU. One sample per entry of `times`
// (seconds per iteration).
inline tracking::bench_record sample_bench_record(const std::vector<double>& times, const std::string& cpu_model = "") {
  using json = nlohmann::ordered_json;
  const auto run = sample_run_record();
  tracking::bench_record record;
  record.identity = {{"schema", tracking::bench_schema_name},
                     {"schema_version", tracking::bench_schema_version},
                     {"trackbench_version", "0.1.0"},
                     {"bench_id", "20261127T023755.120Z-0badf00d"},
                     {"start_time", "2026-11-27T02:37:55.120Z"},
                     {"end_time", "2026-11-27T02:38:15.004Z"},
                     {"command_line", "trackbench bench --repetitions 10"},
                     {"filter", ""},
                     {"repetitions", static_cast<std::int64_t>(times.size())},
                     {"measure", "time"},
                     {"instruction_tool", ""},
                     {"instruction_isa_limit", ""},
                     {"instruction_settings", ""}};
  record.environment = run.environment;
  if (!cpu_model.empty()) record.environment["cpu_model"] = cpu_model;
  record.code = run.code;
  record.data = json::object();
  for (const char* field : {"name", "source", "content_sha256", "train_count", "test_count", "files"}) {
    record.data[field] = run.data[field];
  }
  tracking::bench_result conv{"conv_forward/conv1/128/manual_time", "kernels", "conv_forward/conv1/128/manual_time",
                              "us", true, "cuda", false, "", {}};
  tracking::bench_result step{"train_steps/cpu/64", "trainer", "train_steps/cpu/64", "ms", false, "", false, "", {}};
  for (std::size_t i = 0; i < times.size(); ++i) {
    conv.samples.push_back({4, times[i], times[i] * 0.98, {{"FLOP/s", 1e12 + static_cast<double>(i)}, {"bytes_per_second", 3e9}}});
    step.samples.push_back({2, times[i] * 1000.0, times[i] * 990.0, {{"items_per_second", 840.5}}});
  }
  tracking::bench_result gpu{"conv_forward/cudnn/1024", "kernels", "conv_forward/cudnn/1024", "ns", false, "", true,
                             "no usable GPU: CUDA driver not found", {}};
  record.benchmarks = {conv, step, gpu};
  return record;
}

}  // namespace trackbench::testing
