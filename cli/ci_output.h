#pragma once
// Output a CI system reads besides the exit code: JUnit XML (test reports of GitLab, Jenkins,
// GitHub test-report actions) and Markdown tables (a pull request comment, $GITHUB_STEP_SUMMARY).
#include <optional>
#include <string>
#include <vector>

namespace trackbench::cli {

struct junit_case {
  std::string classname;  // e.g. the hardware group
  std::string name;       // e.g. the benchmark
  std::optional<std::string> failure;  // the message of a failed case
  std::string output;     // details, as system-out
};

// One <testsuite> named `suite` in a <testsuites> document, written to `path`. Throws input_error
// naming `flag` and the file when it cannot be written.
void write_junit(const std::string& path, const std::string& flag, const std::string& suite,
                 const std::vector<junit_case>& cases);

// `text` as the whole content of `path`; the same errors.
void write_text(const std::string& path, const std::string& flag, const std::string& text);

// A table cell: pipes and line breaks would end the cell or the row.
std::string markdown_cell(const std::string& text);

}  // namespace trackbench::cli
