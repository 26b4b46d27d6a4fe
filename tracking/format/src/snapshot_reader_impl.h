#pragma once
// What an open snapshot_reader holds: the validated file, its record and the layout of its arrays.
// Shared by the reader and the rewrites of a snapshot (pack, mark failed).
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "hdf5_io.h"
#include "trackbench/tracking/format/snapshot_reader.h"

namespace trackbench::tracking {

// A stored array as validated, before its bytes are read.
struct array_layout {
  std::string name;
  element_type type;
  std::vector<std::int64_t> shape;
};

struct snapshot_reader::impl {
  std::string name;
  hdf5::id file;
  run_record record;
  std::int64_t version = 0;
  weights_policy policy;
  std::vector<array_layout> weight_layout;  // the same in every epoch
  std::vector<array_layout> optimizer_layout;
  std::optional<array_layout> cpu_generator, cuda_generator;
  bool has_state = false;
  std::set<int> inline_epochs;                          // under /weights
  std::vector<std::vector<parameter_digest>> digests;  // per epoch; empty where none was recorded
  std::vector<std::string> sidecar_sha256;              // per epoch; empty without a sidecar

  void validate_and_read();
  void read_digests();
  void read_weights_layout(hid_t weights);
  void read_state_layout(hid_t state);
  std::vector<array_record> read_sidecar(int epoch) const;
};

}  // namespace trackbench::tracking
