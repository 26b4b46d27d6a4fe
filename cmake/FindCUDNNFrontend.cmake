# Finds the cuDNN frontend, NVIDIA's header-only C++ graph API over cuDNN's backend, which the
# direct cuDNN baseline (kernels/dev/cudnn_baseline.cpp) searches engines with.
#
# The PyPI wheel nvidia-cudnn-frontend (scripts/setup.sh installs it, pinned, into the project's
# virtual environment) puts its headers in <site-packages>/include. Looks first where
# CUDNN_FRONTEND_ROOT (variable or environment: a folder with include/cudnn_frontend.h) points,
# then beside LibTorch's wheel (TORCH_INSTALL_PREFIX, set by find_package(Torch)), then in the
# CUDA toolkit's include folder.
#
# Result: CUDNNFrontend_FOUND, CUDNNFrontend_VERSION ("1.32.0"), CUDNN_FRONTEND_INCLUDE_DIR, and
# the imported target CUDNNFrontend::headers (its headers as system headers: their warnings are
# not the project's).
set(_cudnn_frontend_hints ${CUDNN_FRONTEND_ROOT} $ENV{CUDNN_FRONTEND_ROOT})
if(TORCH_INSTALL_PREFIX)
  list(APPEND _cudnn_frontend_hints "${TORCH_INSTALL_PREFIX}/..")
endif()
if(CUDAToolkit_INCLUDE_DIRS)
  list(APPEND _cudnn_frontend_hints ${CUDAToolkit_INCLUDE_DIRS})
endif()

find_path(CUDNN_FRONTEND_INCLUDE_DIR cudnn_frontend.h HINTS ${_cudnn_frontend_hints} PATH_SUFFIXES include)

if(CUDNN_FRONTEND_INCLUDE_DIR AND EXISTS "${CUDNN_FRONTEND_INCLUDE_DIR}/cudnn_frontend_version.h")
  file(STRINGS "${CUDNN_FRONTEND_INCLUDE_DIR}/cudnn_frontend_version.h" _cudnn_frontend_version_lines
       REGEX "^#define CUDNN_FRONTEND_(MAJOR|MINOR|PATCH)_VERSION +[0-9]+")
  foreach(_cudnn_frontend_part MAJOR MINOR PATCH)
    string(REGEX REPLACE ".*#define CUDNN_FRONTEND_${_cudnn_frontend_part}_VERSION +([0-9]+).*" "\\1"
           _cudnn_frontend_${_cudnn_frontend_part} "${_cudnn_frontend_version_lines}")
  endforeach()
  set(CUDNNFrontend_VERSION "${_cudnn_frontend_MAJOR}.${_cudnn_frontend_MINOR}.${_cudnn_frontend_PATCH}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CUDNNFrontend REQUIRED_VARS CUDNN_FRONTEND_INCLUDE_DIR
                                  VERSION_VAR CUDNNFrontend_VERSION
                                  REASON_FAILURE_MESSAGE
                                  "scripts/setup.sh installs it (pip install nvidia-cudnn-frontend), or set \
CUDNN_FRONTEND_ROOT to a folder with include/cudnn_frontend.h")
mark_as_advanced(CUDNN_FRONTEND_INCLUDE_DIR)

if(CUDNNFrontend_FOUND AND NOT TARGET CUDNNFrontend::headers)
  add_library(CUDNNFrontend::headers INTERFACE IMPORTED)
  set_target_properties(CUDNNFrontend::headers PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_FRONTEND_INCLUDE_DIR}")
endif()
