// The corpus of damaged snapshots (issue 15): a seeded generator makes several hundred copies of
// good run and bench snapshots with flipped bits, zeroed 4 KiB blocks, truncations, overwritten
// bytes, appended bytes and out-of-range values, and every copy must either read exactly as the
// good file or be refused with a snapshot_error (exit 2 in the command line) within the read
// limit: no crash, no hang, no silent change. Copies of an unchecksummed file in the HDF5 format
// of schema v2 files (where the crash and the hang of the issue were found) must not crash or
// hang either; a changed value there is counted, since such files cannot tell. All of it runs in this one process (each file is
// parsed in its own guarded child, as the commands do), so the corpus does not pay LibTorch's
// start-up per file.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <random>

#include "support/process.h"
#include "support/sample_records.h"
#include "support/schema_v1.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/tracking/format/snapshot_writer.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using bytes = std::vector<std::uint8_t>;

constexpr std::uint64_t corpus_seed = 20261130;
// Far below the commands' default, to keep the corpus quick: a good file parses in milliseconds
// (on a loaded machine a slow parse may be stopped too, which still counts as refused).
const read_limits corpus_limits{2.0, std::uint64_t{512} << 20};

bytes read_file(const fs::path& path) { return read_snapshot_bytes(path); }

void write_file(const fs::path& path, const bytes& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(content.data()), static_cast<std::streamsize>(content.size()));
  ASSERT_TRUE(out.flush()) << path;
}

// Everything a reader of the file sees: the record as JSON, and each weight and state array's
// digest over the bytes read.
std::string seen(const loaded_snapshot& snapshot) {
  if (snapshot.bench) return to_json(*snapshot.bench).dump(-1, ' ', false, json::error_handler_t::replace);
  const auto& reader = *snapshot.run;
  json document = to_json(reader.record());
  for (const int epoch : reader.weight_epochs()) {
    for (const auto& array : reader.weights(epoch)) document["weights"][std::to_string(epoch)][array.name] = array.sha256();
  }
  if (const auto state = reader.state()) {
    for (const auto& array : state->optimizer) document["state"][array.name] = array.sha256();
    document["state"]["cpu"] = state->cpu_generator.sha256();
    document["state"]["epochs_done"] = state->epochs_done;
    document["state"]["next_shuffle_seed"] = state->next_shuffle_seed;
  }
  return document.dump(-1, ' ', false, json::error_handler_t::replace);
}

struct damaged {
  std::string name;
  std::string base;  // the good file it was made from
  bytes content;
  std::string refusal_must_name;  // for out-of-range edits: the field the error names
  std::optional<bytes> sidecar;   // the content of epoch 1's sidecar beside it, when it has one
};

// Byte-level damage to `good`, drawn from `random`: the kinds a disk, a network or a hand
// editor do. The fixed offsets are where the crash and hang were found in the old
// format; the random ones make the corpus broad.
std::vector<damaged> damage(const std::string& base, const bytes& good, std::mt19937_64& random, int scale) {
  std::vector<damaged> out;
  const auto offset = [&](std::size_t span = 1) {
    return std::uniform_int_distribution<std::size_t>(0, good.size() - std::min(span, good.size()))(random);
  };
  const auto add = [&](const std::string& kind, std::size_t at, bytes content) {
    out.push_back({base + "-" + kind + "-" + std::to_string(at), base, std::move(content), ""});
  };
  std::uniform_int_distribution<int> byte_value(0, 255);
  for (int i = 0; i < 12 * scale; ++i) {
    auto copy = good;
    const auto at = offset();
    copy[at] ^= static_cast<std::uint8_t>(1u << std::uniform_int_distribution<int>(0, 7)(random));
    add("flip", at, std::move(copy));
  }
  std::vector<std::size_t> zeroed{2434, 2687};
  for (int i = 0; i < 5 * scale; ++i) zeroed.push_back(offset(4096));
  for (const auto at : zeroed) {
    if (at >= good.size()) continue;
    auto copy = good;
    std::fill(copy.begin() + static_cast<std::ptrdiff_t>(at),
              copy.begin() + static_cast<std::ptrdiff_t>(std::min(good.size(), at + 4096)), 0);
    add("zeroed", at, std::move(copy));
  }
  for (int i = 0; i < 4 * scale; ++i) {
    const auto size = offset();
    add("truncated", size, bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(size)));
  }
  std::vector<std::size_t> overwritten{8481};
  for (int i = 0; i < 5 * scale; ++i) overwritten.push_back(offset(16));
  for (const auto at : overwritten) {
    if (at + 16 > good.size()) continue;
    auto copy = good;
    for (std::size_t b = 0; b < 16; ++b) copy[at + b] = static_cast<std::uint8_t>(byte_value(random));
    add("overwritten", at, std::move(copy));
  }
  for (int i = 0; i < 2 * scale; ++i) {
    auto copy = good;
    const auto extra = std::uniform_int_distribution<std::size_t>(1, 4096)(random);
    for (std::size_t b = 0; b < extra; ++b) copy.push_back(static_cast<std::uint8_t>(byte_value(random)));
    add("appended", extra, std::move(copy));
  }
  return out;
}

