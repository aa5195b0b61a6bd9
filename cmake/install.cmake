# Install rules and the Debian package (issue 15).
#
#   cmake --install BUILD [--prefix DIR] [--strip]    # the files below, under DIR (default /usr/local)
#   cpack -G DEB --config BUILD/CPackConfig.cmake    # sandgate_VERSION-RELEASE_ARCH.deb for /usr
#
# Both binaries go to bin: sandgate runs the inner stage from the directory of its own
# executable (/proc/self/exe, supervisor/child/pipeline.cc), so sandgate-inner has to sit next
# to it; moving it to libexec would need a change to that lookup.
#
# A few of the installed files are written by others at the same time as this file
# (docs/policy.schema.json, clients/python/sandgate.py): their rules are OPTIONAL, so a checkout
# without them configures, installs and packages, and one with them ships them.

include(GNUInstallDirs)

# Directories the install creates get 0755 whatever the umask of whoever runs it; a package built
# by a user with umask 077 would otherwise ship directories nobody else can enter.
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(SANDGATE_DOCDIR "${CMAKE_INSTALL_DATADIR}/doc/sandgate")
set(SANDGATE_DATADIR "${CMAKE_INSTALL_DATADIR}/sandgate")
set(_sandgate_packaging "${PROJECT_SOURCE_DIR}/packaging")
set(_sandgate_gz_dir "${PROJECT_BINARY_DIR}/packaging")

