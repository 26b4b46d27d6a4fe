#pragma once
// Callgrind's profile dumps (callgrind.out.<pid>[.<part>], Valgrind's "Callgrind Format"): the
// little `bench --measure instructions` reads of one, its part number, what triggered it and
// its total of each event.
#include <cstdint>
#include <string>
#include <vector>

namespace trackbench::tracking {

struct callgrind_dump {
  std::int64_t part = 0;         // 1, 2, ... in the order the dumps were made; 0 without a part line
  std::string trigger;           // desc: Trigger: e.g. "--dump-before=benchmark::State::FinishKeepRunning()"
  std::vector<std::string> events;    // the events: line, e.g. {"Ir"}
  std::vector<std::uint64_t> totals;  // one per event: the totals: line (else summary:), missing ones 0

  // The total of `event`; throws input_error naming the dump when it did not count it.
  std::uint64_t total(const std::string& event, const std::string& source) const;
};

// The header and totals of a dump's text. Throws input_error naming `source` when the text is no
// callgrind dump: no "events:" line, no "totals:" or "summary:" line, or one that is not as many
// non-negative integers as there are events.
callgrind_dump parse_callgrind_dump(const std::string& text, const std::string& source);

}  // namespace trackbench::tracking
