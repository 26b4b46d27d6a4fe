#include "trackbench/tracking/format/schema.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace trackbench::tracking::schema {
namespace {

constexpr double absent = std::numeric_limits<double>::quiet_NaN();
// Caps beyond any real run, so that a corrupted count is refused rather than believed.
constexpr double max_epochs = 100000;
constexpr double max_batch = 1 << 30;
constexpr double max_threads = 1 << 16;
// Images in a data set or a split: sums of ten of them stay far inside int64.
constexpr double max_images = double(std::int64_t{1} << 50);

using t = value_type;

// Integers in full, other numbers in the fewest digits that read back as the same double.
std::string number_text(long double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 0x1p63L) {
    return std::to_string(static_cast<long long>(value));
  }
  if (std::isfinite(value) && value == std::floor(value) && value < 0x1p64L) {
    return std::to_string(static_cast<unsigned long long>(value));
  }
  std::ostringstream out;
  for (int digits = 6; digits <= 17; ++digits) {
    out.str("");
    out.precision(digits);
    out << static_cast<double>(value);
    if (std::strtod(out.str().c_str(), nullptr) == static_cast<double>(value)) break;
  }
  return out.str();
}

// Exact for every int64 and uint64 (a long double carries 64 mantissa bits on the hosts
// LibTorch runs on) and for every double.
std::optional<long double> as_number(const nlohmann::ordered_json& value) {
  if (value.is_number_unsigned()) return static_cast<long double>(value.get<std::uint64_t>());
  if (value.is_number_integer()) return static_cast<long double>(value.get<std::int64_t>());
  if (value.is_number_float()) return static_cast<long double>(value.get<double>());
  return std::nullopt;
}

}  // namespace

value_rule any_value() { return {}; }

value_rule range(double min, double max) {
  value_rule rule;
  rule.min = min;
  rule.max = max;
  return rule;
}

value_rule at_least(double min) { return range(min, std::numeric_limits<double>::infinity()); }

value_rule fraction() { return range(0.0, 1.0); }

value_rule one_of(std::vector<std::string> names) {
  value_rule rule;
  rule.names = std::move(names);
  return rule;
}

value_rule or_absent(value_rule rule) {
  rule.absent_allowed = true;
  return rule;
}

namespace {

value_rule positive() {
  value_rule rule = at_least(0.0);
  rule.min_excluded = true;
  return rule;
}

value_rule below_one() {
  value_rule rule = fraction();
  rule.max_excluded = true;
  return rule;
}

}  // namespace

std::string describe(const value_rule& rule, value_type type) {
  if (!rule.names.empty()) {
    std::string names;
    for (std::size_t i = 0; i < rule.names.size(); ++i) {
      names += (i == 0 ? "" : i + 1 == rule.names.size() ? " or " : ", ") + rule.names[i];
    }
    return names;
  }
  if (type != t::float64 && type != t::int64 && type != t::uint64 && type != t::int64_array) return "";
  const bool low = std::isfinite(rule.min);
  const bool high = std::isfinite(rule.max);
  std::string bounds;
  if (low && high && !rule.min_excluded && !rule.max_excluded) {
    bounds = number_text(rule.min) + " to " + number_text(rule.max);
  } else {
    if (low) bounds += (rule.min_excluded ? "> " : ">= ") + number_text(rule.min);
    if (high) bounds += (low ? " and " : "") + std::string(rule.max_excluded ? "< " : "<= ") + number_text(rule.max);
  }
  if (type != t::float64) return bounds;
  const std::string finite = rule.absent_allowed ? "finite or NaN (absent)" : "finite";
  return bounds.empty() ? finite : finite + ", " + bounds;
}

