cmake_minimum_required(VERSION 3.25)
# cmake -DSOURCE_DIR=... -P check_layering.cmake
# Fails when a source file includes a project header its part may not depend on. The link graph
# (one library per part) catches calls the wrong way; this catches header-only reach (an inline
# function, a type) that the linker never sees.
#
# Each part lists the parts it may include, besides itself. Order is from the bottom up.
set(parts
  "base"
  "approvals"
  "vendor/bubblewrap"
  "pipelines"
  "supervisor/loop"
  "supervisor/child"
  "supervisor/net"
  "supervisor/control"
  "supervisor/mediate"
  "supervisor")
set(allowed_base "")
set(allowed_approvals "")
set(allowed_vendor/bubblewrap "base")
set(allowed_pipelines "base")
set(allowed_supervisor/loop "base")
set(allowed_supervisor/child "base;approvals;vendor/bubblewrap;pipelines;supervisor/loop")
set(allowed_supervisor/net "base;approvals;supervisor/loop")
set(allowed_supervisor/control "base;approvals;supervisor/loop")
set(allowed_supervisor/mediate
    "base;approvals;supervisor/loop;supervisor/child;supervisor/net;supervisor/control")
set(allowed_supervisor "base;approvals;vendor/bubblewrap;pipelines;supervisor/loop;supervisor/child;supervisor/net;supervisor/control;supervisor/mediate")

# The part a path (relative to the source dir) belongs to: the longest listed prefix.
function(part_of path out)
  set(best "")
  foreach(part IN LISTS parts)
    string(LENGTH "${part}" n)
    string(SUBSTRING "${path}" 0 ${n} head)
    string(LENGTH "${best}" best_n)
    if(head STREQUAL part AND n GREATER best_n)
      string(SUBSTRING "${path}/" ${n} 1 sep)
      if(sep STREQUAL "/")
        set(best "${part}")
      endif()
    endif()
  endforeach()
  set(${out} "${best}" PARENT_SCOPE)
endfunction()

set(violations 0)
set(checked 0)
foreach(top IN ITEMS base approvals vendor pipelines supervisor)
  file(GLOB_RECURSE sources RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/${top}/*.cc"
       "${SOURCE_DIR}/${top}/*.h")
  foreach(source IN LISTS sources)
    part_of("${source}" part)
    if(part STREQUAL "")
      message(SEND_ERROR "${source}: in no part; add its folder to cmake/check_layering.cmake")
      math(EXPR violations "${violations} + 1")
      continue()
    endif()
    math(EXPR checked "${checked} + 1")
    file(STRINGS "${SOURCE_DIR}/${source}" includes REGEX "^#include \"")
    foreach(line IN LISTS includes)
      string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" header "${line}")
      part_of("${header}" target)
      if(target STREQUAL "" OR target STREQUAL part)
        continue()
      endif()
      if(NOT target IN_LIST allowed_${part})
        message(SEND_ERROR "${source}: includes ${header} (${part} may not depend on ${target})")
        math(EXPR violations "${violations} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
if(checked LESS 50)
  message(FATAL_ERROR "layering: only ${checked} files found under ${SOURCE_DIR}; wrong directory?")
endif()
if(violations GREATER 0)
  message(FATAL_ERROR "layering: ${violations} include(s) point the wrong way")
endif()
message(STATUS "layering: ${checked} files, every include points down")
