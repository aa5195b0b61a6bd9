# Shared target helpers: every library and test gets the same warnings and sanitizers.

function(sandgate_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion -Wnon-virtual-dtor
                                           -Wold-style-cast)
  if(SANDGATE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(SANDGATE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# sandgate_add_library(NAME SOURCES ... PUBLIC_DEPS ... PRIVATE_DEPS ...)
function(sandgate_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  sandgate_target_defaults(${name})
endfunction()

# sandgate_add_test(NAME LABEL label [MATRIX] SOURCES ... DEPS ...)
# Integration tests find the binaries they drive through compile definitions, so a test never
# runs a stale sandgate from PATH.
#
# MATRIX: every test runs once per cell, identity by pipeline (tests/helpers/identity.h): ctest
# names them `root/bwrap/Suite.Test`, `user/bwrap/...`, `root/legacy/...`, `user/legacy/...`,
# and `nouserns/legacy/...` (an ordinary user on a machine without user namespaces, imitated),
# and SANDGATE_TEST_IDENTITY and SANDGATE_TEST_PIPELINE tell the test process which cell it is.
# A test added to such a target is in every cell without asking.
#
# A MATRIX program that drives sandgate through tests/helpers/scripted_controller.h also records
# every protocol line in SANDGATE_PROTOCOL_CAPTURE_DIR, which the sandgate_protocol_capture
# fixture (tests/schema) empties before and validates after. Programs without a controller do not
# require the fixture: an escape-only run would have nothing to validate.
set(SANDGATE_PROTOCOL_CAPTURE_DIR "${PROJECT_BINARY_DIR}/protocol-capture")
function(sandgate_add_test name)
  cmake_parse_arguments(ARG "MATRIX" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  sandgate_target_defaults(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  if(ARG_MATRIX)
    set(capture "")
    foreach(source IN LISTS ARG_SOURCES)
      get_filename_component(source "${source}" ABSOLUTE)
      file(STRINGS "${source}" includes REGEX "tests/helpers/scripted_controller\\.h")
      if(includes)
        # A list cannot pass through gtest_discover_tests PROPERTIES (its ';' splits it), but ctest
        # adds up the values of a property given twice: this ENVIRONMENT joins the cell's.
        set(capture ENVIRONMENT "SANDGATE_PROTOCOL_CAPTURE_DIR=${SANDGATE_PROTOCOL_CAPTURE_DIR}"
                    FIXTURES_REQUIRED sandgate_protocol_capture)
      endif()
    endforeach()
    foreach(pipeline bwrap legacy)
      foreach(identity root user)
        gtest_discover_tests(${name} TEST_PREFIX "${identity}/${pipeline}/"
                             PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
                                        ENVIRONMENT "SANDGATE_TEST_IDENTITY=${identity}"
                                        ENVIRONMENT_MODIFICATION "SANDGATE_TEST_PIPELINE=set:${pipeline}"
                                        ${capture}
                             DISCOVERY_TIMEOUT 30)
      endforeach()
    endforeach()
    # The legacy pipeline's reason to exist: an ordinary user where user namespaces are off.
    gtest_discover_tests(${name} TEST_PREFIX "nouserns/legacy/"
                         PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
                                    ENVIRONMENT "SANDGATE_TEST_IDENTITY=user-nouserns"
                                    ENVIRONMENT_MODIFICATION "SANDGATE_TEST_PIPELINE=set:legacy"
                                    ${capture}
                         DISCOVERY_TIMEOUT 30)
  else()
    gtest_discover_tests(${name} PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
                         DISCOVERY_TIMEOUT 30)
  endif()
endfunction()