std::optional<std::string> rule_violation(const value_rule& rule, const nlohmann::ordered_json& value) {
  if (value.is_array()) {
    for (const auto& element : value) {
      if (auto broken = rule_violation(rule, element)) return broken;
    }
    return std::nullopt;
  }
  if (value.is_string()) {
    if (rule.names.empty()) return std::nullopt;
    for (const auto& name : rule.names) {
      if (name == value.get_ref<const std::string&>()) return std::nullopt;
    }
    return "is '" + value.get<std::string>() + "'; expected " + describe(rule, t::text);
  }
  const auto number = as_number(value);
  if (!number) return std::nullopt;
  const value_type type = value.is_number_float() ? t::float64 : t::int64;
  if (std::isnan(*number)) {
    if (rule.absent_allowed) return std::nullopt;
    return "is NaN; expected " + describe(rule, type);
  }
  const bool below = *number < rule.min || (rule.min_excluded && *number == rule.min);
  const bool above = *number > rule.max || (rule.max_excluded && *number == rule.max);
  if (std::isinf(*number) || below || above) return "is " + number_text(*number) + "; expected " + describe(rule, type);
  return std::nullopt;
}

const std::vector<std::string>& conv_names() {
  static const std::vector<std::string> names{"cudnn", "custom", "custom_v1", "custom_v2", "custom_v3", "reference"};
  return names;
}

const std::vector<field>& identity_fields() {
  static const std::vector<field> fields{
      {"schema", t::text, "", "always \"trackbench.run\""},
      {"schema_version", t::int64, "",
       "5 for this layout (4: before the data profiles in /data/profiles; 3: before the keep_weights policies, parameter_sha256, sidecar_sha256, NVML's GPU "
       "fields and the data-parallel fields; 2: before the checksums, precision, target and warmup_seconds; 1: "
       "before keep_weights); "
       "readers refuse a newer version"},
      {"trackbench_version", t::text, "", "version of the trackbench that wrote the file"},
      {"run_id", t::text, "", "unique, sorts by start time: <UTC yyyymmddThhmmss.mmmZ>-<8 random hex digits>"},
      {"parent_run_id", t::text, "", "run this one resumed or reproduced; empty for a fresh run"},
      {"origin", t::text, "", "train, resume or reproduce", 1, one_of({"train", "resume", "reproduce"})},
      {"resumed_from_epoch", t::int64, "epochs", "epochs inherited from the parent (resume); 0 otherwise", 1, range(0, max_epochs)},
      {"status", t::text, "",
       "running (still writing, or killed: readers show it as interrupted), completed, failed or interrupted", 1, one_of({"running", "completed", "failed", "interrupted"})},
      {"error", t::text, "", "why the run failed or stopped; empty otherwise"},
      {"start_time", t::text, "UTC", "ISO 8601, e.g. 2026-11-27T02:37:55.120Z"},
      {"end_time", t::text, "UTC", "ISO 8601; empty while running"},
      {"command_line", t::text, "", "the full command line, arguments joined by spaces, shell-quoted where needed"},
      {"warmup_seconds", t::float64, "s",
       "wall time of the set-up before the first step (data and model on the device, the CUDA context), apart from "
       "the epochs",
       3, at_least(0.0)},
      {"target_reached_epoch", t::int64, "epochs", "first epoch that reached config target; 0 when none did (yet)", 3,
       range(0, max_epochs)},
      {"time_to_target_seconds", t::float64, "s",
       "warmup_seconds plus the epoch_seconds of epochs 1 to target_reached_epoch (recording excluded); NaN when "
       "not reached",
       3, or_absent(at_least(0.0))},
      {"record_sha256", t::text, "hex",
       "SHA-256 over every other field, tag, metric value and confusion matrix, the diff and (since version 4) the "
       "parameter_sha256 and sidecar_sha256 rows, serialised as docs/snapshot-format.md says; absent before "
       "version 3 (unchecksummed files)",
       3},
  };
  return fields;
}

