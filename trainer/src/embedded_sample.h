#pragma once
// The embedded mnist-sample files, linked into the executable from data/mnist-sample.
#include <array>
#include <cstdint>
#include <string>

namespace trackbench::trainer {

struct embedded_file {
  const char* name;
  const std::uint8_t* begin;
  const std::uint8_t* end;
};

const std::array<embedded_file, 4>& embedded_sample_files();

}  // namespace trackbench::trainer
