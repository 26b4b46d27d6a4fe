# Finds cuDNN's header and main library (libcudnn, which loads its sub-libraries itself).
#
# Looks first where CUDNN_ROOT (variable or environment) points, then in the torch wheel's
# nvidia/cudnn package beside LibTorch (TORCH_INSTALL_PREFIX, set by find_package(Torch)): that
# is the copy LibTorch loads, so the process holds one cuDNN. Then beside the CUDA toolkit,
# where a system cuDNN 9 installs (/usr/local/cuda/lib, include).
#
# Result: CUDNN_FOUND, CUDNN_VERSION ("9.19.0"), CUDNN_INCLUDE_DIR, CUDNN_LIBRARY, and the
# imported target CUDNN::cudnn.
set(_cudnn_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT})
if(TORCH_INSTALL_PREFIX)
  list(APPEND _cudnn_hints "${TORCH_INSTALL_PREFIX}/../nvidia/cudnn")
endif()
if(CUDAToolkit_LIBRARY_ROOT)
  list(APPEND _cudnn_hints "${CUDAToolkit_LIBRARY_ROOT}")
endif()
if(CUDAToolkit_TARGET_DIR)
  list(APPEND _cudnn_hints "${CUDAToolkit_TARGET_DIR}")
endif()

find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${_cudnn_hints} PATH_SUFFIXES include)
# The wheel ships only the versioned file, without the libcudnn.so link; NAMES_PER_DIR keeps
# the hints' order ahead of the names' (the library beside the header found above).
find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 libcudnn.so.8 NAMES_PER_DIR HINTS ${_cudnn_hints}
             PATH_SUFFIXES lib lib64)

if(CUDNN_INCLUDE_DIR)
  set(_cudnn_version_header "${CUDNN_INCLUDE_DIR}/cudnn_version.h")
  if(NOT EXISTS "${_cudnn_version_header}")
    set(_cudnn_version_header "${CUDNN_INCLUDE_DIR}/cudnn.h")  # cuDNN 7 and older
  endif()
  file(STRINGS "${_cudnn_version_header}" _cudnn_version_lines REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) +[0-9]+")
  foreach(_cudnn_part MAJOR MINOR PATCHLEVEL)
    string(REGEX REPLACE ".*#define CUDNN_${_cudnn_part} +([0-9]+).*" "\\1"
           _cudnn_${_cudnn_part} "${_cudnn_version_lines}")
  endforeach()
  set(CUDNN_VERSION "${_cudnn_MAJOR}.${_cudnn_MINOR}.${_cudnn_PATCHLEVEL}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CUDNN REQUIRED_VARS CUDNN_LIBRARY CUDNN_INCLUDE_DIR VERSION_VAR CUDNN_VERSION)
mark_as_advanced(CUDNN_INCLUDE_DIR CUDNN_LIBRARY)

if(CUDNN_FOUND AND NOT TARGET CUDNN::cudnn)
  add_library(CUDNN::cudnn SHARED IMPORTED)
  set_target_properties(CUDNN::cudnn PROPERTIES
    IMPORTED_LOCATION "${CUDNN_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_INCLUDE_DIR}")
endif()