const std::vector<field>& config_fields() {
  static const std::vector<field> fields{
      {"model", t::text, "", "network: digit_cnn (PyTorch examples/mnist CNN)", 1, one_of({"digit_cnn"})},
      {"dataset", t::text, "", "mnist-sample, mnist, fashion-mnist or custom (--data-dir)", 1,
       one_of({"mnist-sample", "mnist", "fashion-mnist", "custom"})},
      {"data_dir", t::text, "", "--data-dir as given; empty when not given"},
      {"conv", t::text, "",
       "convolution backend (--conv); custom_vN for version N of the custom kernels (custom in files written before "
       "the versions were named: version 2)",
       1, one_of(conv_names())},
      {"optimizer", t::text, "", "adam or sgd", 1, one_of({"adam", "sgd"})},
      {"learning_rate", t::float64, "", "--lr (the peak rate with the one-cycle schedule)", 1, positive()},
      {"momentum", t::float64, "", "SGD momentum (unused by adam)", 1, below_one()},
      {"weight_decay", t::float64, "", "L2 weight decay", 1, at_least(0)},
      {"schedule", t::text, "", "constant or one_cycle", 1, one_of({"constant", "one_cycle"})},
      {"batch_size", t::int64, "images", "training batch size", 1, range(1, max_batch)},
      {"eval_batch_size", t::int64, "images", "evaluation batch size", 1, range(1, max_batch)},
      {"epochs", t::int64, "epochs", "epochs the run was asked for", 1, range(1, max_epochs)},
      {"seed", t::uint64, "", "seed of initialisation, dropout, split and shuffles"},
      {"threads", t::int64, "threads", "--threads as given (0: every hardware thread)", 1, range(0, max_threads)},
      {"threads_used", t::int64, "threads", "CPU threads LibTorch ran with; reproduce uses this", 1, range(1, max_threads)},
      {"deterministic", t::boolean, "", "--deterministic: deterministic algorithms only"},
      {"device", t::text, "", "--device as given: auto, cpu or cuda", 1, one_of({"auto", "cpu", "cuda"})},
      {"device_used", t::text, "", "device trained on: cpu or cuda:<index>"},
      {"validation_fraction", t::float64, "fraction", "share of the training set held out for validation", 1, below_one()},
      {"keep_weights", t::text, "",
       "--keep-weights: all, last, best, every:N (the weights of those epochs, always the last, and the state to "
       "resume from) or none (the record alone); all or none before version 4; absent in version 1 files, which "
       "keep them all (the reader checks the form)",
       2, any_value(), "all"},
      {"precision", t::text, "",
       "--precision: fp32 (IEEE products and sums) or tf32 (tensor cores) for cuDNN, cuBLAS and the custom kernels; "
       "absent before version 3 (cuDNN then ran TF32, cuBLAS FP32)",
       3, one_of({"fp32", "tf32"})},
      {"cuda_graphs", t::boolean, "",
       "the steps ran as CUDA graph replays (--cuda-graphs on, a CUDA device, one process; before SGD read its rate "
       "from the device, not SGD with one_cycle); false on the CPU; absent before version 3 (no graphs)",
       3},
      {"target", t::text, "",
       "--target METRIC:VALUE: training stopped after the first epoch whose metric reached VALUE (>= for accuracies, "
       "<= for losses); empty for none",
       3},
      {"world_size", t::int64, "ranks", "processes that trained data-parallel; 1 without a launcher", 4, range(1, 1 << 20)},
      {"global_batch_size", t::int64, "images", "batch_size x world_size: the images of one optimizer step", 4,
       range(1, max_batch)},
      {"engine", t::text, "", "engine of the collectives: none (one process), mpi (Open MPI, CPU) or nccl (GPUs)", 4,
       one_of({"none", "mpi", "nccl"})},
      {"engine_settings", t::text, "",
       "NAME=value of the engine's variables in effect (Open MPI's MCA ones for collectives and transports, or "
       "NCCL_*), space separated; "
       "--deterministic fixes the all-reduce's algorithm here",
       4},
      {"launcher", t::text, "", "what started the ranks: none, mpirun (trackbench train --nproc too), slurm or torchrun",
       4, one_of({"none", "mpirun", "slurm", "torchrun"})},
      {"nodes", t::int64, "machines", "distinct hosts among the ranks", 4, range(1, 1 << 20)},
      {"rank_hosts", t::text, "", "each rank's host name, in rank order, space separated", 4},
      {"rank_devices", t::text, "", "each rank's training device (cpu, or cuda:<index> <name> driver <version>), in rank "
       "order, separated by ; ", 4},
  };
  return fields;
}

