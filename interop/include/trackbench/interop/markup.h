#pragma once
// Text inside HTML or XML (the report's page, CI's JUnit files): & < > " ' as entities.
#include <string>

namespace trackbench::interop {

std::string escape_markup(const std::string& text);

}  // namespace trackbench::interop
