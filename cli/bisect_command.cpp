// bisect: the first commit at which a benchmark got slower, by `git bisect run` with the decision
// rule at each commit (tracking/recording/bisect_run.h); and bisect-step, the hidden subcommand
// git runs at each commit. Exits 0 when the first bad commit is found, 2 for bad input (also when
// --bad is not slower than --good), 3 when the verdicts leave it open.
#include <fmt/format.h>

#include <memory>

#include "change_output.h"
#include "ci_output.h"
#include "commands.h"
#include "console.h"
#include "exit_codes.h"
#include "trackbench/tracking/recording/bisect_run.h"

namespace trackbench::cli {
namespace {

using json = nlohmann::ordered_json;

struct bisect_flags {
  tracking::bisect_options options;
  std::optional<double> threshold_percent;
  bool as_json = false;
  std::string junit;
  std::string markdown;
};

bool is_slower(const tracking::bench_change& c) { return c.verdict == tracking::bench_verdict::slower; }

std::string status_text(tracking::bisect_status status) {
  switch (status) {
    case tracking::bisect_status::found: return "found";
    case tracking::bisect_status::not_slower: return "not_slower";
    case tracking::bisect_status::inconclusive: return "inconclusive";
  }
  return "unknown";
}

json step_json(const tracking::bisect_step& step) {
  json out{{"commit", step.commit},   {"subject", step.subject}, {"verdict", tracking::to_string(step.verdict)},
           {"reason", step.reason},   {"rounds", step.rounds},   {"seconds", step.seconds},
           {"benchmarks", json::array()}};
  for (const auto& c : step.changes) out["benchmarks"].push_back(change_json(c));
  return out;
}

int bisect(bisect_flags& flags) {
  if (flags.threshold_percent) flags.options.policy.threshold = *flags.threshold_percent / 100;
  const auto outcome = tracking::run_bisect(flags.options);
  const int exit_code = outcome.status == tracking::bisect_status::found        ? exit_pass
                        : outcome.status == tracking::bisect_status::not_slower ? exit_bad_input
                                                                                : exit_inconclusive;
  // The change that decided: at the first bad commit, else at --bad.
  const auto& decided = outcome.first_bad ? *outcome.first_bad : outcome.steps.back();

  if (flags.as_json) {
    json out{{"good", outcome.good},
             {"bad", outcome.bad},
             {"run", flags.options.command},
             {"status", status_text(outcome.status)},
             {"first_bad", outcome.first_bad ? step_json(*outcome.first_bad) : json(nullptr)},
             {"candidates", outcome.candidates},
             {"steps", json::array()},
             {"exit_code", exit_code}};
    for (const auto& step : outcome.steps) out["steps"].push_back(step_json(step));
    fmt::print("{}\n", out.dump(2, ' ', false, json::error_handler_t::replace));
  } else {
    fmt::print("bisect: {} (good) .. {} (bad), each commit against the good one's samples (the Hodges-Lehmann shift "
               "with its 95% interval)\n",
               outcome.good.substr(0, 12), outcome.bad.substr(0, 12));
    for (const auto& step : outcome.steps) {
      fmt::print("  {:<4}  {}  {}  ({} rounds, {:.1f} s){}\n", tracking::to_string(step.verdict), step.commit.substr(0, 12),
                 printable(step.subject), step.rounds, step.seconds,
                 step.reason.empty() ? "" : ": " + printable(step.reason));
    }
    if (outcome.first_bad) {
      fmt::print("first bad commit: {} {}\n", outcome.first_bad->commit, printable(outcome.first_bad->subject));
    } else if (outcome.status == tracking::bisect_status::not_slower) {
      fmt::print("--bad {} is not slower than --good {}: nothing to bisect\n", outcome.bad.substr(0, 12),
                 outcome.good.substr(0, 12));
    } else if (!outcome.candidates.empty()) {
      fmt::print("skipped commits leave the first bad commit open; it is one of:\n");
      for (const auto& c : outcome.candidates) fmt::print("  {}\n", c);
    } else {
      fmt::print("--bad {} is not decidedly slower than --good {}: {}\n", outcome.bad.substr(0, 12),
                 outcome.good.substr(0, 12), printable(decided.reason));
    }
    print_change_table(decided.changes);
  }
  if (!flags.markdown.empty()) write_text(flags.markdown, "--markdown", change_markdown(decided.changes, is_slower));
  if (!flags.junit.empty()) {
    write_junit(flags.junit, "--junit", "trackbench bisect", change_junit_cases(decided.commit, decided.changes, is_slower));
  }
  return exit_code;
}

}  // namespace

std::vector<command> add_bisect_commands(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "bisect",
      "Find the first commit at which a benchmark got slower: git bisect run in a throw-away worktree, each commit "
      "judged against the good commit's samples by the 95% interval of the shift (slower: bad; same or faster: "
      "good; uncertain: --run again, then skip). Exit codes: 0 found, 2 bad input or --bad not slower, 3 left open");
  auto flags = std::make_shared<bisect_flags>();
  auto& o = flags->options;
  sub->add_option("--good", o.good, "A commit without the slowdown")->required();
  sub->add_option("--bad", o.bad, "A later commit with it")->required();
  sub->add_option("--run", o.command,
                  "Shell command run at each commit in the worktree: builds and runs the benchmarks, writing Google "
                  "Benchmark JSON to the file $TRACKBENCH_BISECT_JSON names")
      ->required();
  sub->add_option("--repo", o.repo, "The git checkout to bisect")->capture_default_str();
  sub->add_option("--benchmark", o.policy.benchmark,
                  "Only benchmarks whose names match this regular expression decide (default: all; any slower is bad)");
  sub->add_option_function<double>(
         "--threshold", [flags](const double& percent) { flags->threshold_percent = percent; },
         "The change, in percent, the 95% interval must lie wholly beyond for slower and within for same (default: "
         "the samples' relative spread, at least 1%)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--min-rounds", o.policy.min_rounds, "Runs of --run at each commit before its verdict counts")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  sub->add_option("--max-rounds", o.policy.max_rounds, "Most runs of --run at a commit still uncertain before it is skipped")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  sub->add_option("--max-seconds-per-commit", o.policy.max_seconds,
                  "Time budget of one commit: no round starts that would end after it; then an uncertain commit is skipped")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1e7));
  sub->add_flag("--json", flags->as_json, "Print the steps and the first bad commit as JSON (default: off)");
  sub->add_option("--junit", flags->junit,
                  "Also write JUnit XML to this file: a testcase per benchmark at the first bad commit, failed when slower");
  sub->add_option("--markdown", flags->markdown, "Also write a Markdown table of the change at the first bad commit");

  // What git bisect run runs at each commit; not for users, so hidden.
  auto* step = app.add_subcommand("bisect-step", "")->group("");
  auto scratch = std::make_shared<std::string>();
  step->add_option("scratch", *scratch, "The scratch folder bisect made")->required();
  return {{sub, [flags] { return bisect(*flags); }},
          {step, [scratch] { return tracking::run_bisect_step(*scratch); }}};
}

}  // namespace trackbench::cli