const std::vector<field>& environment_fields() {
  static const std::vector<field> fields{
      {"cpu_model", t::text, "", "/proc/cpuinfo model name"},
      {"cpu_cores", t::int64, "cores", "physical cores", 1, at_least(0)},
      {"hardware_threads", t::int64, "threads", "logical processors", 1, at_least(0)},
      {"libtorch_threads", t::int64, "threads", "LibTorch intra-op threads in use when the run started (the threads it trained with)", 1,
       at_least(0)},
      {"memory_bytes", t::int64, "bytes", "physical memory", 1, at_least(0)},
      {"os", t::text, "", "PRETTY_NAME of /etc/os-release"},
      {"kernel", t::text, "", "uname: system, release, machine"},
      {"hostname", t::text, "", "host name"},
      {"compiler", t::text, "", "C++ compiler that built trackbench"},
      {"cxx_flags", t::text, "", "its flags for the build type"},
      {"build_type", t::text, "", "CMake build type"},
      {"cuda_compiler", t::text, "", "CUDA compiler; empty in a build without CUDA"},
      {"libtorch_version", t::text, "", "LibTorch version"},
      {"libtorch_cuda_version", t::text, "", "CUDA version LibTorch was built for; empty for a CPU LibTorch"},
      {"cudnn_version", t::text, "", "cuDNN version LibTorch loads; empty when none"},
      {"cuda_built", t::boolean, "", "trackbench was built with its CUDA kernels"},
      {"cuda_usable", t::boolean, "", "the CUDA runtime found a usable GPU"},
      {"cuda_reason", t::text, "", "why CUDA was not usable; empty when it was"},
      {"cuda_runtime_version", t::text, "", "CUDA runtime version, e.g. 13.0; none when unknown"},
      {"cuda_driver_version", t::text, "", "highest CUDA version the driver supports; none without a driver"},
      {"nvidia_driver_version", t::text, "",
       "NVIDIA driver version, e.g. 580.159.04: from NVML, else (nvml_reason says why) the first line of "
       "/proc/driver/nvidia/version; empty without a driver"},
      {"nvml_reason", t::text, "",
       "why NVML (libnvidia-ml.so.1) was not read, or what it could not say; empty when it answered", 4},
  };
  return fields;
}

const std::vector<field>& gpu_fields() {
  static const std::vector<field> fields{
      {"index", t::int64, "", "CUDA device index (also the group's name)", 1, range(0, 999)},
      {"name", t::text, "", "device name"},
      {"uuid", t::text, "", "GPU-xxxxxxxx-... as nvidia-smi prints it"},
      {"compute_capability", t::text, "", "major.minor"},
      {"sm_count", t::int64, "SMs", "streaming multiprocessors", 1, at_least(0)},
      {"memory_bytes", t::int64, "bytes", "device memory", 1, at_least(0)},
      {"driver_version", t::text, "", "NVIDIA driver version"},
      {"pci_bus_id", t::text, "", "PCI domain:bus:device.function from NVML, e.g. 00000000:19:00.0; empty when unavailable", 4},
      {"sm_clock_mhz", t::int64, "MHz", "SM clock when the run started (NVML); -1 when unavailable", 4, at_least(-1)},
      {"sm_clock_max_mhz", t::int64, "MHz", "highest SM clock (NVML); -1 when unavailable", 4, at_least(-1)},
      {"memory_clock_mhz", t::int64, "MHz", "memory clock when the run started (NVML); -1 when unavailable", 4, at_least(-1)},
      {"memory_clock_max_mhz", t::int64, "MHz", "highest memory clock (NVML); -1 when unavailable", 4, at_least(-1)},
      {"power_limit_watts", t::float64, "W", "power management limit (NVML); NaN when unavailable", 4,
       or_absent(at_least(0))},
      {"ecc_mode", t::text, "", "current ECC mode (NVML): enabled, disabled or unavailable", 4,
       one_of({"enabled", "disabled", "unavailable"})},
      {"persistence_mode", t::text, "", "persistence mode (NVML): enabled, disabled or unavailable", 4,
       one_of({"enabled", "disabled", "unavailable"})},
      {"nvml_reason", t::text, "", "which of these NVML did not give, and why; empty when it gave them all", 4},
  };
  return fields;
}

