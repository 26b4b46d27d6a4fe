# Run at build time (cmake -P): records the commit the binary is built from, and
# whether the checkout had uncommitted changes, in a header rewritten only when
# either changes. Outside a git checkout both are "unknown".
# Inputs: SOURCE_DIR, OUTPUT.
set(_commit "unknown")
set(_tree "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --verify HEAD
                  OUTPUT_VARIABLE _head RESULT_VARIABLE _head_rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_head_rc EQUAL 0)
    set(_commit "${_head}")
    execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE _status RESULT_VARIABLE _status_rc ERROR_QUIET)
    if(_status_rc EQUAL 0)
      if(_status STREQUAL "")
        set(_tree "clean")
      else()
        set(_tree "dirty")
      endif()
    endif()
  endif()
endif()
set(_content "#pragma once\n// Generated at build time by cmake/TrackbenchGitInfo.cmake.\n#define TRACKBENCH_BUILD_COMMIT \"${_commit}\"\n#define TRACKBENCH_BUILD_TREE \"${_tree}\"\n")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" _old)
endif()
if(NOT "${_old}" STREQUAL "${_content}")
  file(WRITE "${OUTPUT}" "${_content}")
endif()
