#include "recorded_run.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <regex>
#include <system_error>

#include "console.h"
#include "launcher.h"
#include "signals.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::cli {

namespace fs = std::filesystem;

namespace {

// A rank other than 0 trains alike and records nothing: rank 0 writes the job's snapshot.
recorded_run run_unrecorded(trainer::trainer& run, const recording_options& options, int first_epoch, int last_epoch) {
  for (int epoch = first_epoch; epoch <= last_epoch; ++epoch) {
    const auto metrics = run.train_epoch(epoch);
    // Every rank sees the same reduced metrics, so all of them stop at the same epoch.
    if (options.target && tracking::target_reached(*options.target, metrics)) break;
  }
  run.group().shutdown();
  return {{}, "completed", 0};
}

}  // namespace

recorded_run run_recorded(const trainer::train_config& config, const trainer::dataset& data,
                          const tracking::run_origin& origin, const tracking::snapshot_reader* parent,
                          const recording_options& options, int last_epoch) {
  install_stop_handlers();  // from here on a signal stops the run cleanly
  const auto start = std::chrono::steady_clock::now();
  trainer::trainer run(config, data);
  // A stop signal also ends a wait for the other ranks (the launcher sends one when a rank fails).
  run.group().set_wait_check([] {
    if (stop_signal() != 0) {
      throw tracking::run_interrupted("stopped by signal " + std::to_string(stop_signal()) +
                                      " while waiting for the other ranks");
    }
  });
  if (run.group().rank() != 0) spdlog::set_level(spdlog::level::warn);  // rank 0 speaks for the job
  const auto inherited = static_cast<int>(origin.resumed_from_epoch);
  std::optional<tracking::saved_state> state;
  std::vector<tracking::inherited_epoch> inherited_epochs;
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
      tracking::inherited_epoch one{parent->parameter_digests(epoch), std::nullopt};
      if (parent->has_weights(epoch)) one.weights = parent->weights(epoch);
      inherited_epochs.push_back(std::move(one));
    }
    run.restore_state(tracking::to_training_state(*inherited_epochs.back().weights, *state));
  }
  run.prepare();  // after the restore: CUDA graphs capture the state training continues from

  auto record = tracking::describe_run(run, data, origin, options.command_line, options.tags, options.keep_weights,
                                       options.target);
  if (run.group().rank() != 0) return run_unrecorded(run, options, inherited + 1, last_epoch > 0 ? last_epoch : config.epochs);
  std::error_code error;
  fs::create_directories(options.out_dir, error);
  if (error || !fs::is_directory(options.out_dir)) {
    throw input_error("--out " + options.out_dir.string() + ": cannot create the folder: " + error.message());
  }
  const auto run_id = record.identity["run_id"].get<std::string>();
  tracking::snapshot_writer writer(options.out_dir / (run_id + ".h5"), std::move(record));
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

  console_observer console(options.quiet);
  tracking::snapshot_recorder recorder(writer, run, &console, [] { return stop_signal() != 0; });
  try {
    const int last = last_epoch > 0 ? last_epoch : config.epochs;
    for (int epoch = inherited + 1; epoch <= last; ++epoch) {
      const auto metrics = run.train_epoch(epoch, &recorder);
      if (options.target && tracking::target_reached(*options.target, metrics)) {
        // Time to the target: this process's set-up and the epochs' own times (inherited ones
        // included), without the time spent recording.
        double seconds = run.warmup_seconds();
        for (const auto& done : writer.record().epochs) seconds += done.epoch_seconds;
        writer.record_target_reached(epoch, seconds);
        spdlog::info("target {} reached at epoch {}, {:.3f} s after training began", tracking::to_string(*options.target),
                     epoch, seconds);
        break;
      }
    }
  } catch (const tracking::run_interrupted& e) {
    // The launcher stops the job when a rank ends: that is the job's failure, not a stop.
    if (const auto ended = run.group().ended_peer(); !ended.empty()) {
      const std::string reason = ended + " during the run (" + e.what() + ")";
      writer.finish("failed", reason);
      throw training_error(reason);
    }
    writer.finish("interrupted", e.what());
    spdlog::warn("{}: {} keeps {}; continue with: trackbench train --resume {}", e.what(), writer.path().string(),
                 tracking::count_of(static_cast<std::int64_t>(writer.record().epochs.size()), "completed epoch"),
                 writer.path().string());
    return {writer.path(), "interrupted", 128 + stop_signal()};
  } catch (const tracking::snapshot_write_error&) {
    throw;  // the file cannot take a final status either; it keeps its completed epochs
  } catch (const std::exception& e) {
    try {
      writer.finish("failed", e.what());
    } catch (const tracking::snapshot_write_error& write_error) {
      spdlog::error("{}", write_error.what());
    }
    throw;
  }
  if (options.target && writer.record().identity["target_reached_epoch"].get<std::int64_t>() == 0) {
    spdlog::warn("target {} not reached in {} epochs", tracking::to_string(*options.target), writer.record().epochs.size());
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
  print_summary(run, data.name, writer.record().epochs, seconds, tracking::describe_target(writer.record()));
  fmt::print("  {:<22} {}\n", "snapshot", writer.path().string());
  return {writer.path(), "completed", 0};
}

trainer::dataset load_recorded_data(const tracking::run_record& record, trainer::train_config& config,
                                    const std::string& data_dir, bool allow_mismatch) {
  if (!data_dir.empty()) config.data_dir = data_dir;
  auto data = trainer::load_dataset(config.dataset, config.data_dir);
  const auto digest = tracking::data_content_sha256(data);
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

}  // namespace trackbench::cli