install(TARGETS sandgate sandgate-inner RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
# A stripped install (--strip, and CPack) also drops the compilers' .comment notes, as Debian's
# own dh_strip does; lintian names them otherwise.
foreach(_sandgate_binary sandgate sandgate-inner)
  install(CODE "
    if(CMAKE_INSTALL_DO_STRIP AND EXISTS \"${CMAKE_OBJCOPY}\")
      execute_process(COMMAND \"${CMAKE_OBJCOPY}\" --remove-section=.comment
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/${_sandgate_binary}\")
    endif()")
endforeach()

# Man pages and changelogs are installed gzipped (Debian policy 12.1 and 12.7; man(1) reads
# them either way). gzip runs at install time, not at build time, so that `cpack` right after
# building only sandgate and sandgate-inner finds them; -n keeps names and times out of the
# archive so that two builds of one tree give identical packages. Each file is written under a
# temporary name and renamed, so two installs from one build tree at once never see half a file.
find_program(SANDGATE_GZIP gzip REQUIRED)
file(MAKE_DIRECTORY "${_sandgate_gz_dir}")
function(_sandgate_install_gzipped source destination)
  get_filename_component(name "${source}" NAME)
  if(ARGC GREATER 2)
    set(name "${ARGV2}")
  endif()
  set(gz "${_sandgate_gz_dir}/${name}.gz")
  install(CODE "
    string(RANDOM LENGTH 12 tag)
    execute_process(COMMAND \"${SANDGATE_GZIP}\" -9nc \"${source}\"
                    OUTPUT_FILE \"${gz}.\${tag}\" RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR \"gzip ${source}: \${rc}\")
    endif()
    file(RENAME \"${gz}.\${tag}\" \"${gz}\")")
  install(FILES "${gz}" DESTINATION "${destination}")
endfunction()

# A file that may not exist yet, installed when it does exist at install time. install(FILES
# ... OPTIONAL) would decide nothing at configure time either, but would still create the
# empty destination directory, which then ends up in the package.
function(_sandgate_install_if_present source destination)
  install(CODE "
    if(EXISTS \"${source}\")
      file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${destination}\" TYPE FILE
           FILES \"${source}\")
    endif()")
endfunction()

_sandgate_install_gzipped("${PROJECT_SOURCE_DIR}/docs/sandgate.1" "${CMAKE_INSTALL_MANDIR}/man1")
_sandgate_install_gzipped("${PROJECT_SOURCE_DIR}/docs/sandgate-inner.1" "${CMAKE_INSTALL_MANDIR}/man1")

# bash-completion loads completions/NAME on demand when NAME is first completed.
install(FILES "${PROJECT_SOURCE_DIR}/completions/sandgate.bash"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/bash-completion/completions" RENAME sandgate)

# The JSON schemas are data a controller validates against, not prose: share/sandgate.
install(FILES "${PROJECT_SOURCE_DIR}/docs/protocol.schema.json" DESTINATION "${SANDGATE_DATADIR}")
_sandgate_install_if_present("${PROJECT_SOURCE_DIR}/docs/policy.schema.json" "${SANDGATE_DATADIR}")

# The Python client where Debian's python3 imports it from (`import sandgate`), without a
# Python build step: it is a single module with no compiled part.
_sandgate_install_if_present("${PROJECT_SOURCE_DIR}/clients/python/sandgate.py"
                             lib/python3/dist-packages)

# The examples as they are in the checkout, executable bits included (they are scripts).
# __pycache__ is what running them leaves behind, never part of them.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/examples/" DESTINATION "${SANDGATE_DOCDIR}/examples"
        USE_SOURCE_PERMISSIONS
        PATTERN "__pycache__" EXCLUDE
        PATTERN "*.pyc" EXCLUDE)

# The copyright file and the changelog every Debian package carries (policy 12.5, 12.7); they
# are just as right in any other install's doc directory.
install(FILES "${_sandgate_packaging}/copyright" DESTINATION "${SANDGATE_DOCDIR}")
# Maintainer, in the package and in its changelog: the project's committers' address.
set(CPACK_PACKAGE_CONTACT
    "Seed 4db52f34 maintainers <maintainers@users.noreply.r-seed-4db52f34.example>"
    CACHE STRING "Maintainer field of the Debian package")
set(SANDGATE_DEBIAN_RELEASE 1 CACHE STRING "Debian revision of the package (the -N in its version)")
configure_file("${_sandgate_packaging}/changelog.Debian.in" "${_sandgate_gz_dir}/changelog.Debian"
               @ONLY)
_sandgate_install_gzipped("${_sandgate_gz_dir}/changelog.Debian" "${SANDGATE_DOCDIR}")

# sandgate-inner is static and freestanding on purpose (it is exec'd inside every sandbox; no
# loader, no libc, no relocations); lintian flags any static binary unless the package says so.
install(FILES "${_sandgate_packaging}/lintian-overrides"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/lintian/overrides" RENAME sandgate)

# --- CPack: the Debian package ---------------------------------------------------------------

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sandgate)
set(CPACK_PACKAGE_VENDOR "sandgate")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "sandbox whose network connections wait for approval")
# The extended description (the synopsis above is its first line); CPack indents each line.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"sandgate runs a command (typically one a coding agent wrote) inside a Linux
sandbox built with bubblewrap or Landlock: a read-only root, writable
directories of the caller's choosing, protected .git directories, no
capabilities. Every network connection the command attempts is held before
the syscall proceeds until a policy, a person at the terminal or a
controlling program speaking JSON-RPC over stdio allows it, denies it or
routes it through an HTTP or SOCKS5 proxy.")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${SANDGATE_DEBIAN_RELEASE}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # sandgate_0.1.0-1_amd64.deb
# libc through dpkg-shlibdeps (the only shared library the binaries load); bubblewrap is run
# as a program, which no tool can find out, so it is named here with the oldest version
# sandgate accepts (vendor/bubblewrap checks it at run time too).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "bubblewrap (>= 0.8.0)")
# The example controllers and the Python client are Python 3; sandgate itself is not.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)

# `cpack -G DEB` builds the preinstall target first, which with Makefiles is `all`: with tests
# on, the whole suite. CPackPrebuiltConfig.cmake makes the same package from what is built
# already (the package holds only sandgate and sandgate-inner), by running this tree's install
# script itself instead: for `cmake --build BUILD --target sandgate sandgate-inner` followed
# by `cpack --config BUILD/CPackPrebuiltConfig.cmake`, and for tests/package, which must not
# start a build in the tree the suite is running from.
file(CONFIGURE OUTPUT "${PROJECT_BINARY_DIR}/CPackPrebuiltConfig.cmake" @ONLY CONTENT [[
# Generated by cmake/install.cmake: CPackConfig.cmake without building anything first.
include("@PROJECT_BINARY_DIR@/CPackConfig.cmake")
set(CPACK_INSTALL_CMAKE_PROJECTS "")
set(CPACK_INSTALL_SCRIPTS "@PROJECT_BINARY_DIR@/CPackPrebuiltInstall.cmake")
]])
file(CONFIGURE OUTPUT "${PROJECT_BINARY_DIR}/CPackPrebuiltInstall.cmake" @ONLY CONTENT [[
# Generated by cmake/install.cmake; run by cpack with DESTDIR set to its staging directory.
# cpack sets prefix and stripping itself only for the projects it installs, so here by hand.
set(CMAKE_INSTALL_PREFIX "${CPACK_PACKAGING_INSTALL_PREFIX}")
if(CPACK_STRIP_FILES)
  set(CMAKE_INSTALL_DO_STRIP 1)
endif()
include("@PROJECT_BINARY_DIR@/cmake_install.cmake")
]])
