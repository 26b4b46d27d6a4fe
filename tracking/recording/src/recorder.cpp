#include "trackbench/tracking/recording/recorder.h"

#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>

#include "build_commit.h"
#include "build_info.h"
#include "trackbench/tracking/analysis/compare.h"
#include "trackbench/tracking/environment/environment.h"
#include "trackbench/tracking/recording/job.h"
#include "trackbench/trainer/checksum.h"

namespace trackbench::tracking {
namespace {

using json = nlohmann::ordered_json;

std::string shell_quote(const std::string& word) {
  const bool plain = !word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                              "0123456789_./=:,+-@%") == std::string::npos;
  if (plain) return word;
  std::string quoted = "'";
  for (const char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

struct git_output {
  bool ok = false;
  std::string text;         // at most `keep` bytes of stdout
  std::uint64_t bytes = 0;  // all of stdout
  std::string sha256;       // of all of stdout
};

// Runs `git -C dir <arguments>`; ok only when git exists, `dir` is a checkout and it succeeds.
git_output run_git(const std::string& dir, const std::string& arguments, std::size_t keep) {
  const std::string command = "git -C " + shell_quote(dir) + " " + arguments + " 2>/dev/null";
  git_output result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  trainer::sha256_hasher hasher;
  std::array<char, 65536> buffer{};
  std::size_t read = 0;
  while ((read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    hasher.update(buffer.data(), read);
    result.bytes += read;
    if (result.text.size() < keep) result.text.append(buffer.data(), std::min(read, keep - result.text.size()));
  }
  const int status = ::pclose(pipe);
  result.sha256 = hasher.hex_digest();
  result.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return result;
}

std::string first_line(std::string text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

std::vector<std::int64_t> class_counts(const torch::Tensor& labels) {
  const auto counts = torch::bincount(labels.to(torch::kCPU), {}, trainer::class_count).to(torch::kInt64).contiguous();
  return {counts.data_ptr<std::int64_t>(), counts.data_ptr<std::int64_t>() + counts.numel()};
}

void hash_tensor(trainer::sha256_hasher& hasher, const torch::Tensor& tensor) {
  const auto contiguous = tensor.to(torch::kCPU).contiguous();
  hasher.update(contiguous.data_ptr(), static_cast<std::size_t>(contiguous.nbytes()));
}

}  // namespace

nlohmann::ordered_json describe_dataset(const trainer::dataset& data) {
  json files = json::array();
  for (const auto& file : data.files) {
    files.push_back({{"name", file.name}, {"sha256", file.sha256}, {"bytes", static_cast<std::int64_t>(file.bytes)}});
  }
  return {{"name", data.name},
          {"source", data.source},
          {"content_sha256", data_content_sha256(data)},
          {"train_count", data.train.size()},
          {"test_count", data.test.size()},
          {"files", files}};
}

std::string data_content_sha256(const trainer::dataset& data) {
  trainer::sha256_hasher content;
  for (const auto* split : {&data.train, &data.test}) {
    hash_tensor(content, split->images);
    hash_tensor(content, split->labels.to(torch::kUInt8));
  }
  return content.hex_digest();
}

namespace {

json describe_config(const trainer::trainer& run) {
  const auto& c = run.config();
  return {{"model", "digit_cnn"},
          {"dataset", c.dataset},
          {"data_dir", c.data_dir ? c.data_dir->string() : std::string()},
          {"conv", trainer::conv_name(c.conv, c.conv_version)},
          {"optimizer", trainer::to_string(c.optimizer)},
          {"learning_rate", c.learning_rate},
          {"momentum", c.momentum},
          {"weight_decay", c.weight_decay},
          {"schedule", c.one_cycle ? "one_cycle" : "constant"},
          {"batch_size", c.batch_size},
          {"eval_batch_size", c.eval_batch_size},
          {"epochs", c.epochs},
          {"seed", c.seed},
          {"threads", c.threads},
          {"threads_used", run.threads()},
          {"deterministic", c.deterministic},
          {"device", trainer::to_string(c.device)},
          {"device_used", run.device().str()},
          {"validation_fraction", c.validation_fraction}};
}

json describe_data(const trainer::trainer& run, const trainer::dataset& data) {
  trainer::sha256_hasher indices;
  hash_tensor(indices, run.split().train_indices);
  hash_tensor(indices, run.split().validation_indices);
  json described = describe_dataset(data);
  // The files stay last, where a reader of the snapshot puts them too.
  json files = std::move(described["files"]);
  described.erase("files");
  described.update({{"split_seed", run.split_seed()},
                    {"split_sha256", indices.hex_digest()},
                    {"split_train_count", run.train_size()},
                    {"split_validation_count", run.validation_size()},
                    {"train_class_counts", class_counts(data.train.labels.index_select(0, run.split().train_indices))},
                    {"validation_class_counts",
                     class_counts(data.train.labels.index_select(0, run.split().validation_indices))},
                    {"test_class_counts", class_counts(data.test.labels)}});
  described["files"] = std::move(files);
  return described;
}

element_type element_of(const torch::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case torch::kFloat32:
      return element_type::float32;
    case torch::kInt64:
      return element_type::int64;
    case torch::kUInt8:
      return element_type::uint8;
    default:
      throw std::logic_error("cannot store a tensor of type " + std::string(c10::toString(tensor.scalar_type())));
  }
}

torch::ScalarType scalar_type_of(element_type type) {
  switch (type) {
    case element_type::float32:
      return torch::kFloat32;
    case element_type::int64:
      return torch::kInt64;
    case element_type::uint8:
      return torch::kUInt8;
  }
  return torch::kFloat32;
}

// One copy, from wherever the tensor lives straight into the record's bytes.
array_record to_record(const std::string& name, const torch::Tensor& tensor) {
  array_record record{name, element_of(tensor), {tensor.sizes().begin(), tensor.sizes().end()}, {}};
  record.bytes.resize(static_cast<std::size_t>(tensor.numel()) * tensor.element_size());
  if (!record.bytes.empty()) {
    torch::from_blob(record.bytes.data(), tensor.sizes(), tensor.scalar_type()).copy_(tensor.detach());
  }
  return record;
}

torch::Tensor to_tensor(const array_record& record) {
  auto bytes = record.bytes;  // from_blob does not own its memory; clone() below copies it out
  return torch::from_blob(bytes.data(), record.shape, scalar_type_of(record.type)).clone();
}

}  // namespace

std::string format_command_line(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& word : words) line += (line.empty() ? "" : " ") + shell_quote(word);
  return line;
}

std::string make_run_id() {
  std::random_device entropy;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(entropy()));
  std::string stamp = utc_timestamp();  // 2026-11-27T02:37:55.120Z
  std::string compact;
  for (const char c : stamp) {
    if (c != '-' && c != ':') compact += c;
  }
  return compact + "-" + suffix;
}

code_state capture_code() {
  const char* override_dir = std::getenv("TRACKBENCH_CHECKOUT");
  const std::string dir = override_dir != nullptr && *override_dir != '\0' ? override_dir : TRACKBENCH_SOURCE_DIR;
  code_state code;
  code.fields = {{"build_commit", TRACKBENCH_BUILD_COMMIT},
                 {"build_tree", TRACKBENCH_BUILD_TREE},
                 {"checkout_dir", dir},
                 {"commit", "unknown"},
                 {"branch", "unknown"},
                 {"tree", "unknown"},
                 {"diff_sha256", ""},
                 {"diff_bytes", 0},
                 {"diff_stored_bytes", 0}};
  const auto head = run_git(dir, "rev-parse --verify HEAD", 4096);
  if (!head.ok) return code;
  code.fields["commit"] = first_line(head.text);
  const auto branch = run_git(dir, "rev-parse --abbrev-ref HEAD", 4096);
  if (branch.ok) code.fields["branch"] = first_line(branch.text);
  const auto diff = run_git(dir, "diff --no-color --no-ext-diff HEAD", max_stored_diff);
  if (!diff.ok) return code;
  code.fields["tree"] = diff.bytes == 0 ? "clean" : "dirty";
  code.fields["diff_sha256"] = diff.sha256;
  code.fields["diff_bytes"] = static_cast<std::int64_t>(diff.bytes);
  code.fields["diff_stored_bytes"] = static_cast<std::int64_t>(diff.text.size());
  code.diff = diff.text;
  return code;
}

std::vector<std::string> git_ancestry(const std::string& dir, const std::vector<std::string>& commits) {
  std::string arguments = "rev-list --topo-order --reverse --ignore-missing";
  bool any = false;
  for (const auto& commit : commits) {
    // Commits come from snapshot files: only hex digits reach the command line.
    if (commit.size() < 4 || commit.size() > 64 || commit.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
    arguments += " " + commit;
    any = true;
  }
  if (!any) return {};
  const auto listed = run_git(dir, arguments, std::numeric_limits<std::size_t>::max());
  if (!listed.ok) return {};
  std::vector<std::string> order;
  std::size_t begin = 0;
  while (begin < listed.text.size()) {
    const auto end = listed.text.find('\n', begin);
    order.push_back(listed.text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return order;
}

run_record describe_run(const trainer::trainer& run, const trainer::dataset& data, const run_origin& origin,
                        const std::string& command_line, const nlohmann::ordered_json& tags,
                        const weights_policy& keep_weights, const std::optional<run_target>& target) {
  run_record record;
  record.identity = {{"schema", schema_name},
                     {"schema_version", schema_version},
                     {"trackbench_version", TRACKBENCH_VERSION},
                     {"run_id", make_run_id()},
                     {"parent_run_id", origin.parent_run_id},
                     {"origin", origin.origin},
                     {"resumed_from_epoch", origin.resumed_from_epoch},
                     {"status", "running"},
                     {"error", ""},
                     {"start_time", utc_timestamp()},
                     {"end_time", ""},
                     {"command_line", command_line},
                     {"warmup_seconds", run.warmup_seconds()},
                     {"target_reached_epoch", 0},
                     {"time_to_target_seconds", std::numeric_limits<double>::quiet_NaN()}};
  record.tags = tags;
  record.config = describe_config(run);
  record.config["keep_weights"] = to_string(keep_weights);
  record.config["precision"] = kernels::to_string(run.config().precision);
  record.config["cuda_graphs"] = run.uses_cuda_graphs();
  record.config["target"] = target ? to_string(*target) : std::string();
  record.environment = to_json(capture_environment());
  record.config.update(describe_job(run, record.environment["gpus"]));
  auto code = capture_code();
  record.code = std::move(code.fields);
  record.code_diff = std::move(code.diff);
  record.data = describe_data(run, data);
  record.profiles = {trainer::profile_of(trainer::subset(data.train, run.split().train_indices), "train"),
                     trainer::profile_of(trainer::subset(data.train, run.split().validation_indices), "validation"),
                     trainer::profile_of(data.test, "test")};
  return record;
}

bench_record describe_bench(const trainer::dataset& data, const std::string& command_line, const std::string& filter,
                            int repetitions) {
  bench_record record;
  record.identity = {{"schema", bench_schema_name},
                     {"schema_version", bench_schema_version},
                     {"trackbench_version", TRACKBENCH_VERSION},
                     {"bench_id", make_run_id()},
                     {"start_time", utc_timestamp()},
                     {"end_time", ""},
                     {"command_line", command_line},
                     {"filter", filter},
                     {"repetitions", repetitions},
                     {"measure", "time"},
                     {"instruction_tool", ""},
                     {"instruction_isa_limit", ""},
                     {"instruction_settings", ""}};
  record.environment = to_json(capture_environment());
  auto code = capture_code();
  record.code = std::move(code.fields);
  record.code_diff = std::move(code.diff);
  record.data = describe_dataset(data);
  return record;
}

namespace {
// The version of a recorded plain "custom": files written before versions were named ran v2,
// the default since the first kernels.
constexpr int recorded_custom_version = 2;
}  // namespace

trainer::train_config config_from_record(const nlohmann::ordered_json& config) {
  trainer::train_config c;
  try {
    c.dataset = config.at("dataset").get<std::string>();
    const auto data_dir = config.at("data_dir").get<std::string>();
    if (!data_dir.empty()) c.data_dir = data_dir;
    const auto conv = config.at("conv").get<std::string>();
    const auto choice = trainer::parse_conv(conv);
    c.conv = choice.backend;
    c.conv_version = conv == "custom" ? recorded_custom_version : choice.kernel_version;
    c.optimizer = trainer::parse_optimizer(config.at("optimizer").get<std::string>());
    c.learning_rate = config.at("learning_rate").get<double>();
    c.momentum = config.at("momentum").get<double>();
    c.weight_decay = config.at("weight_decay").get<double>();
    const auto schedule = config.at("schedule").get<std::string>();
    if (schedule != "constant" && schedule != "one_cycle") {
      throw input_error("schedule '" + schedule + "' is neither constant nor one_cycle");
    }
    c.one_cycle = schedule == "one_cycle";
    c.batch_size = config.at("batch_size").get<std::int64_t>();
    c.eval_batch_size = config.at("eval_batch_size").get<std::int64_t>();
    c.epochs = static_cast<int>(config.at("epochs").get<std::int64_t>());
    c.seed = config.at("seed").get<std::uint64_t>();
    // The thread count the run actually used, so CPU reductions split the same way.
    c.threads = static_cast<int>(config.at("threads_used").get<std::int64_t>());
    c.deterministic = config.at("deterministic").get<bool>();
    const auto device_used = config.at("device_used").get<std::string>();
    c.device = device_used.rfind("cuda", 0) == 0 ? trainer::device_kind::cuda : trainer::device_kind::cpu;
    c.validation_fraction = config.at("validation_fraction").get<double>();
    // Absent before schema version 3, whose GPU runs left cuDNN at LibTorch's TF32 default.
    if (config.contains("precision")) c.precision = trainer::parse_precision_flag(config["precision"].get<std::string>());
    c.cuda_graphs = config.value("cuda_graphs", false);
    if (config.at("model").get<std::string>() != "digit_cnn") {
      throw input_error("model '" + config.at("model").get<std::string>() + "' is not digit_cnn");
    }
    trainer::validate(c);
  } catch (const input_error& e) {
    throw snapshot_error(std::string("config: ") + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw snapshot_error(std::string("config: ") + e.what());
  }
  return c;
}

std::vector<array_record> to_records(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::vector<array_record> records;
  records.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) records.push_back(to_record(name, tensor));
  return records;
}

saved_state to_saved_state(const trainer::training_state& state, std::uint64_t next_shuffle_seed) {
  saved_state saved;
  saved.epochs_done = state.epochs_done;
  saved.next_shuffle_seed = next_shuffle_seed;
  saved.optimizer = to_records(state.optimizer_state);
  saved.cpu_generator = to_record("cpu", state.cpu_generator);
  if (state.cuda_generator.defined()) saved.cuda_generator = to_record("cuda", state.cuda_generator);
  return saved;
}

std::vector<std::pair<std::string, torch::Tensor>> to_named_tensors(const std::vector<array_record>& records) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& record : records) tensors.emplace_back(record.name, to_tensor(record));
  return tensors;
}

trainer::training_state to_training_state(const std::vector<array_record>& parameters, const saved_state& state) {
  trainer::training_state restored;
  restored.epochs_done = static_cast<int>(state.epochs_done);
  restored.parameters = to_named_tensors(parameters);
  restored.optimizer_state = to_named_tensors(state.optimizer);
  restored.cpu_generator = to_tensor(state.cpu_generator);
  if (state.cuda_generator) restored.cuda_generator = to_tensor(*state.cuda_generator);
  return restored;
}

snapshot_recorder::snapshot_recorder(snapshot_writer& writer, trainer::trainer& run, trainer::training_observer* inner,
                                     std::function<bool()> stop_requested)
    : writer_(writer), run_(run), inner_(inner), stop_requested_(std::move(stop_requested)) {}

void snapshot_recorder::on_step(const trainer::step_progress& progress) {
  if (inner_ != nullptr) inner_->on_step(progress);
  writer_.check();
  if (stop_requested_ && stop_requested_()) {
    throw run_interrupted("stopped by a signal during epoch " + std::to_string(progress.epoch));
  }
}

void snapshot_recorder::on_epoch(const trainer::epoch_metrics& metrics) {
  if (inner_ != nullptr) inner_->on_epoch(metrics);
  const auto start = std::chrono::steady_clock::now();
  // The parameters are copied out whatever the policy: every epoch records their digests.
  const auto state = run_.view_state(metrics.epoch);
  auto parameters = to_records(state.parameters);
  std::optional<saved_state> saved;
  if (keeps_weights(writer_.record())) saved = to_saved_state(state, run_.shuffle_seed(metrics.epoch + 1));
  seconds_capturing_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  writer_.append_epoch(metrics, std::move(parameters), std::move(saved));
  if (stop_requested_ && stop_requested_() && metrics.epoch < run_.config().epochs) {
    throw run_interrupted("stopped by a signal after epoch " + std::to_string(metrics.epoch));
  }
}

}  // namespace trackbench::tracking
