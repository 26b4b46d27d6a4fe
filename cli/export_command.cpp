// export mlflow: run snapshots into an MLflow tracking server.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "commands.h"
#include "console.h"
#include "trackbench/interop/mlflow.h"
#include "trackbench/interop/mlflow_registry.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/snapshot_reader.h"

namespace trackbench::cli {
namespace {

struct export_flags {
  std::vector<std::string> snapshots;
  interop::mlflow_options options;
  bool register_given = false;  // --register-model, even with an empty name (refused as such)
  std::string register_model;
  std::string alias;
};

// The snapshot packed into a temporary folder, removed with it.
struct packed_copy {
  std::filesystem::path folder, path;
  explicit packed_copy(const std::string& snapshot) {
    std::string pattern = (std::filesystem::temp_directory_path() / "trackbench-pack-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot make a temporary folder to pack " + snapshot);
    folder = pattern;
    path = folder / std::filesystem::path(snapshot).filename();
    try {
      tracking::pack_snapshot(tracking::load_run_snapshot(snapshot, "export mlflow", tracking::read_depth::arrays), path);
    } catch (...) {
      std::error_code ignored;
      std::filesystem::remove_all(folder, ignored);
      throw;
    }
  }
  ~packed_copy() {
    std::error_code ignored;
    std::filesystem::remove_all(folder, ignored);
  }
  packed_copy(const packed_copy&) = delete;
  packed_copy& operator=(const packed_copy&) = delete;
};

int export_mlflow(const export_flags& flags) {
  interop::mlflow_exporter exporter(flags.options);
  std::optional<interop::mlflow_registry> registry;
  if (flags.register_given) {
    if (!flags.alias.empty() && flags.snapshots.size() > 1) {
      throw input_error(fmt::format("--alias names one version, but {} snapshots were given: register them without it, "
                                    "then give --alias with the one snapshot it is for",
                                    flags.snapshots.size()));
    }
    registry.emplace(flags.options, flags.register_model, flags.alias);
  }
  // Every snapshot is read and validated first, so a bad file stops the export before any request.
  std::vector<tracking::snapshot_reader> readers;
  std::vector<std::map<std::string, std::string>> version_tags;
  for (const auto& path : flags.snapshots) {
    readers.push_back(tracking::load_run_snapshot(path, "export mlflow"));
    if (registry) version_tags.push_back(interop::model_version_tags(readers.back(), path));
  }
  for (std::size_t i = 0; i < readers.size(); ++i) {
    const auto& record = readers[i].record();
    // The artifact is one self-contained file: a snapshot with sidecars goes up packed, under its own name.
    std::optional<packed_copy> packed;
    if (readers[i].has_sidecars()) packed.emplace(flags.snapshots[i]);
    bool exported = false;
    try {
      const auto result = exporter.export_run(packed ? packed->path : std::filesystem::path(flags.snapshots[i]), record);
      fmt::print("{} -> {}  {}: {} metric values, {} params, {} tags in {} batches; data set {}; {}\n",
                 printable(record.identity["run_id"].get<std::string>()), printable(result.url),
                 result.created ? "created" : "found (exported before)",
                 result.metric_values, result.params, result.tags, result.batches,
                 result.inputs_logged ? "logged" : "already logged", printable(result.artifact));
      exported = true;
      if (registry) {
        const auto registered = registry->register_run(result, version_tags[i]);
        fmt::print("  registered model '{}'{}: version {} {}", printable(registry->model()),
                   registered.model_created ? " (created)" : "", registered.version.version,
                   registered.version_created ? "created"
                                              : fmt::format("found (registered before; {} tags updated)", registered.tags_set));
        if (!registered.alias.empty()) {
          fmt::print(", alias {} -> version {}{}", registered.alias, registered.version.version,
                     registered.alias_was.empty()                      ? " (new)"
                     : registered.alias_was == registered.version.version ? " (unchanged)"
                                                                          : " (was version " + registered.alias_was + ")");
        }
        fmt::print("\n");
      }
    } catch (const interop::mlflow_error& e) {
      spdlog::error("{}", printable(e.what()));
      // The one that failed may be partly exported or registered; exporting again completes it.
      if (exported) spdlog::error("exported but not registered: {}", printable(flags.snapshots[i]));
      for (std::size_t j = exported ? i + 1 : i; j < readers.size(); ++j) {
        spdlog::error("not exported: {}", printable(flags.snapshots[j]));
      }
      return 1;
    }
  }
  return 0;
}

}  // namespace

command add_export_command(CLI::App& app) {
  auto* sub = app.add_subcommand("export", "Export run snapshots to other tools");
  sub->require_subcommand(1);
  auto* mlflow = sub->add_subcommand(
      "mlflow", "Export runs to an MLflow tracking server: params, per-epoch metrics, tags, data set and the snapshot "
                "file; exporting again adds only what the server lacks");
  auto flags = std::make_shared<export_flags>();
  mlflow->add_option("snapshots", flags->snapshots, "Run snapshots (.h5)")->required();
  mlflow->add_option("--tracking-uri", flags->options.tracking_uri,
                     "MLflow server, http(s)://host:port (default: $MLFLOW_TRACKING_URI)")
      ->envname("MLFLOW_TRACKING_URI")
      ->required();
  mlflow->add_option("--experiment", flags->options.experiment, "Experiment, created when missing")->capture_default_str();
  auto* model = mlflow->add_option("--register-model", flags->register_model,
                                   "Also register each snapshot as a version of this model in MLflow's Model Registry "
                                   "(created when missing; a run registered before keeps its version)");
  mlflow->add_option("--alias", flags->alias,
                     "Point this alias of the model (e.g. champion) at the snapshot's version; naming an older "
                     "run's snapshot moves it back")
      ->needs(model);
  return {mlflow, [flags, model] {
            flags->register_given = model->count() > 0;
            return export_mlflow(*flags);
          }};
}

}  // namespace trackbench::cli
