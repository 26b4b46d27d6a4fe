#include "trackbench/tracking/format/callgrind.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

// The text after "key:" when `line` is that header line, trimmed of leading blanks.
bool header(const std::string& line, const std::string& key, std::string& value) {
  if (line.rfind(key + ":", 0) != 0) return false;
  value = line.substr(key.size() + 1);
  value.erase(0, value.find_first_not_of(" \t"));
  return true;
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> all;
  for (std::string word; in >> word;) all.push_back(word);
  return all;
}

std::uint64_t count(const std::string& word, const std::string& source, const std::string& line) {
  errno = 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(word.c_str(), &end, 10);
  if (word.empty() || word.find_first_not_of("0123456789") != std::string::npos || *end != '\0' || errno == ERANGE) {
    throw input_error(source + ": '" + line + "' holds '" + word + "', not an event count");
  }
  return value;
}

}  // namespace

std::uint64_t callgrind_dump::total(const std::string& event, const std::string& source) const {
  const auto found = std::find(events.begin(), events.end(), event);
  if (found == events.end()) throw input_error(source + ": the callgrind dump counted no " + event);
  return totals[static_cast<std::size_t>(found - events.begin())];
}

callgrind_dump parse_callgrind_dump(const std::string& text, const std::string& source) {
  callgrind_dump dump;
  std::string totals, summary, value;
  bool has_events = false;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (header(line, "events", value)) {
      dump.events = words(value);
      has_events = !dump.events.empty();
    } else if (header(line, "part", value)) {
      dump.part = static_cast<std::int64_t>(count(value, source, line));
    } else if (header(line, "desc", value) && header(value, "Trigger", value)) {
      dump.trigger = value;
    } else if (header(line, "totals", value)) {
      totals = line;
    } else if (header(line, "summary", value)) {
      summary = line;
    }
  }
  if (!has_events) throw input_error(source + ": not a callgrind dump (no events: line)");
  // totals: is the format's end-of-file total; summary: the older header line of the same sums.
  const std::string& line = totals.empty() ? summary : totals;
  if (line.empty()) throw input_error(source + ": the callgrind dump has no totals: or summary: line");
  const auto counts = words(line.substr(line.find(':') + 1));
  if (counts.empty() || counts.size() > dump.events.size()) {
    throw input_error(source + ": '" + line + "' does not hold a count for each of its " +
                      std::to_string(dump.events.size()) + " events");
  }
  // The format lets trailing zero counts be left out.
  dump.totals.assign(dump.events.size(), 0);
  for (std::size_t i = 0; i < counts.size(); ++i) dump.totals[i] = count(counts[i], source, line);
  return dump;
}

}  // namespace trackbench::tracking
