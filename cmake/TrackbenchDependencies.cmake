# Every external dependency, found once for the whole tree.

# CUDA is detected, not assumed: with nvcc present the CUDA parts build, and the
# code reports a missing driver or GPU at run time.
set(TRACKBENCH_WITH_CUDA OFF)
if(TRACKBENCH_ENABLE_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Ampere, Ada and Hopper as real code, plus PTX for what comes later.
      set(CMAKE_CUDA_ARCHITECTURES 80-real 86-real 89-real 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(TRACKBENCH_WITH_CUDA ON)
  else()
    message(STATUS "trackbench: nvcc not found, building without CUDA")
  endif()
endif()
# LibTorch's config resets CMAKE_CUDA_ARCHITECTURES and appends its own -gencode
# list (with architectures nvcc 13 no longer accepts) to CMAKE_CUDA_FLAGS; ours are
# kept here and restored after it.
set(TRACKBENCH_CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
set(_trackbench_cuda_flags "${CMAKE_CUDA_FLAGS}")

# LibTorch comes from the torch wheel; its CMake files sit at torch.utils.cmake_prefix_path.
if(NOT Torch_DIR)
  execute_process(
    COMMAND ${TRACKBENCH_PYTHON} -c "import torch, sys; sys.stdout.write(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _trackbench_torch_prefix
    RESULT_VARIABLE _trackbench_torch_rc
    ERROR_QUIET)
  if(_trackbench_torch_rc EQUAL 0)
    list(APPEND CMAKE_PREFIX_PATH "${_trackbench_torch_prefix}")
  endif()
endif()
find_package(Torch REQUIRED)
set(CMAKE_CUDA_ARCHITECTURES "${TRACKBENCH_CUDA_ARCHITECTURES}")
set(CMAKE_CUDA_FLAGS "${_trackbench_cuda_flags}")
if(TRACKBENCH_WITH_CUDA AND NOT TARGET torch_cuda)
  message(STATUS "trackbench: LibTorch has no CUDA support, building without CUDA")
  set(TRACKBENCH_WITH_CUDA OFF)
endif()
# The torch wheel's libraries export a private copy of std::filesystem from an
# older libstdc++, and its remove_all crashes when our code binds to it. Loading
# the system libstdc++ first makes every std:: symbol resolve there instead.
add_library(trackbench_torch INTERFACE)
add_library(trackbench::torch ALIAS trackbench_torch)
target_link_libraries(trackbench_torch INTERFACE ${TORCH_LIBRARIES})
target_link_options(trackbench_torch INTERFACE "LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")

message(STATUS "trackbench: CUDA parts ${TRACKBENCH_WITH_CUDA} (architectures: ${TRACKBENCH_CUDA_ARCHITECTURES})")

find_package(ZLIB REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(OpenSSL REQUIRED)
find_package(CURL REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Threads REQUIRED)
# The catalog of snapshot records beside the snapshots (tracking/format/src/snapshot_index.cpp).
find_package(SQLite3 REQUIRED)
# The CPU engine of data-parallel training (trainer/src/mpi_group.cpp); Debian: libopenmpi-dev.
find_package(MPI REQUIRED COMPONENTS C)
if(TRACKBENCH_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
# The tests build a small Google Benchmark suite of their own for `trackbench bench`.
if(TRACKBENCH_BUILD_BENCHMARKS OR TRACKBENCH_BUILD_TESTS)
  find_package(benchmark REQUIRED)
  # The kernels suite calls cuDNN directly (cmake/FindCUDNN.cmake), searching its engines through
  # the header-only cuDNN frontend (cmake/FindCUDNNFrontend.cmake, which needs cuDNN 8.5 or
  # newer); after LibTorch, whose wheel both look beside first.
  if(TRACKBENCH_WITH_CUDA)
    find_package(CUDNN 8.5 REQUIRED)
    find_package(CUDNNFrontend 1.0 REQUIRED)
  endif()
endif()

# LibTorch's include directory carries its own fmt (v12), which would shadow the
# fmt that Debian's spdlog was built against. Put that fmt's headers first.
get_target_property(_trackbench_fmt_includes fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
find_path(TRACKBENCH_FMT_INCLUDE_DIR fmt/format.h PATHS ${_trackbench_fmt_includes} NO_DEFAULT_PATH)
if(NOT TRACKBENCH_FMT_INCLUDE_DIR)
  find_path(TRACKBENCH_FMT_INCLUDE_DIR fmt/format.h PATHS /usr/include NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH)
endif()
set(TRACKBENCH_FMT_SHADOW_DIR "${CMAKE_BINARY_DIR}/fmt-before-torch")
file(MAKE_DIRECTORY "${TRACKBENCH_FMT_SHADOW_DIR}")
file(CREATE_LINK "${TRACKBENCH_FMT_INCLUDE_DIR}/fmt" "${TRACKBENCH_FMT_SHADOW_DIR}/fmt" SYMBOLIC)
include_directories(BEFORE SYSTEM "${TRACKBENCH_FMT_SHADOW_DIR}")