const std::vector<field>& code_fields() {
  static const std::vector<field> fields{
      {"build_commit", t::text, "", "git commit trackbench was built from; unknown when not built in a checkout"},
      {"build_tree", t::text, "", "clean, dirty (uncommitted changes at build time) or unknown"},
      {"checkout_dir", t::text, "", "source checkout the build came from, inspected when the run started"},
      {"commit", t::text, "", "its HEAD commit at run time; unknown when it is not a git checkout (or git is missing)"},
      {"branch", t::text, "", "its branch; HEAD when detached; unknown outside git"},
      {"tree", t::text, "", "clean, dirty or unknown"},
      {"diff_sha256", t::text, "hex", "SHA-256 of the full `git diff HEAD` output; empty when unknown"},
      {"diff_bytes", t::int64, "bytes", "size of the full diff", 1, at_least(0)},
      {"diff_stored_bytes", t::int64, "bytes", "bytes of it kept in /code/diff (at most 1 MiB)", 1, range(0, 1 << 20)},
  };
  return fields;
}

const std::vector<field>& data_fields() {
  static const std::vector<field> fields{
      {"name", t::text, "", "data set name"},
      {"source", t::text, "", "embedded (built into trackbench) or the directory read"},
      {"content_sha256", t::text, "hex",
       "SHA-256 over the decoded data: train images (uint8, N x 784), train labels (one uint8 each), "
       "test images, test labels; equal for the same data however it is compressed"},
      {"train_count", t::int64, "images", "images in the training file", 1, range(0, max_images)},
      {"test_count", t::int64, "images", "images in the test file", 1, range(0, max_images)},
      {"split_seed", t::uint64, "", "seed of the train/validation split"},
      {"split_sha256", t::text, "hex",
       "SHA-256 over the training indices then the validation indices (int64 little-endian, ascending)"},
      {"split_train_count", t::int64, "images", "images trained on", 1, range(0, max_images)},
      {"split_validation_count", t::int64, "images", "images held out for validation", 1, range(0, max_images)},
      {"train_class_counts", t::int64_array, "images", "per class 0..9, of the images trained on", 1, range(0, max_images)},
      {"validation_class_counts", t::int64_array, "images", "per class 0..9, of the validation images", 1, range(0, max_images)},
      {"test_class_counts", t::int64_array, "images", "per class 0..9, of the test images", 1, range(0, max_images)},
  };
  return fields;
}

const std::vector<std::string>& profile_splits() {
  static const std::vector<std::string> names{"train", "validation", "test"};
  return names;
}

const std::vector<field>& profile_fields() {
  static const std::vector<field> fields{
      {"images", t::int64, "images", "images in the split (the data's split_train_count, split_validation_count or "
       "test_count)", profile_since, range(0, max_images)},
      {"ink_mean", t::float64, "", "mean per-image ink: the sum of the image's intensities / 255 (0 to 784); 0 for "
       "an empty split", profile_since, range(0, 784)},
      {"ink_stddev", t::float64, "", "population standard deviation of the per-image ink", profile_since,
       range(0, 392)},
  };
  return fields;
}

