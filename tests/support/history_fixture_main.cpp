// Writes the history fixture (support/history_fixture.h) into a folder, for the ctest that reads
// `trackbench history --junit` output with a real JUnit reader: history_fixture DIR STEP_COMMIT.
#include <cstdio>
#include <exception>
#include <string>

#include "support/history_fixture.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DIR STEP_COMMIT\n", argv[0]);
    return 2;
  }
  try {
    trackbench::testing::make_history_fixture(argv[1], std::stoi(argv[2]), true);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "history_fixture: %s\n", e.what());
    return 1;
  }
  return 0;
}
