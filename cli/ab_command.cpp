// ab: two builds of a Google Benchmark suite run interleaved until every benchmark is decided
// (tracking/recording/ab_run.h), in time or in instructions counted under callgrind, printed as a
// table, JSON, JUnit XML and Markdown. Exits 1 when a benchmark is slower, 3 with
// --fail-on-uncertain when one is uncertain.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <random>

#include "change_output.h"
#include "ci_output.h"
#include "commands.h"
#include "console.h"
#include "exit_codes.h"
#include "instruction_output.h"
#include "trackbench/tracking/recording/ab_run.h"

namespace trackbench::cli {
namespace {

using json = nlohmann::ordered_json;

struct ab_flags {
  std::string base;
  std::string next;
  std::string benchmark;
  std::optional<double> threshold_percent;
  std::string order = "abba";
  std::optional<std::uint64_t> seed;
  int repetitions = 3;
  int min_rounds = 2;
  double max_seconds = 600;
  std::string suites_dir;
  bool fail_on_uncertain = false;
  bool as_json = false;
  std::string junit;
  std::string markdown;
  std::string measure = "time";
};

bool is_slower(const tracking::bench_change& c) { return c.verdict == tracking::bench_verdict::slower; }
bool counts_slower(const tracking::instruction_change& c) { return c.verdict == tracking::instruction_verdict::slower; }

int ab(const ab_flags& flags) {
  tracking::ab_options options;
  options.base = flags.base;
  options.next = flags.next;
  options.suites_dir = flags.suites_dir;
  options.build_bench_dir = TRACKBENCH_BENCH_DIR;
  options.filter = flags.benchmark;
  if (flags.threshold_percent) options.threshold = *flags.threshold_percent / 100;
  options.order = flags.order == "random" ? tracking::ab_order::random : tracking::ab_order::abba;
  // A random order without --seed draws one, and prints it, so the run can be repeated.
  options.seed = flags.seed ? *flags.seed : std::random_device{}();
  options.repetitions = flags.repetitions;
  options.min_rounds = flags.min_rounds;
  options.max_seconds = flags.max_seconds;
  options.measure = flags.measure;
  const auto outcome = tracking::run_ab(options);
  const auto& counted = outcome.instructions;

  const bool slower = std::any_of(outcome.changes.begin(), outcome.changes.end(), is_slower) ||
                      std::any_of(counted.begin(), counted.end(), counts_slower);
  const bool uncertain = std::any_of(outcome.changes.begin(), outcome.changes.end(), [](const tracking::bench_change& c) {
                           return c.verdict == tracking::bench_verdict::uncertain;
                         }) ||
                         std::any_of(counted.begin(), counted.end(), [](const tracking::instruction_change& c) {
                           return c.verdict == tracking::instruction_verdict::uncertain;
                         });
  const int exit_code = slower ? exit_failure : flags.fail_on_uncertain && uncertain ? exit_inconclusive : exit_pass;
  const std::string order = options.order == tracking::ab_order::abba ? "abba" : fmt::format("random, seed {}", options.seed);
  std::string sequence;
  for (const auto& round : outcome.rounds) sequence += (sequence.empty() ? "" : " ") + round;

  if (flags.as_json) {
    json out{{"base", flags.base},
             {"new", flags.next},
             {"order", flags.order},
             {"seed", options.order == tracking::ab_order::random ? json(options.seed) : json(nullptr)},
             {"rounds", outcome.rounds},
             {"repetitions_per_round", flags.repetitions},
             {"seconds", outcome.seconds},
             {"max_seconds", flags.max_seconds},
             {"budget_spent", outcome.budget_spent},
             {"threshold", options.threshold ? json(*options.threshold) : json(nullptr)},
             {"confidence", tracking::decision_confidence},
             {"benchmarks", json::array()},
             {"passed", exit_code == exit_pass},
             {"exit_code", exit_code}};
    for (const auto& c : outcome.changes) out["benchmarks"].push_back(change_json(c));
    out["measure"] = flags.measure;
    if (!outcome.counting_rounds.empty()) {
      json section{{"threshold", tracking::default_instruction_threshold},
                   {"rounds", outcome.counting_rounds},
                   {"instruction_tool", outcome.instruction_tool},
                   {"instruction_isa_limit", outcome.instruction_isa_limit},
                   {"instruction_settings", outcome.instruction_settings},
                   {"benchmarks", json::array()}};
      for (const auto& c : counted) section["benchmarks"].push_back(instruction_change_json(c));
      out["instructions"] = section;
    }
    fmt::print("{}\n", out.dump(2, ' ', false, json::error_handler_t::replace));
  } else {
    fmt::print("ab: NEW {} against BASE {}\n", printable(flags.next), printable(flags.base));
    if (!outcome.rounds.empty()) {
      fmt::print("time (changes are NEW against BASE: the Hodges-Lehmann shift with its 95% interval; times are "
                 "medians per iteration)\n");
      fmt::print("order {}: {} ({} rounds of {} repetitions a side{})\n", order, sequence, outcome.rounds.size(),
                 flags.repetitions, outcome.budget_spent ? ", budget spent" : "");
      print_change_table(outcome.changes);
    }
    if (!outcome.counting_rounds.empty()) {
      std::string counting;
      for (const auto& round : outcome.counting_rounds) counting += (counting.empty() ? "" : " ") + round;
      fmt::print("instructions per iteration (callgrind, {}; each side's median of {} counts; a change beyond {:.1f}% "
                 "is one)\n",
                 printable(outcome.instruction_tool), outcome.counting_rounds.size(),
                 100.0 * tracking::default_instruction_threshold);
      fmt::print("order {}: {}\n", order, counting);
      if (counted.empty()) {
        fmt::print("  no benchmark was counted on both sides\n");
      } else {
        print_instruction_table(counted);
      }
    }
    fmt::print("{:.1f} s in all\n", outcome.seconds);
  }
  if (!flags.markdown.empty()) {
    write_text(flags.markdown, "--markdown",
               (outcome.rounds.empty() ? std::string() : change_markdown(outcome.changes, is_slower)) +
                   instruction_markdown(counted, counts_slower));
  }
  if (!flags.junit.empty()) {
    auto cases = change_junit_cases("ab", outcome.changes, is_slower);
    const auto counted_cases =
        instruction_junit_cases("ab.instructions", counted, tracking::default_instruction_threshold, counts_slower);
    cases.insert(cases.end(), counted_cases.begin(), counted_cases.end());
    write_junit(flags.junit, "--junit", "trackbench ab", cases);
  }
  for (const auto& c : outcome.changes) {
    if (is_slower(c)) spdlog::error("{} is slower: {}", printable(c.name), printable(change_text(c)));
  }
  for (const auto& c : counted) {
    if (counts_slower(c)) {
      spdlog::error("{} is slower in instructions: {}", printable(c.name),
                    printable(instruction_change_text(c, tracking::default_instruction_threshold)));
    }
  }
  if (exit_code == exit_inconclusive) spdlog::error("--fail-on-uncertain: some verdicts are uncertain");
  return exit_code;
}

}  // namespace

command add_ab_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "ab",
      "Run two builds of a Google Benchmark suite interleaved on this machine (ABBA or a seeded random order, a few "
      "repetitions a side each round) until every benchmark is faster, slower or the same by the 95% interval of "
      "its shift against the threshold, or --max-seconds runs out; with --measure instructions, by the instructions per "
      "iteration callgrind counts. Exit codes: 0 pass, 1 a benchmark is slower, 2 "
      "bad input, 3 --fail-on-uncertain and a verdict uncertain");
  auto flags = std::make_shared<ab_flags>();
  sub->add_option("--base", flags->base, "The base build: a suite name (as bench's --suite) or a Google Benchmark executable")
      ->required();
  sub->add_option("--new", flags->next, "The new build, the same way")->required();
  sub->add_option("--benchmark", flags->benchmark,
                  "Only benchmarks matching this regular expression (Google Benchmark's --benchmark_filter; default: all)");
  sub->add_option_function<double>(
         "--threshold", [flags](const double& percent) { flags->threshold_percent = percent; },
         "The change, in percent, that the 95% interval of the shift must lie wholly beyond for faster or slower and "
         "wholly within for same (default: the samples' relative spread, at least 1%)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--order", flags->order, "abba (base, new; new, base; ...) or random (a coin per round)")
      ->capture_default_str()
      ->check(CLI::IsMember({"abba", "random"}));
  sub->add_option_function<std::uint64_t>(
      "--seed", [flags](const std::uint64_t& seed) { flags->seed = seed; },
      "Seed of --order random (default: drawn, and printed)");
  sub->add_option("--repetitions", flags->repetitions, "Repetitions of each side per round")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  sub->add_option("--min-rounds", flags->min_rounds, "Rounds before a decision may end the job")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  sub->add_option("--max-seconds", flags->max_seconds,
                  "Time budget: no round starts that would end after it; benchmarks still undecided are uncertain")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1e7));
  sub->add_option("--measure", flags->measure,
                  "time (interleaved timed rounds), instructions (each side counted under valgrind --tool=callgrind "
                  "once in each of --min-rounds rounds, the median count judged at a 0.5% threshold) or "
                  "time,instructions")
      ->capture_default_str();
  sub->add_option("--suites-dir", flags->suites_dir, "Folder in which suite names are found (default: as bench)");
  sub->add_flag("--fail-on-uncertain", flags->fail_on_uncertain,
                "Exit 3 when some verdict is uncertain and none is slower (default: off)");
  sub->add_flag("--json", flags->as_json, "Print the verdicts as JSON (default: off)");
  sub->add_option("--junit", flags->junit, "Also write JUnit XML to this file: a testcase per benchmark, failed when slower");
  sub->add_option("--markdown", flags->markdown, "Also write a Markdown table to this file, e.g. $GITHUB_STEP_SUMMARY");
  return {sub, [flags] { return ab(*flags); }};
}

}  // namespace trackbench::cli
