#include <gtest/gtest.h>

#include "support/error_message.h"
#include "trackbench/tracking/format/callgrind.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

using testing::error_message;

// The header and tail of a dump as callgrind 3.19 writes one with --dump-before (the cost lines
// between are left out: the totals are all that is read).
const char* const loop_dump = R"(# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 2391
cmd:  ./fx --benchmark_filter=^busy_loop/iterations:4$ --benchmark_repetitions=1
part: 2


desc: I1 cache: 
desc: D1 cache: 
desc: LL cache: 

desc: Timerange: Basic block 511579 - 12511727
desc: Trigger: --dump-before=benchmark::State::FinishKeepRunning()

positions: line
events: Ir
summary: 132000892


ob=(2) /tmp/cgt/fx
fl=(3) ???
fn=(4) busy_loop(benchmark::State&)
0 132000000

totals: 132000892
)";

TEST(CallgrindDump, ReadsThePartTheTriggerAndTheTotals) {
  const auto dump = parse_callgrind_dump(loop_dump, "callgrind.out.2391.2");
  EXPECT_EQ(dump.part, 2);
  EXPECT_EQ(dump.trigger, "--dump-before=benchmark::State::FinishKeepRunning()");
  EXPECT_EQ(dump.events, std::vector<std::string>{"Ir"});
  EXPECT_EQ(dump.total("Ir", "x"), 132000892u);
}

TEST(CallgrindDump, TotalsOverSummaryAndTrailingZerosLeftOut) {
  // totals: (the end-of-file line) is what counts when both are there; the format lets trailing
  // zero counts be omitted; a dump of the program's end has no part line in older versions.
  const auto dump = parse_callgrind_dump(
      "version: 1\nevents: Ir Dr Dw\nsummary: 10 20 30\nfn=(1) main\n0 10 20 30\ntotals: 11 21\n", "a");
  EXPECT_EQ(dump.part, 0);
  EXPECT_EQ(dump.totals, (std::vector<std::uint64_t>{11, 21, 0}));
  EXPECT_EQ(dump.total("Dw", "a"), 0u);
  EXPECT_EQ(parse_callgrind_dump("events: Ir\nsummary: 18446744073709551615\n", "b").total("Ir", "b"),
            18446744073709551615u);
}

TEST(CallgrindDump, RefusesWhatIsNoDumpNamingTheSource) {
  for (const auto& [text, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"", "dumps/x: not a callgrind dump (no events: line)"},
           {"{\"benchmarks\": []}\n", "not a callgrind dump"},
           {"events: Ir\nfn=(1) main\n", "has no totals: or summary: line"},
           {"events: Ir\ntotals: -5\n", "holds '-5', not an event count"},
           {"events: Ir\ntotals: 12abc\n", "holds '12abc'"},
           {"events: Ir\ntotals: 99999999999999999999999\n", "not an event count"},
           {"events: Ir\ntotals: 1 2\n", "does not hold a count for each of its 1 events"},
       }) {
    const auto message = error_message<input_error>([&] { parse_callgrind_dump(text, "dumps/x"); });
    EXPECT_NE(message.find(fragment), std::string::npos) << text << "\n" << message;
  }
  const auto dump = parse_callgrind_dump("events: Ir\ntotals: 3\n", "y");
  const auto message = error_message<input_error>([&] { dump.total("Dr", "dumps/y"); });
  EXPECT_NE(message.find("dumps/y: the callgrind dump counted no Dr"), std::string::npos) << message;
}

}  // namespace
}  // namespace trackbench::tracking
