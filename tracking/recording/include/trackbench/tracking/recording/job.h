#pragma once
// What a run records about the job of data-parallel ranks it belongs to.
#include <nlohmann/json.hpp>

#include <string>

#include "trackbench/trainer/train.h"

namespace trackbench::tracking {

// The run's /config fields world_size, global_batch_size, engine, engine_settings, launcher,
// nodes, rank_hosts and rank_devices. (In /config, not /environment: bench snapshots share the
// environment's table, and a job is part of how the run trained.) A collective: every rank of
// the run's group calls it (describe_run does, on every rank). `gpus` is the environment's GPU
// list, which names a CUDA device and its driver.
nlohmann::ordered_json describe_job(const trainer::trainer& run, const nlohmann::ordered_json& gpus);

// A run continues (resume) or repeats (reproduce) only with the world size it was recorded with
// (1 before schema version 4): another splits every batch and every sum differently. Throws
// input_error naming `what` and both sizes.
void require_world_size(const nlohmann::ordered_json& config, int world_size, const std::string& what);

}  // namespace trackbench::tracking