// ---- out-of-range edits, made with HDF5 on a copy of a good file ---------------------------

template <typename T>
void edit_dataset(hid_t file, const char* path, hid_t type, const std::function<void(std::vector<T>&)>& change) {
  const hid_t set = H5Dopen2(file, path, H5P_DEFAULT);
  ASSERT_GE(set, 0) << path;
  const hid_t space = H5Dget_space(set);
  std::vector<T> values(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)));
  ASSERT_GE(H5Dread(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  change(values);
  ASSERT_GE(H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Sclose(space);
  H5Dclose(set);
}

void set_metric(hid_t file, const char* column, double value) {
  edit_dataset<double>(file, (std::string("metrics/") + column).c_str(), H5T_NATIVE_DOUBLE,
                       [&](std::vector<double>& values) { values.back() = value; });
}

// Through the object: HDF5 1.10 fails to write an attribute in dense storage opened by name.
template <typename T>
void set_attribute(hid_t file, const char* object, const char* name, hid_t type, T value) {
  const hid_t owner = H5Oopen(file, object, H5P_DEFAULT);
  const hid_t attribute = H5Aopen(owner, name, H5P_DEFAULT);
  EXPECT_GE(attribute, 0) << object << " " << name;
  EXPECT_GE(H5Awrite(attribute, type, &value), 0) << object << " " << name;
  H5Aclose(attribute);
  H5Oclose(owner);
}

void set_text(hid_t file, const char* object, const char* name, const char* value) {
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  set_attribute(file, object, name, type, value);
  H5Tclose(type);
}

struct value_edit {
  std::string name;
  std::string names_field;  // what the refusal must name
  std::function<void(hid_t)> change;
};

std::vector<value_edit> value_edits() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  return {
      {"test_accuracy-5", "test_accuracy", [](hid_t f) { set_metric(f, "test_accuracy", 5.0); }},
      {"test_accuracy-minus-1", "test_accuracy", [](hid_t f) { set_metric(f, "test_accuracy", -1.0); }},
      {"test_accuracy-nan", "test_accuracy", [=](hid_t f) { set_metric(f, "test_accuracy", nan); }},
      {"test_f1-1.5", "test_f1", [](hid_t f) { set_metric(f, "test_f1", 1.5); }},
      {"validation_precision-2", "validation_precision", [](hid_t f) { set_metric(f, "validation_precision", 2.0); }},
      {"test_loss-inf", "test_loss", [=](hid_t f) { set_metric(f, "test_loss", inf); }},
      {"train_loss-negative", "train_loss", [](hid_t f) { set_metric(f, "train_loss", -0.5); }},
      {"epoch_seconds-negative", "epoch_seconds", [](hid_t f) { set_metric(f, "epoch_seconds", -3.0); }},
      {"images_per_second-nan", "images_per_second", [=](hid_t f) { set_metric(f, "images_per_second", nan); }},
      {"confusion-row", "test_confusion",
       [](hid_t f) {
         edit_dataset<std::int64_t>(f, "metrics/test_confusion", H5T_NATIVE_INT64,
                                    [](std::vector<std::int64_t>& v) { v[3 * 10 + 3] += 1; });
       }},
      {"class-counts", "test_class_counts",
       [](hid_t f) {
         edit_dataset<std::int64_t>(f, "data/test_class_counts", H5T_NATIVE_INT64,
                                    [](std::vector<std::int64_t>& v) { v[2] += 1; });
       }},
      {"epochs-not-consecutive", "metrics/epoch",
       [](hid_t f) {
         edit_dataset<std::int64_t>(f, "metrics/epoch", H5T_NATIVE_INT64, [](std::vector<std::int64_t>& v) { v.back() = 3; });
       }},
      {"config-epochs", "'epochs'",
       [](hid_t f) { set_attribute<std::int64_t>(f, "config", "epochs", H5T_NATIVE_INT64, 4177526785); }},
      {"config-learning_rate", "'learning_rate'",
       [](hid_t f) { set_attribute(f, "config", "learning_rate", H5T_NATIVE_DOUBLE, -0.1); }},
      {"config-optimizer", "'optimizer'", [](hid_t f) { set_text(f, "config", "optimizer", "rmsprop"); }},
      {"config-validation_fraction", "'validation_fraction'",
       [](hid_t f) { set_attribute(f, "config", "validation_fraction", H5T_NATIVE_DOUBLE, 1.0); }},
      {"status", "'status'", [](hid_t f) { set_text(f, "/", "status", "exploded"); }},
      {"profile-ink_histogram", "data/profiles/test/ink_histogram",
       [](hid_t f) {
         edit_dataset<std::int64_t>(f, "data/profiles/test/ink_histogram", H5T_NATIVE_INT64,
                                    [](std::vector<std::int64_t>& v) { v[7] += 1; });
       }},
      {"profile-mean_image", "data/profiles/train/mean_image",
       [](hid_t f) {
         edit_dataset<double>(f, "data/profiles/train/mean_image", H5T_NATIVE_DOUBLE,
                              [](std::vector<double>& v) { v[0] = 1.5; });
       }},
      {"profile-images", "data/profiles/validation 'images'",
       [](hid_t f) { set_attribute<std::int64_t>(f, "data/profiles/validation", "images", H5T_NATIVE_INT64, 99); }},
      {"profile-class_counts", "data/profiles/test/class_counts",
       [](hid_t f) {
         edit_dataset<std::int64_t>(f, "data/profiles/test/class_counts", H5T_NATIVE_INT64,
                                    [](std::vector<std::int64_t>& v) { v[0] = -1; });
       }},
  };
}

class CorpusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    using testing::make_metrics;
    using testing::make_parameters;
    using testing::make_state;
    using testing::sample_run_record;
    {
      // keep_weights all: epoch 1's weights go to good-sidecars.h5.epochs/epoch_0001.h5.
      snapshot_writer writer(dir_ / "good-sidecars.h5", sample_run_record());
      for (int epoch = 1; epoch <= 2; ++epoch) {
        const auto parameters = make_parameters(epoch);
        writer.append_epoch(make_metrics(epoch), parameters, make_state(epoch, parameters));
      }
      writer.finish("completed", "");
    }
    pack_snapshot(snapshot_reader(dir_ / "good-sidecars.h5"), dir_ / "good-weights.h5");
    {
      auto record = sample_run_record();
      record.config["keep_weights"] = "none";
      snapshot_writer writer(dir_ / "good-no-weights.h5", record);
      for (int epoch = 1; epoch <= 2; ++epoch) writer.append_epoch(make_metrics(epoch), make_parameters(epoch), std::nullopt);
      writer.finish("completed", "");
    }
    write_bench_snapshot(dir_ / "good-bench.h5", testing::sample_bench_record({1e-3, 1.1e-3, 0.9e-3, 1.05e-3}));
    testing::copy_in_old_file_format(dir_ / "good-weights.h5", dir_ / "unchecksummed-v2.h5");
    testing::downgrade_to_schema(dir_ / "unchecksummed-v2.h5", 2);
  }

  testing::temp_dir dir_;
};