const std::vector<profile_array>& profile_arrays() {
  static const std::vector<profile_array> arrays{
      {"class_counts", true, 10, "images", "per class 0..9 (the data's class counts of the split)", range(0, max_images)},
      {"mean_image", false, 784, "", "per-pixel mean intensity / 255, row-major 28 x 28", fraction()},
      {"intensity_histogram", true, 256, "pixels", "pixels of each byte value 0..255; sums to 784 x images",
       range(0, 784 * max_images)},
      {"ink_histogram", true, 784, "images", "images by ink: bin i holds ink in [i, i+1), 784 in the last; sums to "
       "images", range(0, max_images)},
  };
  return arrays;
}

const std::vector<field>& data_file_fields() {
  static const std::vector<field> fields{
      {"sha256", t::text, "hex", "SHA-256 of the file as stored"},
      {"bytes", t::int64, "bytes", "file size", 1, at_least(0)},
  };
  return fields;
}

const std::vector<field>& bench_identity_fields() {
  static const std::vector<field> fields{
      {"schema", t::text, "", "always \"trackbench.bench\""},
      {"schema_version", t::int64, "",
       "4 for this layout (3: before the instruction counts; 2: before NVML's GPU fields; 1: before the "
       "checksums); readers refuse a newer version"},
      {"trackbench_version", t::text, "", "version of the trackbench that wrote the file"},
      {"bench_id", t::text, "", "unique, sorts by start time, made like a run_id; also the file name"},
      {"start_time", t::text, "UTC", "ISO 8601, when the first suite started"},
      {"end_time", t::text, "UTC", "ISO 8601, when the last suite ended"},
      {"command_line", t::text, "", "the full command line, arguments joined by spaces, shell-quoted where needed"},
      {"filter", t::text, "", "--filter as given (a Google Benchmark regular expression); empty for all"},
      {"repetitions", t::int64, "", "--repetitions: samples asked of each benchmark", 1, range(1, 1e6)},
      {"measure", t::text, "",
       "--measure: time (the repetitions' samples), instructions (callgrind's count per iteration, no samples) or "
       "time,instructions; absent before version 4, which measured time",
       4, one_of({"time", "instructions", "time,instructions"}), "time"},
      {"instruction_tool", t::text, "",
       "what counted the instructions, e.g. valgrind-3.19.0 --tool=callgrind; empty when they were not counted", 4},
      {"instruction_isa_limit", t::text, "",
       "the widest vector instructions the counted suites could use, e.g. AVX2 (Valgrind decodes no AVX-512); "
       "empty when not counted",
       4},
      {"instruction_settings", t::text, "",
       "NAME=value of the variables the counted suites ran with (the ISA limit of oneDNN, MKL and ATen, one "
       "thread), space separated; empty when not counted",
       4},
      {"record_sha256", t::text, "hex",
       "SHA-256 over every other field, the diff and every benchmark, sample and counter, serialised as "
       "docs/snapshot-format.md says; absent before version 2 (unchecksummed files)",
       2},
  };
  return fields;
}

const std::vector<field>& bench_data_fields() {
  static const std::vector<field> fields = [] {
    std::vector<field> kept;
    for (const auto& f : data_fields()) {
      if (f.name == "name" || f.name == "source" || f.name == "content_sha256" || f.name == "train_count" ||
          f.name == "test_count") {
        kept.push_back(f);
      }
    }
    return kept;
  }();
  return fields;
}

