#include "trackbench/tracking/recording/recorded_run.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <regex>
#include <system_error>

#include "trackbench/tracking/recording/job.h"
#include "trackbench/tracking/recording/launch.h"
#include "trackbench/tracking/recording/stop_signals.h"
#include "trackbench/trainer/distributed.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {

namespace fs = std::filesystem;

namespace {

// A rank other than 0 trains alike and records nothing: rank 0 writes the job's snapshot.
recorded_run run_unrecorded(trainer::trainer& run, const recording_options& options, int first_epoch, int last_epoch) {
  for (int epoch = first_epoch; epoch <= last_epoch; ++epoch) {
    const auto metrics = run.train_epoch(epoch);
    // Every rank sees the same reduced metrics, so all of them stop at the same epoch.
    if (options.target && target_reached(*options.target, metrics)) break;
  }
  run.group().shutdown();
  return {{}, "completed", 0};
}

}  // namespace

void check_recording_options(const trainer::train_config& config, const recording_options& options) {
  if (options.keep_weights.keep == weights_policy::kind::best && config.validation_fraction <= 0.0) {
    throw input_error("--keep-weights best: the best epoch is the one of the highest validation accuracy, and "
                      "--validation-fraction 0 holds out no validation images; hold some out or keep last");
  }
}

recorded_run run_recorded(const trainer::train_config& config, const trainer::dataset& data,
                          const run_origin& origin, const snapshot_reader* parent,
                          const recording_options& options, int last_epoch) {
  install_stop_handlers();  // from here on a signal stops the run cleanly
  const auto start = std::chrono::steady_clock::now();
  trainer::trainer run(config, data);
  // A stop signal also ends a wait for the other ranks (the launcher sends one when a rank fails).
  run.group().set_wait_check([] {
    if (stop_signal() != 0) {
      throw run_interrupted("stopped by signal " + std::to_string(stop_signal()) +
                                      " while waiting for the other ranks");
    }
  });
  if (run.group().rank() != 0) spdlog::set_level(spdlog::level::warn);  // rank 0 speaks for the job
  const auto inherited = static_cast<int>(origin.resumed_from_epoch);
  std::optional<saved_state> state;
  std::vector<inherited_epoch> inherited_epochs;
  if (parent != nullptr && inherited > 0) {
    state = parent->state();
    if (!state || state->epochs_done != inherited) {
      throw input_error("the snapshot has no state to resume from after epoch " + std::to_string(inherited));
    }
    if (state->next_shuffle_seed != run.shuffle_seed(inherited + 1)) {
      throw input_error("the snapshot's shuffle seed for epoch " + std::to_string(inherited + 1) +
                        " differs from this trackbench's: it was written by an incompatible version");
    }
    for (int epoch = 1; epoch <= inherited; ++epoch) {
      inherited_epoch one{parent->parameter_digests(epoch), std::nullopt};
      if (parent->has_weights(epoch)) one.weights = parent->weights(epoch);
      inherited_epochs.push_back(std::move(one));
    }
    run.restore_state(to_training_state(*inherited_epochs.back().weights, *state));
  }
  run.prepare();  // after the restore: CUDA graphs capture the state training continues from

  auto record = describe_run(run, data, origin, options.command_line, options.tags, options.keep_weights,
                                       options.target);
  if (run.group().rank() != 0) return run_unrecorded(run, options, inherited + 1, last_epoch > 0 ? last_epoch : config.epochs);
  std::error_code error;
  fs::create_directories(options.out_dir, error);
  if (error || !fs::is_directory(options.out_dir)) {
    throw input_error("--out " + options.out_dir.string() + ": cannot create the folder: " + error.message());
  }
  const auto run_id = record.identity["run_id"].get<std::string>();
  snapshot_writer writer(options.out_dir / (run_id + ".h5"), std::move(record));
  if (inherited > 0) {
    const auto& epochs = parent->record().epochs;
    writer.append_epochs({epochs.begin(), epochs.begin() + inherited}, std::move(inherited_epochs), std::move(state));
  }
  note_job_snapshot(writer.path());
  spdlog::info("run {} recording to {}", run_id, writer.path().string());
  spdlog::info("training on {} with {} threads: {} train / {} validation images, {} steps per epoch, conv {}, "
               "precision {}, CUDA graphs {}, {:.3f} s of set-up{}",
               run.device().str(), run.threads(), run.train_size(), run.validation_size(), run.steps_per_epoch(),
               trainer::conv_name(config.conv, config.conv_version), kernels::to_string(config.precision),
               run.uses_cuda_graphs() ? "on" : "off", run.warmup_seconds(),
               inherited > 0 ? ", resuming after epoch " + std::to_string(inherited) : std::string());

  snapshot_recorder recorder(writer, run, options.observer, [] { return stop_signal() != 0; });
  try {
    const int last = last_epoch > 0 ? last_epoch : config.epochs;
    for (int epoch = inherited + 1; epoch <= last; ++epoch) {
      const auto metrics = run.train_epoch(epoch, &recorder);
      if (options.target && target_reached(*options.target, metrics)) {
        // Time to the target: this process's set-up and the epochs' own times (inherited ones
        // included), without the time spent recording.
        double seconds = run.warmup_seconds();
        for (const auto& done : writer.record().epochs) seconds += done.epoch_seconds;
        writer.record_target_reached(epoch, seconds);
        spdlog::info("target {} reached at epoch {}, {:.3f} s after training began", to_string(*options.target),
                     epoch, seconds);
        break;
      }
    }
  } catch (const run_interrupted& e) {
    // The launcher stops the job when a rank ends: that is the job's failure, not a stop.
    if (const auto ended = run.group().ended_peer(); !ended.empty()) {
      const std::string reason = ended + " during the run (" + e.what() + ")";
      writer.finish("failed", reason);
      throw training_error(reason);
    }
    writer.finish("interrupted", e.what());
    spdlog::warn("{}: {} keeps {}; continue with: trackbench train --resume {}", e.what(), writer.path().string(),
                 count_of(static_cast<std::int64_t>(writer.record().epochs.size()), "completed epoch"),
                 writer.path().string());
    return {writer.path(), "interrupted", 128 + stop_signal()};
  } catch (const snapshot_write_error&) {
    throw;  // the file cannot take a final status either; it keeps its completed epochs
  } catch (const std::exception& e) {
    try {
      writer.finish("failed", e.what());
    } catch (const snapshot_write_error& write_error) {
      spdlog::error("{}", write_error.what());
    }
    throw;
  }
  if (options.target && writer.record().identity["target_reached_epoch"].get<std::int64_t>() == 0) {
    spdlog::warn("target {} not reached in {} epochs", to_string(*options.target), writer.record().epochs.size());
  }
  writer.finish("completed", "");
  run.group().shutdown();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Background writes run beside training; their CPU time is counted as if it all were taken
  // from training, an upper bound.
  const double blocking = recorder.seconds_capturing() + writer.seconds_writing();
  const double background = writer.seconds_writing_in_background();
  spdlog::info("snapshot {}: recording it took {:.2f} s of the run and {:.2f} s of CPU beside it ({:.2f}% of the run)",
               writer.path().string(), blocking, background, 100.0 * (blocking + background) / seconds);
  if (options.on_completed) options.on_completed(run, writer.record(), seconds, writer.path());
  return {writer.path(), "completed", 0};
}