TEST_F(CorpusTest, EveryDamagedFileReadsAsTheGoodOneOrIsRefused) {
  std::mt19937_64 random(corpus_seed);
  std::vector<damaged> corpus;
  std::map<std::string, std::string> good_view;  // base name -> what a reader sees
  for (const auto& [base, scale] : std::vector<std::pair<std::string, int>>{
           {"good-weights", 4}, {"good-no-weights", 4}, {"good-bench", 2}, {"unchecksummed-v2", 3}}) {
    const auto good = read_file(dir_ / (base + ".h5"));
    good_view[base] = seen(load_snapshot(dir_ / (base + ".h5"), read_depth::arrays));
    for (auto& file : damage(base, good, random, scale)) corpus.push_back(std::move(file));
  }
  // Damaged sidecars beside an intact snapshot: each must be refused by its digest, named.
  const auto good_sidecar = read_file(sidecar_path(dir_ / "good-sidecars.h5", 1));
  const auto sidecars_main = read_file(dir_ / "good-sidecars.h5");
  good_view["good-sidecars"] = seen(load_snapshot(dir_ / "good-sidecars.h5", read_depth::arrays));
  for (auto& file : damage("good-sidecars-epoch1", good_sidecar, random, 1)) {
    corpus.push_back({file.name, "good-sidecars", sidecars_main, "epoch_0001.h5", std::move(file.content)});
  }
  corpus.push_back({"good-sidecars-epoch1-missing", "good-sidecars", sidecars_main, "epoch_0001.h5, which is missing", std::nullopt});
  for (const auto& edit : value_edits()) {
    const fs::path path = dir_ / ("edit-" + edit.name + ".h5");
    fs::copy_file(dir_ / "good-no-weights.h5", path);
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    edit.change(file);
    ASSERT_GE(H5Fclose(file), 0);
    corpus.push_back({"good-no-weights-edit-" + edit.name, "good-no-weights", read_file(path), edit.names_field});
    fs::remove(path);
  }
  ASSERT_GE(corpus.size(), 300u);

  const fs::path folder = dir_ / "corpus";
  fs::create_directory(folder);
  std::map<std::string, int> outcomes;
  fs::path hanging;  // the first file whose read had to be stopped
  double slowest = 0.0;
  for (const auto& file : corpus) {
    SCOPED_TRACE(file.name);
    const fs::path path = folder / (file.name + ".h5");
    write_file(path, file.content);
    if (file.sidecar) {
      fs::create_directories(sidecar_path(path, 1).parent_path());
      write_file(sidecar_path(path, 1), *file.sidecar);
    }
    const auto start = std::chrono::steady_clock::now();
    try {
      const auto loaded = load_snapshot(path, read_depth::arrays, corpus_limits);
      const bool same = seen(loaded) == good_view.at(file.base);
      const bool checksummed = file.base != "unchecksummed-v2";
      EXPECT_TRUE(same || !checksummed) << "read, but not as the good file: a silent change";
      EXPECT_TRUE(file.refusal_must_name.empty()) << "an out-of-range value was accepted";
      ++outcomes[file.base + ": " + (same ? "read as the good file" : checksummed ? "SILENTLY CHANGED" : "changed (unchecksummed)")];
    } catch (const snapshot_error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind(path.string(), 0), 0u) << "the error does not start with the file: " << message;
      if (!file.refusal_must_name.empty()) EXPECT_NE(message.find(file.refusal_must_name), std::string::npos) << message;
      const bool limit = message.find("took longer than") != std::string::npos;
      if (limit && hanging.empty()) hanging = path;
      const bool crash = message.find("crashed HDF5") != std::string::npos;
      ++outcomes[file.base + ": " + (limit ? "refused: time limit" : crash ? "refused: HDF5 crashed in the child" : "refused")];
    }
    slowest = std::max(slowest, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::cout << corpus.size() << " damaged files, slowest " << slowest << " s:\n";
  for (const auto& [outcome, count] : outcomes) std::cout << "  " << count << " " << outcome << "\n";

  // The whole corpus again, in one batch of record reads (ls, compare, report, history): each
  // file's record as the good file's or an error naming that file, none lost or mixed up.
  std::vector<fs::path> paths;
  for (const auto& file : corpus) paths.push_back(folder / (file.name + ".h5"));
  const auto records = read_snapshot_records(paths, corpus_limits);
  ASSERT_EQ(records.size(), corpus.size());
  std::map<std::string, int> batch_outcomes;
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const auto& file = corpus[i];
    SCOPED_TRACE(file.name);
    const auto& read = records[i];
    EXPECT_EQ(read.path, paths[i].string());
    if (read.error.empty()) {
      // As text, as seen() compares (a NaN is never equal to itself as JSON).
      const auto text = [](const json& document) { return document.dump(-1, ' ', false, json::error_handler_t::replace); };
      const auto good = load_snapshot(dir_ / (file.base + ".h5"));
      const bool same = read.bench ? good.bench && text(to_json(*read.bench)) == text(to_json(*good.bench))
                                   : good.run && text(to_json(*read.run)) == text(to_json(good.run->record()));
      EXPECT_TRUE(same || file.base == "unchecksummed-v2") << "a record read, but not as the good file's: a silent change";
      // Sidecars hold weights only: the record of a file whose sidecar is damaged is intact.
      EXPECT_TRUE(file.refusal_must_name.empty() || file.base == "good-sidecars") << "an out-of-range value was accepted";
      ++batch_outcomes[file.base + (same ? ": record read as the good file's" : ": changed (unchecksummed)")];
    } else {
      EXPECT_EQ(read.error.rfind(paths[i].string() + ": ", 0), 0u) << "the error does not start with the file: " << read.error;
      if (!file.refusal_must_name.empty() && file.base != "good-sidecars") {
        EXPECT_NE(read.error.find(file.refusal_must_name), std::string::npos) << read.error;
      }
      ++batch_outcomes[file.base + ": refused"];
    }
  }
  std::cout << "the same files in one batch of record reads:\n";
  for (const auto& [outcome, count] : batch_outcomes) std::cout << "  " << count << " " << outcome << "\n";

  // A file HDF5 loops on ends `show` within its limit, exit 2, even under `timeout 20`.
  if (hanging.empty()) return;
  const auto shown = testing::run_command("timeout 20 '" + std::string(TRACKBENCH_EXECUTABLE) + "' show '" +
                                          hanging.string() + "'");
  EXPECT_EQ(shown.exit_code, 2) << shown.output;
  EXPECT_NE(shown.output.find(hanging.string() + ": reading it took longer than"), std::string::npos) << shown.output;

  // A read command ends on the first SIGTERM, its reader child with it: only training stops
  // gracefully. Sent 3 s in, while the child spins (or, on a slow machine, while LibTorch loads).
  // ([w] keeps pgrep from matching the shell that runs it.)
  const auto stopped = testing::run_command("timeout --preserve-status -s TERM 3 '" +
                                            std::string(TRACKBENCH_EXECUTABLE) + "' show '" + hanging.string() +
                                            "'; echo \"status $?\"; sleep 0.5; pgrep -f 'sho[w] " + hanging.string() + "' || true");
  EXPECT_NE(stopped.output.find("status 143"), std::string::npos) << stopped.output;
  EXPECT_EQ(stopped.output.find("\n", stopped.output.find("status 143")), stopped.output.size() - 1)
      << "a reader child outlived the command:\n" << stopped.output;
}