const std::vector<table_column>& bench_benchmark_columns() {
  using c = column_type;
  static const std::vector<table_column> columns{
      {"name", c::text, "", "Google Benchmark's name, e.g. train/step/cpu/cudnn/fp32/64/manual_time; unique"},
      {"suite", c::text, "", "the suite: kernels, trainer, tracking, ... or the executable's file name"},
      {"run_name", c::text, "", "Google Benchmark's run_name (the family and arguments)"},
      {"time_unit", c::text, "", "the unit the suite displays times in: ns, us, ms or s"},
      {"label", c::text, "", "the benchmark's label; empty when it sets none"},
      {"skip_message", c::text, "", "why it was skipped; empty otherwise"},
      {"manual_time", c::flag, "", "1 when the benchmark times itself (UseManualTime)"},
      {"skipped", c::flag, "", "1 when it reported an error or a skip: it has no samples"},
      {"instructions_per_iteration", c::float64, "instructions",
       "instructions the timed loop executed per iteration under callgrind (bench --measure instructions); NaN when "
       "not counted",
       4},
  };
  return columns;
}

const std::vector<table_column>& bench_sample_columns() {
  using c = column_type;
  static const std::vector<table_column> columns{
      {"benchmark", c::int64, "", "the row of /benchmarks this sample belongs to"},
      {"repetition", c::int64, "", "0, 1, ... within its benchmark"},
      {"iterations", c::int64, "iterations", "iterations Google Benchmark ran in this repetition"},
      {"real_seconds", c::float64, "s", "wall (or manual) time per iteration"},
      {"cpu_seconds", c::float64, "s", "CPU time of the process per iteration"},
  };
  return columns;
}

const std::vector<table_column>& bench_counter_columns() {
  using c = column_type;
  static const std::vector<table_column> columns{
      {"sample", c::int64, "", "the row of /samples the value belongs to"},
      {"name", c::text, "", "the counter's name, e.g. items_per_second"},
      {"value", c::float64, "", "its value as the suite reported it"},
  };
  return columns;
}

std::int64_t sections_version(std::int64_t bench_version) {
  // Bench versions 1 and 2 carried the sections of run version 3; bench 3 and 4 carry run 4's.
  return bench_version <= 2 ? 3 : 4;
}