trainer::dataset load_recorded_data(const run_record& record, trainer::train_config& config,
                                    const std::string& data_dir, bool allow_mismatch) {
  if (!data_dir.empty()) config.data_dir = data_dir;
  auto data = trainer::load_dataset(config.dataset, config.data_dir);
  const auto digest = data_content_sha256(data);
  const auto expected = record.data.at("content_sha256").get<std::string>();
  if (digest != expected) {
    const std::string message = "data set " + data.name + " from " + data.source + " has content digest " + digest +
                                ", but the run recorded " + expected + " (from " +
                                record.data.at("source").get<std::string>() + ")";
    if (!allow_mismatch) throw input_error(message + "; point --data-dir at the recorded data");
    spdlog::warn("{}; continuing as asked", message);
  }
  return data;
}

recorded_run resume_recorded(const snapshot_reader& parent, const std::string& name, const std::string& data_dir,
                             recording_options options) {
  const auto& record = parent.record();
  if (!keeps_weights(record)) {
    throw input_error("--resume " + name + ": the run was recorded with --keep-weights none, so its snapshot keeps "
                      "no state to resume from; train it again (with any other --keep-weights, last by default) to be able "
                      "to resume");
  }
  auto config = config_from_record(record.config);
  require_world_size(record.config, trainer::detect_launch().world_size, "--resume " + name);
  const auto done = static_cast<std::int64_t>(record.epochs.size());
  const auto reached = record.identity.find("target_reached_epoch");
  if (reached != record.identity.end() && reached->get<std::int64_t>() > 0) {
    throw input_error("--resume " + name + ": the run reached its target " + record.config["target"].get<std::string>() +
                      " at epoch " + std::to_string(reached->get<std::int64_t>()) + " and stopped there; nothing to resume");
  }
  if (done >= config.epochs) {
    throw input_error("--resume " + name + ": the run already completed all " + std::to_string(config.epochs) +
                      " epochs; nothing to resume");
  }
  const auto data = load_recorded_data(record, config, data_dir, false);
  const run_origin origin{"resume", record.identity["run_id"].get<std::string>(), done};
  spdlog::info("resuming run {} ({}) after epoch {} of {}", origin.parent_run_id, displayed_status(record), done,
               config.epochs);
  options.keep_weights = weights_policy_of(record);  // the parent's, so the resumed run keeps the same
  options.target = target_from_record(record.config);
  return run_recorded(config, data, origin, &parent, options);
}

void add_tag(nlohmann::ordered_json& tags, const std::string& assignment) {
  static const std::regex key_pattern("[A-Za-z0-9_.+-]{1,128}");
  const auto equals = assignment.find('=');
  const std::string key = assignment.substr(0, equals);
  if (equals == std::string::npos || !std::regex_match(key, key_pattern)) {
    throw input_error("--tag '" + assignment + "': expected key=value with a key of letters, digits and _.+- (at most 128)");
  }
  const std::string value = assignment.substr(equals + 1);
  if (value.size() > 4096) throw input_error("--tag " + key + ": the value is longer than 4096 bytes");
  tags[key] = value;
}

}  // namespace trackbench::tracking
