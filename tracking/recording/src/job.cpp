#include "trackbench/tracking/recording/job.h"

#include <unistd.h>

#include <set>

#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

std::string host_name() {
  char name[256] = {};
  return ::gethostname(name, sizeof(name) - 1) == 0 ? std::string(name) : std::string("unknown");
}

std::string device_description(const torch::Device& device, const nlohmann::ordered_json& gpus) {
  std::string described = device.str();
  for (const auto& gpu : gpus) {
    if (device.is_cuda() && gpu.value("index", -1) == device.index()) {
      described += " " + gpu.value("name", std::string()) + " driver " + gpu.value("driver_version", std::string());
    }
  }
  return described;
}

}  // namespace

nlohmann::ordered_json describe_job(const trainer::trainer& run, const nlohmann::ordered_json& gpus) {
  auto& group = run.group();
  const auto hosts = group.all_gather(host_name(), "the gathering of the ranks' hosts");
  const auto devices = group.all_gather(device_description(run.device(), gpus), "the gathering of the ranks' devices");
  std::string settings;
  for (const auto& [name, value] : group.settings()) settings += (settings.empty() ? "" : " ") + name + "=" + value;
  return {{"world_size", group.world_size()},
          {"global_batch_size", run.global_batch_size()},
          {"engine", group.engine()},
          {"engine_settings", settings},
          {"launcher", group.launch().launcher},
          {"nodes", static_cast<std::int64_t>(std::set<std::string>(hosts.begin(), hosts.end()).size())},
          {"rank_hosts", joined(hosts, " ")},
          {"rank_devices", joined(devices, "; ")}};
}

void require_world_size(const nlohmann::ordered_json& config, int world_size, const std::string& what) {
  const auto recorded = config.contains("world_size") ? config["world_size"].get<std::int64_t>() : 1;
  if (recorded == world_size) return;
  const auto ranks = [](std::int64_t n) { return std::to_string(n) + (n == 1 ? " process" : " ranks"); };
  throw input_error(what + ": the run trained on " + ranks(recorded) + ", this is " + ranks(world_size) +
                    "; the global batch and every sum would differ. Run it with " +
                    (recorded == 1 ? std::string("no launcher and no --nproc")
                                   : "--nproc " + std::to_string(recorded) + " (or a launcher starting " +
                                         std::to_string(recorded) + " ranks)"));
}

}  // namespace trackbench::tracking
