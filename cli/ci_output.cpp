#include "ci_output.h"

#include <fstream>

#include "console.h"
#include "trackbench/interop/markup.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::cli {
namespace {

// XML 1.0 allows no control characters but tab, line feed and carriage return.
std::string xml_escaped(const std::string& text) { return interop::escape_markup(printable(text)); }

}  // namespace

void write_text(const std::string& path, const std::string& flag, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw input_error(flag + " " + path + ": cannot write the file");
}

void write_junit(const std::string& path, const std::string& flag, const std::string& suite,
                 const std::vector<junit_case>& cases) {
  std::size_t failures = 0;
  for (const auto& c : cases) failures += c.failure ? 1 : 0;
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  const std::string counts =
      " tests=\"" + std::to_string(cases.size()) + "\" failures=\"" + std::to_string(failures) + "\" errors=\"0\"";
  xml += "<testsuites name=\"" + xml_escaped(suite) + "\"" + counts + ">\n";
  xml += "  <testsuite name=\"" + xml_escaped(suite) + "\"" + counts + " skipped=\"0\">\n";
  for (const auto& c : cases) {
    xml += "    <testcase classname=\"" + xml_escaped(c.classname) + "\" name=\"" + xml_escaped(c.name) + "\">\n";
    if (c.failure) {
      xml += "      <failure message=\"" + xml_escaped(*c.failure) + "\">" + xml_escaped(*c.failure) + "</failure>\n";
    }
    if (!c.output.empty()) xml += "      <system-out>" + xml_escaped(c.output) + "</system-out>\n";
    xml += "    </testcase>\n";
  }
  xml += "  </testsuite>\n</testsuites>\n";
  write_text(path, flag, xml);
}

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (const char c : printable(text)) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += c == '\n' ? ' ' : c;
    }
  }
  return out;
}

}  // namespace trackbench::cli
