#!/usr/bin/env bash
# How decisive `trackbench ab` is on this machine (issue 25): RUNS jobs on two builds of the same
# code (the fixture suite and its twin; wanted: every one `same`, none slower or faster) and RUNS
# jobs against a build doing 3% more work (wanted: at least 90% `slower`), on the fixture's
# busy_loop benchmark. Prints the counts and writes them, with every job's JSON, to OUT.
# Usage: bench/ab_decisiveness.sh [BUILD_DIR] [OUT.json]   (env: RUNS=20, MAX_SECONDS=120,
# AB_FLAGS for extra ab flags). Needs the tests built: cmake --build BUILD_DIR --target
# trackbench trackbench_bench_fixture trackbench_bench_fixture_twin trackbench_bench_fixture_slowed_3pct
set -euo pipefail

build="${1:-build/release}"
out="${2:-ab_decisiveness.json}"
runs="${RUNS:-20}"
max_seconds="${MAX_SECONDS:-120}"
trackbench="$build/cli/trackbench"
[ -x "$trackbench" ] || trackbench="$build/trackbench"
fixtures="$build/tests"
for executable in "$trackbench" "$fixtures/trackbench_bench_fixture" "$fixtures/trackbench_bench_fixture_twin" \
                  "$fixtures/trackbench_bench_fixture_slowed_3pct"; do
  [ -x "$executable" ] || { echo "ab_decisiveness: $executable is missing; build it first" >&2; exit 2; }
done

jobs_dir="$(mktemp -d)"
trap 'rm -rf "$jobs_dir"' EXIT

# One job: NAME NEW; its JSON kept as $jobs_dir/NAME.json, the suites' console output as NAME.log
# (ab exits 1 when slower: not an error here).
job() {
  local status=0
  # shellcheck disable=SC2086
  "$trackbench" -q ab --base "$fixtures/trackbench_bench_fixture" --new "$2" --benchmark '^busy_loop' \
    --max-seconds "$max_seconds" --json ${AB_FLAGS:-} > "$jobs_dir/$1.json" 2> "$jobs_dir/$1.log" || status=$?
  if [ "$status" -gt 1 ]; then
    tail -n 20 "$jobs_dir/$1.log" >&2
    echo "ab_decisiveness: job $1 exited $status" >&2
    exit 1
  fi
}

start=$(date +%s)
for i in $(seq 1 "$runs"); do
  # Alternate the two experiments, so a change of the machine's load falls on both.
  job "identical-$i" "$fixtures/trackbench_bench_fixture_twin"
  job "slowed-$i" "$fixtures/trackbench_bench_fixture_slowed_3pct"
  echo "ab_decisiveness: $i of $runs pairs done, $(( $(date +%s) - start )) s" >&2
done

python3 - "$jobs_dir" "$runs" "$out" "$max_seconds" "${AB_FLAGS:-}" "$(nproc)" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" <<'PY'
import collections, json, os, sys
jobs_dir, runs, out, max_seconds, flags, cores, cpu = sys.argv[1:]
runs = int(runs)
result = {"runs": runs, "max_seconds": float(max_seconds), "ab_flags": flags, "cores": int(cores), "cpu": cpu,
          "experiments": {}}
for experiment, wanted in (("identical", "same"), ("slowed", "slower")):
    verdicts, seconds, rounds, jobs = collections.Counter(), [], [], []
    for i in range(1, runs + 1):
        with open(os.path.join(jobs_dir, f"{experiment}-{i}.json")) as f:
            document = json.load(f)
        busy = next(b for b in document["benchmarks"] if b["name"].startswith("busy_loop"))
        verdicts[busy["verdict"]] += 1
        seconds.append(document["seconds"])
        rounds.append(len(document["rounds"]))
        jobs.append({"verdict": busy["verdict"], "reason": busy["reason"], "shift": busy["shift"],
                     "shift_low": busy["shift_low"], "shift_high": busy["shift_high"],
                     "threshold": busy["threshold"], "q_value": busy["q_value"],
                     "samples_per_side": busy["base_repetitions"], "rounds": len(document["rounds"]),
                     "seconds": document["seconds"]})
    seconds.sort()
    result["experiments"][experiment] = {
        "wanted": wanted, "verdicts": dict(verdicts), "wanted_count": verdicts[wanted],
        "median_seconds": seconds[len(seconds) // 2], "max_seconds_used": seconds[-1],
        "median_rounds": sorted(rounds)[len(rounds) // 2], "jobs": jobs}
identical = result["experiments"]["identical"]
slowed = result["experiments"]["slowed"]
result["targets"] = {
    "identical_same_20_of_20": identical["wanted_count"] == runs,
    "identical_never_slower_or_faster": identical["verdicts"].get("slower", 0) + identical["verdicts"].get("faster", 0) == 0,
    "slowed_slower_at_least_90_percent": slowed["wanted_count"] >= 0.9 * runs,
}
with open(out, "w") as f:
    json.dump(result, f, indent=2)
for name, e in result["experiments"].items():
    print(f"{name}: {e['wanted_count']}/{runs} {e['wanted']}; verdicts {e['verdicts']}; "
          f"median {e['median_seconds']:.1f} s, {e['median_rounds']} rounds a job")
print("targets:", json.dumps(result["targets"]))
PY
