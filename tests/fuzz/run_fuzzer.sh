#!/usr/bin/env bash
# Builds one libFuzzer target with clang++ and fuzzes it for a bounded time; fails if the fuzzer
# finds a crash, a sanitizer report, a leak or a timeout. ctest runs it (label fuzz, see
# CMakeLists.txt here); by hand, e.g. from the source tree:
#   tests/fuzz/run_fuzzer.sh --cxx clang++ --source-dir . --out build-dns/fuzz-dns \
#     --corpus tests/fuzz/corpus/dns --seconds 60 \
#     -- tests/fuzz/dns_parser_fuzz.cc approvals/dns_message.cc approvals/dns_names.cc \
#        approvals/address.cc approvals/domain.cc
# The first source is the target. The binary is rebuilt when a source, an approvals/ header or
# the command line changed. The fuzzer runs on OUT/corpus, a copy of the seed corpus that keeps
# what earlier runs found; the committed seeds are never written. Crash inputs land in
# OUT/artifacts/.
#
# Exit status: 0 no finding, 1 a finding or a build failure, 77 skipped (no clang++, or it
# cannot link -fsanitize=fuzzer); CMake sets SKIP_RETURN_CODE 77, and libFuzzer's own default
# error exit code (also 77) is overridden below so a finding is never reported as a skip.
set -euo pipefail

readonly kSkip=77
cxx=""
source_dir=""
out=""
corpus=""
seconds=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cxx) cxx="$2"; shift 2 ;;
    --source-dir) source_dir="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --corpus) corpus="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "run_fuzzer.sh: unknown argument $1" >&2; exit 1 ;;
  esac
done
sources=("$@")
if [[ -z "$source_dir" || -z "$out" || -z "$corpus" || ${#sources[@]} -eq 0 ]]; then
  echo "usage: run_fuzzer.sh --cxx CLANG++ --source-dir DIR --out DIR --corpus DIR" \
    "[--seconds N] -- TARGET.cc SOURCES.cc..." >&2
  exit 1
fi
if [[ -z "$cxx" || "$cxx" == *NOTFOUND ]]; then
  echo "SKIPPED: no clang++ was found when configuring (libFuzzer needs clang; install clang" \
    "and libclang-rt-dev, or set -DSANDGATE_FUZZ_CXX=/path/to/clang++)"
  exit "$kSkip"
fi

cd "$source_dir"
mkdir -p "$out"
name="$(basename "${sources[0]}" .cc)"
binary="$out/$name"
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I "$source_dir")

# Can this clang link a libFuzzer binary at all? If not, that is a missing package, not a bug.
probe_dir="$out/probe"
mkdir -p "$probe_dir"
printf '%s\n' '#include <cstddef>' '#include <cstdint>' \
  'extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }' \
  >"$probe_dir/probe.cc"
if ! probe_log="$("$cxx" "${flags[@]}" "$probe_dir/probe.cc" -o "$probe_dir/probe" 2>&1)"; then
  echo "SKIPPED: $cxx cannot link -fsanitize=fuzzer (install libclang-rt-dev):"
  echo "$probe_log"
  exit "$kSkip"
fi

command_line="$cxx ${flags[*]} ${sources[*]}"
stamp="$out/$name.command"
rebuild=no
if [[ ! -x "$binary" || ! -f "$stamp" || "$(cat "$stamp")" != "$command_line" ]]; then
  rebuild=yes
elif [[ -n "$(find "${sources[@]}" "$source_dir/approvals" -newer "$binary" \
              \( -name '*.cc' -o -name '*.h' \) -print -quit)" ]]; then
  rebuild=yes
fi
if [[ "$rebuild" == yes ]]; then
  echo "building $binary"
  rm -f "$stamp"
  "$cxx" "${flags[@]}" "${sources[@]}" -o "$binary"
  echo "$command_line" >"$stamp"
fi

work="$out/corpus"
artifacts="$out/artifacts/"
mkdir -p "$work" "$artifacts"
cp -n "$corpus"/* "$work"/ 2>/dev/null || true
echo "fuzzing $name for ${seconds}s on $work (seeds: $corpus)"
status=0
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -error_exitcode=1 \
  -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$artifacts" "$work" || status=$?
if [[ $status -ne 0 ]]; then
  echo "FAILED: $name exited with $status; inputs that fail are in $artifacts:" >&2
  ls -l "$artifacts" >&2 || true
  exit 1
fi
echo "PASSED: no findings in ${seconds}s"