// The commands take the same path: one `ls` over a folder with good and damaged files lists
// every file, marks the damaged ones and exits 2; compare refuses an out-of-range edit (so a
// --fail-on gate fails) naming the field and the value.
TEST_F(CorpusTest, CommandsMarkDamagedFilesAndFailTheGate) {
  const fs::path folder = dir_ / "mixed";
  fs::create_directory(folder);
  fs::copy_file(dir_ / "good-no-weights.h5", folder / "a-good.h5");
  fs::copy_file(dir_ / "good-bench.h5", folder / "b-bench.h5");
  auto truncated = read_file(dir_ / "good-weights.h5");
  truncated.resize(truncated.size() / 2);
  write_file(folder / "c-truncated.h5", truncated);
  fs::copy_file(dir_ / "good-no-weights.h5", folder / "d-accuracy.h5");
  const hid_t file = H5Fopen((folder / "d-accuracy.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  set_metric(file, "test_accuracy", 5.0);
  ASSERT_GE(H5Fclose(file), 0);

  const auto listed = testing::run_trackbench("ls '" + folder.string() + "'");
  EXPECT_EQ(listed.exit_code, 2) << listed.output;
  EXPECT_NE(listed.output.find("20261127T023755.120Z-0badf00d"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("bench"), std::string::npos) << listed.output;
  for (const char* bad : {"c-truncated.h5", "d-accuracy.h5"}) {
    EXPECT_NE(listed.output.find(std::string(bad) + " "), std::string::npos) << listed.output;
  }
  EXPECT_NE(listed.output.find("UNREADABLE"), std::string::npos) << listed.output;

  const auto compared = testing::run_trackbench("compare '" + (folder / "a-good.h5").string() + "' '" +
                                                (folder / "d-accuracy.h5").string() + "' --fail-on test_acc:-0.5");
  EXPECT_EQ(compared.exit_code, 2) << compared.output;
  EXPECT_NE(compared.output.find("metrics/test_accuracy row 1 (epoch 2) is 5; expected finite, 0 to 1"), std::string::npos)
      << compared.output;
}

}  // namespace
}  // namespace trackbench::tracking
