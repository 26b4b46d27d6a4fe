#include "trackbench/tracking/format/snapshot_writer.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>

#include "snapshot_layout.h"
#include "trackbench/tracking/format/schema.h"
#include "trackbench/trainer/checksum.h"

namespace trackbench::tracking {

namespace fs = std::filesystem;
using namespace snapshot_layout;

// HDF5 builds each file on its core driver (in memory) and never writes to disk itself: it does
// not survive a failing disk write cleanly, and a commit must replace the file whole anyway.
struct snapshot_writer::in_memory_file {
  // What one commit's background thread returns.
  struct written {
    double cpu_seconds = 0.0;                                  // building and writing
    std::vector<std::pair<int, std::string>> sidecar_sha256;  // of the sidecars it wrote, by epoch
  };
  snapshot_io::file_image image;  // reused, so later commits do not reallocate
  std::future<written> writing;     // of the commit in flight, while valid
  std::size_t epochs_on_disk = 0;
  std::size_t epochs_being_written = 0;
  double background_cpu_seconds = 0.0;
};

snapshot_write_error snapshot_writer::failed_write(const std::string& reason) {
  failed_ = true;
  const std::size_t kept = file_ ? file_->epochs_on_disk : 0;
  const std::string held = kept == 0   ? "no epoch"
                           : kept == 1 ? "epoch 1"
                                       : "epochs 1 to " + std::to_string(kept);
  return snapshot_write_error("writing snapshot " + path_.string() + " failed: " + reason + "; " + path_.string() +
                              " keeps its previous content (" + held + ")");
}

void snapshot_writer::refuse_after_failure() const {
  if (failed_) throw snapshot_write_error("writing snapshot " + path_.string() + ": an earlier write of it failed");
}

void snapshot_writer::wait_for_disk() {
  if (!file_ || !file_->writing.valid()) return;
  try {
    const auto done = file_->writing.get();
    file_->background_cpu_seconds += done.cpu_seconds;
    for (const auto& [epoch, sha256] : done.sidecar_sha256) sidecar_sha256_[static_cast<std::size_t>(epoch - 1)] = sha256;
    file_->epochs_on_disk = file_->epochs_being_written;
  } catch (const std::logic_error&) {
    failed_ = true;  // a record this program built wrongly (a value outside its field's rule), not the disk
    throw;
  } catch (const std::exception& e) {
    throw failed_write(e.what());
  }
}

namespace {

double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

bool hdf5_is_threadsafe() {
  hbool_t threadsafe = 0;
  return H5is_library_threadsafe(&threadsafe) >= 0 && threadsafe != 0;
}

// Makes the sidecar folder of `sidecar` (durably, the first time).
void make_sidecar_folder(const fs::path& sidecar) {
  const fs::path folder = sidecar.parent_path();
  std::error_code error;
  if (fs::is_directory(folder, error)) return;
  fs::create_directory(folder);
  snapshot_io::fsync_directory(folder.parent_path().empty() ? fs::path(".") : folder.parent_path());
}

}  // namespace

void snapshot_writer::commit(bool wait_after) {
  const auto start = std::chrono::steady_clock::now();
  refuse_after_failure();
  wait_for_disk();  // the image buffer and the sidecars' digests come back; an earlier failure surfaces here
  if (!file_) file_ = std::make_unique<in_memory_file>();
  staged_ = false;
  file_->epochs_being_written = record_.epochs.size();
  // The background thread gets what it reads, owned or shared, so training may stage more meanwhile.
  auto build_and_write = [this, record = record_, digests = digests_, sidecar_sha256 = sidecar_sha256_,
                          kept_inline = kept_inline_, new_sidecars = std::move(kept_sidecar_), state = state_]() mutable {
    const double cpu_start = thread_cpu_seconds();
    in_memory_file::written done;
    const auto run_id = record.identity.at("run_id").get<std::string>();
    std::vector<std::pair<fs::path, snapshot_io::file_image>> sidecars;
    for (const auto& sidecar : new_sidecars) {
      const int epoch = sidecar.first;  // not a structured binding: C++17 lambdas cannot capture those
      snapshot_io::file_image image;
      build_image(path_.string() + " epoch " + std::to_string(epoch) + " (in memory)", image, [&](hid_t file) {
        build_sidecar(file, run_id, epoch, sidecar.second, digests[static_cast<std::size_t>(epoch - 1)]);
      });
      sidecar_sha256[static_cast<std::size_t>(epoch - 1)] = trainer::sha256_hex(image.data(), image.size());
      done.sidecar_sha256.emplace_back(epoch, sidecar_sha256[static_cast<std::size_t>(epoch - 1)]);
      sidecars.emplace_back(sidecar_path(path_, epoch), std::move(image));
    }
    record.identity["record_sha256"] = record_digest(record, digests, sidecar_sha256, schema_version);
    build_image(path_.string() + " (in memory)", file_->image, [&](hid_t file) {
      build_snapshot(file, record, digests, sidecar_sha256, kept_inline, state.get(), false);
    });
    // Sidecars first: the snapshot that names them is renamed into place only once they are.
    for (const auto& [path, image] : sidecars) {
      make_sidecar_folder(path);
      snapshot_io::write_durably(path, image);
    }
    snapshot_io::write_durably(path_, file_->image);
    done.cpu_seconds = thread_cpu_seconds() - cpu_start;
    return done;
  };
  kept_sidecar_.clear();
  // Without HDF5's own lock another thread's HDF5 call could race the build, so it runs here.
  static const bool in_background = hdf5_is_threadsafe();
  file_->writing = std::async(in_background ? std::launch::async : std::launch::deferred, std::move(build_and_write));
  if (wait_after || !in_background) wait_for_disk();
  seconds_writing_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

snapshot_writer::snapshot_writer(fs::path path, run_record record) : path_(std::move(path)) {
  record.identity["status"] = "running";
  record.identity["error"] = "";
  record.identity["end_time"] = "";
  record.epochs.clear();
  policy_ = weights_policy_of(record);
  if (fs::exists(path_)) throw snapshot_write_error("snapshot " + path_.string() + " already exists");
  record_ = std::move(record);
  commit(true);
}

snapshot_writer::~snapshot_writer() {
  try {
    if (!failed_) write_staged();
    wait_for_disk();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());  // plain stdio: the reader's fuzz build has no spdlog
  }
}

void snapshot_writer::write_staged() {
  if (staged_) commit(false);
}

void snapshot_writer::wait() {
  write_staged();
  refuse_after_failure();
  const auto start = std::chrono::steady_clock::now();
  wait_for_disk();
  seconds_writing_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void snapshot_writer::check() {
  refuse_after_failure();
  if (file_ && file_->writing.valid() &&
      file_->writing.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    wait_for_disk();
  }
  // Training never waits here for a write in flight: what is staged meanwhile goes with the
  // next commit, at a later step (so epochs shorter than a write coalesce) or at the end.
  if (!file_ || !file_->writing.valid()) write_staged();
}

double snapshot_writer::seconds_writing_in_background() const {
  return file_ ? file_->background_cpu_seconds : 0.0;
}

void snapshot_writer::append_epoch(const trainer::epoch_metrics& metrics, std::vector<array_record> parameters,
                                   std::optional<saved_state> state) {
  std::vector<inherited_epoch> one;
  auto digests = digests_of(parameters);
  one.push_back({std::move(digests), std::move(parameters)});
  append_epochs({metrics}, std::move(one), std::move(state));
}

void snapshot_writer::append_epochs(const std::vector<trainer::epoch_metrics>& metrics,
                                    std::vector<inherited_epoch> inherited, std::optional<saved_state> state) {
  using kind = weights_policy::kind;
  if (metrics.size() != inherited.size()) throw std::logic_error("append_epochs: one inherited epoch per metrics row");
  const bool keeping = policy_.keep != kind::none;
  if (keeping && !state) throw std::logic_error("append_epochs: a snapshot that keeps weights needs the state");
  refuse_after_failure();
  auto after = record_;
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    after.epochs.push_back(metrics[i]);
    const int epoch = static_cast<int>(after.epochs.size());
    auto& one = inherited[i];
    auto digests = one.digests.empty() && one.weights ? digests_of(*one.weights) : std::move(one.digests);
    if (digests.empty()) throw std::logic_error("append_epochs: epoch " + std::to_string(epoch) + " has no digests");
    digests_.push_back(std::move(digests));
    sidecar_sha256_.emplace_back();
    if (!keeping || !one.weights) continue;
    if (policy_.keep == kind::all || (policy_.keep == kind::every && epoch % policy_.every == 0)) {
      kept_sidecar_[epoch] = *one.weights;
    }
    kept_inline_[epoch] = std::make_shared<const std::vector<array_record>>(std::move(*one.weights));
  }
  // The snapshot itself holds the last epoch's weights and, with best, the best epoch's.
  const auto kept = kept_epochs(policy_, after.epochs);
  const int last = static_cast<int>(after.epochs.size());
  for (auto it = kept_inline_.begin(); it != kept_inline_.end();) {
    const bool stays = it->first == last || (policy_.keep == kind::best && std::count(kept.begin(), kept.end(), it->first) > 0);
    it = stays ? std::next(it) : kept_inline_.erase(it);
  }
  if (keeping && kept_inline_.count(last) == 0) throw std::logic_error("append_epochs: the last epoch comes without weights");
  if (keeping) state_ = std::make_shared<const saved_state>(std::move(*state));
  record_ = std::move(after);
  staged_ = true;
}

void snapshot_writer::record_target_reached(std::int64_t epoch, double seconds) {
  refuse_after_failure();
  record_.identity["target_reached_epoch"] = epoch;
  record_.identity["time_to_target_seconds"] = seconds;
  staged_ = true;
}

void snapshot_writer::finish(const std::string& status, const std::string& error) {
  refuse_after_failure();
  record_.identity["status"] = status;
  record_.identity["error"] = error;
  record_.identity["end_time"] = utc_timestamp();
  commit(true);
}

}  // namespace trackbench::tracking
