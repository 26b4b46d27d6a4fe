# ctest -P script: compiles SOURCE for each of ARCHITECTURES with ptxas's verbose report and
# fails when a kernel of any version (kernels named *_v<version>_kernel, versions 1 to
# conv2d_version_count in HEADER) spills registers, or when some version has no kernel in the
# report. Every instantiation counts: v3's fp32 and tf32 paths are separate kernels.
# Variables: NVCC, SOURCE, HEADER, INCLUDE_DIRS (a ;-list), ARCHITECTURES (comma-separated), WORK_DIR.
cmake_policy(SET CMP0057 NEW)  # if(IN_LIST)
file(STRINGS "${HEADER}" _count REGEX "constexpr int conv2d_version_count = [0-9]+;")
string(REGEX MATCH "[0-9]+" version_count "${_count}")
if(NOT version_count)
  message(FATAL_ERROR "no conv2d_version_count in ${HEADER}")
endif()
set(_includes "")
foreach(dir IN LISTS INCLUDE_DIRS)
  list(APPEND _includes "-I${dir}")
endforeach()
file(MAKE_DIRECTORY "${WORK_DIR}")
set(_failed FALSE)
string(REPLACE "," ";" ARCHITECTURES "${ARCHITECTURES}")
foreach(arch IN LISTS ARCHITECTURES)
  execute_process(
    COMMAND "${NVCC}" -std=c++17 -O3 -cubin -arch=sm_${arch} -Xptxas -v ${_includes} "${SOURCE}"
            -o "${WORK_DIR}/conv2d_sm_${arch}.cubin"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE report)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nvcc failed for sm_${arch}:\n${out}${report}")
  endif()
  # ptxas names each entry function, then reports its stack and spills on the next lines.
  string(REPLACE "\n" ";" lines "${report}")
  set(kernel "")
  set(seen "")
  foreach(line IN LISTS lines)
    if(line MATCHES "Compiling entry function '([^']+)'")
      set(kernel "${CMAKE_MATCH_1}")
    elseif(kernel MATCHES "_v([0-9]+)_kernel" AND line MATCHES "([0-9]+) bytes spill stores, ([0-9]+) bytes spill loads")
      set(stores "${CMAKE_MATCH_1}")
      set(loads "${CMAKE_MATCH_2}")
      string(REGEX MATCH "_v([0-9]+)_kernel" _version "${kernel}")
      list(APPEND seen "${CMAKE_MATCH_1}")
      # The mangled name's length prefix ends in a digit just before the kernel's own name;
      # the template arguments follow it.
      string(REGEX MATCH "[0-9](conv2d_[a-z0-9_]+_v[0-9]+_kernel[A-Za-z0-9_]*)" name "${kernel}")
      message(STATUS "sm_${arch} ${CMAKE_MATCH_1}: ${stores} bytes spill stores, ${loads} bytes spill loads")
      if(NOT stores EQUAL 0 OR NOT loads EQUAL 0)
        set(_failed TRUE)
      endif()
      set(kernel "")
    endif()
  endforeach()
  foreach(version RANGE 1 ${version_count})
    if(NOT version IN_LIST seen)
      message(FATAL_ERROR "ptxas reported no *_v${version}_kernel for sm_${arch}:\n${report}")
    endif()
  endforeach()
endforeach()
if(_failed)
  message(FATAL_ERROR "a conv2d kernel spills registers")
endif()
