// pack: one self-contained snapshot file, every kept epoch's weights inside it, for sharing.
#include <fmt/format.h>

#include <memory>

#include "commands.h"
#include "console.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"

namespace trackbench::cli {
namespace {

struct pack_flags {
  std::string snapshot;
  std::string out;
};

int pack(const pack_flags& flags) {
  // Every sidecar is read in the guarded child and checked against its digest first.
  const auto reader = tracking::load_run_snapshot(flags.snapshot, "pack", tracking::read_depth::arrays);
  tracking::pack_snapshot(reader, flags.out);
  const auto kept = reader.weight_epochs();
  fmt::print("{} -> {}: {} with {} of weights inside\n", printable(flags.snapshot), printable(flags.out),
             tracking::count_of(static_cast<std::int64_t>(reader.record().epochs.size()), "epoch"),
             tracking::count_of(static_cast<std::int64_t>(kept.size()), "epoch"));
  return 0;
}

}  // namespace

command add_pack_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "pack", "Write a run snapshot as one self-contained .h5 file, the weights of every kept epoch inside it (no "
              "<name>.h5.epochs/ folder beside it): for sharing, and what export mlflow uploads");
  auto flags = std::make_shared<pack_flags>();
  sub->add_option("snapshot", flags->snapshot, "Run snapshot (.h5)")->required();
  sub->add_option("-o,--out", flags->out, "The packed file to write; it must not exist")->required();
  return {sub, [flags] { return pack(*flags); }};
}

}  // namespace trackbench::cli
