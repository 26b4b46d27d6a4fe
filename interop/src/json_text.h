#pragma once
// A snapshot field as text, the same in MLflow params and tags and in the report: strings as
// they are, booleans true/false, lists joined by commas, numbers as JSON writes them.
#include <nlohmann/json.hpp>

#include <string>

namespace trackbench::interop {

inline std::string text_of(const nlohmann::ordered_json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_array()) {
    std::string joined;
    for (const auto& item : value) joined += (joined.empty() ? "" : ",") + text_of(item);
    return joined;
  }
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace trackbench::interop
