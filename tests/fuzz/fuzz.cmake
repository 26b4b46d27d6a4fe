# The libFuzzer target of the HDF5 snapshot reader (this folder), included from
# tests/CMakeLists.txt. libFuzzer needs clang while the main build may use another
# compiler, so the fuzzer is a project of its own, built with clang as an external
# project of the main build; the ctest snapshot_reader_fuzz (label fuzz) runs it on a
# fresh seed corpus for 30 s. Without a clang that links libFuzzer it is skipped.
include_guard(GLOBAL)

find_program(TRACKBENCH_CLANGXX NAMES clang++ clang++-14 DOC "clang++ that builds the snapshot reader fuzzer")
if(NOT TRACKBENCH_CLANGXX)
  message(STATUS "trackbench: clang++ not found, the snapshot reader fuzzer is skipped")
  return()
endif()

# The matching C compiler sits next to it (clang++-14 -> clang-14); the fuzz project needs
# C for FindHDF5.
cmake_path(GET TRACKBENCH_CLANGXX FILENAME _trackbench_fuzz_cc)
string(REPLACE "clang++" "clang" _trackbench_fuzz_cc "${_trackbench_fuzz_cc}")
cmake_path(REPLACE_FILENAME TRACKBENCH_CLANGXX "${_trackbench_fuzz_cc}" OUTPUT_VARIABLE _trackbench_fuzz_cc)
if(NOT EXISTS "${_trackbench_fuzz_cc}")
  message(STATUS "trackbench: ${_trackbench_fuzz_cc} not found, the snapshot reader fuzzer is skipped")
  return()
endif()

# clang without its compiler-rt (libFuzzer) is common; one tiny link finds out.
set(_trackbench_fuzz_probe "${CMAKE_CURRENT_BINARY_DIR}/fuzz-probe")
file(WRITE "${_trackbench_fuzz_probe}/probe.cpp"
  "#include <cstddef>\n#include <cstdint>\n"
  "extern \"C\" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n")
execute_process(
  COMMAND "${TRACKBENCH_CLANGXX}" -fsanitize=fuzzer,address,undefined probe.cpp -o probe
  WORKING_DIRECTORY "${_trackbench_fuzz_probe}"
  RESULT_VARIABLE _trackbench_fuzz_probe_result
  OUTPUT_QUIET ERROR_QUIET)
if(NOT _trackbench_fuzz_probe_result EQUAL 0)
  message(STATUS "trackbench: ${TRACKBENCH_CLANGXX} cannot link libFuzzer with ASan and UBSan, "
                 "the snapshot reader fuzzer is skipped")
  return()
endif()
message(STATUS "trackbench: building the snapshot reader fuzzer with ${TRACKBENCH_CLANGXX}")

include(ExternalProject)
# Built every time so that edits to the reader sources reach it; an up-to-date build is a
# no-op of the inner generator.
ExternalProject_Add(trackbench_fuzz
  SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}"
  BINARY_DIR "${CMAKE_BINARY_DIR}/fuzz"
  CMAKE_ARGS
    "-DCMAKE_CXX_COMPILER=${TRACKBENCH_CLANGXX}"
    "-DCMAKE_C_COMPILER=${_trackbench_fuzz_cc}"
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
    "-DTRACKBENCH_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  CMAKE_CACHE_ARGS "-DCMAKE_PREFIX_PATH:STRING=${CMAKE_PREFIX_PATH}"
  INSTALL_COMMAND ""
  BUILD_ALWAYS ON)

add_test(NAME snapshot_reader_fuzz
  COMMAND sh "${CMAKE_CURRENT_LIST_DIR}/run_fuzz.sh"
          "${CMAKE_BINARY_DIR}/fuzz/make_snapshot_seeds"
          "${CMAKE_BINARY_DIR}/fuzz/fuzz_snapshot_reader"
          "${CMAKE_BINARY_DIR}/fuzz/run" 30
  WORKING_DIRECTORY "${CMAKE_BINARY_DIR}/fuzz")
set_tests_properties(snapshot_reader_fuzz PROPERTIES TIMEOUT 300 LABELS fuzz)