const std::vector<metric_column>& metric_columns() {
  using m = trainer::epoch_metrics;
  static const std::vector<metric_column> columns{
      {"epoch", true, "", "1-based epoch number", [](const m& e) { return double(e.epoch); },
       [](m& e, double v) { e.epoch = v >= 1.0 && v <= 1e6 ? static_cast<int>(v) : -1; },
       range(1, max_epochs)},
      {"train_loss", false, "nats", "mean training loss over the epoch's steps",
       [](const m& e) { return e.train_loss; }, [](m& e, double v) { e.train_loss = v; },
       at_least(0)},
      {"train_accuracy", false, "fraction", "training accuracy during the epoch (dropout on)",
       [](const m& e) { return e.train_accuracy; }, [](m& e, double v) { e.train_accuracy = v; },
       fraction()},
      {"validation_loss", false, "nats", "validation loss; NaN without a validation split",
       [](const m& e) { return e.validation ? e.validation->loss : absent; },
       [](m& e, double v) {
         if (!std::isnan(v)) e.validation.emplace().loss = v;
       },
       or_absent(at_least(0))},
      {"validation_accuracy", false, "fraction", "validation accuracy; NaN without a validation split",
       [](const m& e) { return e.validation ? e.validation->accuracy : absent; },
       [](m& e, double v) {
         if (e.validation) e.validation->accuracy = v;
       },
       or_absent(fraction())},
      {"validation_precision", false, "fraction", "validation macro precision; NaN without a validation split",
       [](const m& e) { return e.validation ? e.validation->precision : absent; },
       [](m& e, double v) {
         if (e.validation) e.validation->precision = v;
       },
       or_absent(fraction())},
      {"validation_recall", false, "fraction", "validation macro recall; NaN without a validation split",
       [](const m& e) { return e.validation ? e.validation->recall : absent; },
       [](m& e, double v) {
         if (e.validation) e.validation->recall = v;
       },
       or_absent(fraction())},
      {"validation_f1", false, "fraction", "validation macro F1; NaN without a validation split",
       [](const m& e) { return e.validation ? e.validation->f1 : absent; },
       [](m& e, double v) {
         if (e.validation) e.validation->f1 = v;
       },
       or_absent(fraction())},
      {"test_loss", false, "nats", "test loss", [](const m& e) { return e.test.loss; },
       [](m& e, double v) { e.test.loss = v; },
       at_least(0)},
      {"test_accuracy", false, "fraction", "test accuracy", [](const m& e) { return e.test.accuracy; },
       [](m& e, double v) { e.test.accuracy = v; },
       fraction()},
      {"test_precision", false, "fraction", "test macro precision", [](const m& e) { return e.test.precision; },
       [](m& e, double v) { e.test.precision = v; },
       fraction()},
      {"test_recall", false, "fraction", "test macro recall", [](const m& e) { return e.test.recall; },
       [](m& e, double v) { e.test.recall = v; },
       fraction()},
      {"test_f1", false, "fraction", "test macro F1", [](const m& e) { return e.test.f1; },
       [](m& e, double v) { e.test.f1 = v; },
       fraction()},
      {"learning_rate", false, "", "learning rate at the end of the epoch", [](const m& e) { return e.learning_rate; },
       [](m& e, double v) { e.learning_rate = v; },
       at_least(0)},
      {"epoch_seconds", false, "s", "wall time of training and evaluation", [](const m& e) { return e.epoch_seconds; },
       [](m& e, double v) { e.epoch_seconds = v; },
       at_least(0), false, summary_kind::median},
      {"train_seconds", false, "s", "wall time of the training steps alone", [](const m& e) { return e.train_seconds; },
       [](m& e, double v) { e.train_seconds = v; },
       at_least(0), false, summary_kind::median},
      {"images_per_second", false, "images/s", "training images / train_seconds",
       [](const m& e) { return e.images_per_second; }, [](m& e, double v) { e.images_per_second = v; },
       at_least(0), false, summary_kind::median},
      {"peak_rss_bytes", true, "bytes", "process resident set high-water mark during the epoch",
       [](const m& e) { return double(e.peak_rss_bytes); },
       [](m& e, double v) { e.peak_rss_bytes = static_cast<std::int64_t>(v); },
       at_least(0), false, summary_kind::peak},
      {"peak_cuda_bytes", true, "bytes", "CUDA caching allocator peak during the epoch; -1 for a CPU run",
       [](const m& e) { return e.peak_cuda_bytes ? double(*e.peak_cuda_bytes) : -1.0; },
       [](m& e, double v) {
         if (v >= 0) e.peak_cuda_bytes = static_cast<std::int64_t>(v);
       },
       at_least(-1), false, summary_kind::peak},
  };
  return columns;
}

const std::map<std::string, std::string>& metric_aliases() {
  static const std::map<std::string, std::string> names{{"test_acc", "test_accuracy"},
                                                        {"val_acc", "validation_accuracy"},
                                                        {"val_loss", "validation_loss"},
                                                        {"train_acc", "train_accuracy"}};
  return names;
}

const metric_column* find_metric_column(const std::string& metric) {
  const auto alias = metric_aliases().find(metric);
  const std::string name = alias == metric_aliases().end() ? metric : alias->second;
  for (const auto& column : metric_columns()) {
    if (column.name == name && name != "epoch") return &column;
  }
  return nullptr;
}

const std::vector<std::string>& run_level_metrics() {
  static const std::vector<std::string> names{"warmup_seconds", "target_reached_epoch", "time_to_target_seconds"};
  return names;
}

std::string type_name(value_type type) {
  switch (type) {
    case t::text:
      return "text";
    case t::int64:
      return "int64";
    case t::uint64:
      return "uint64";
    case t::float64:
      return "float64";
    case t::boolean:
      return "boolean";
    case t::int64_array:
      return "int64[10]";
  }
  return "unknown";
}

}  // namespace trackbench::tracking::schema
