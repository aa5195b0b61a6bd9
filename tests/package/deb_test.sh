#!/bin/bash
# The Debian package, built from this build tree as a user would build it, then taken apart:
# lintian without errors, Debian's dependencies, root:root and sane modes, stripped binaries,
# every file in place, and the installed sandgate running a real sandbox as root and as the
# unprivileged test account.
#
#   deb_test.sh BUILD_DIR SOURCE_DIR VERSION
#
# cpack runs with CPackPrebuiltConfig.cmake (cmake/install.cmake): it installs what is built
# already into a staging directory of its own, instead of building `all` first in the tree
# the suite is running from. Everything it writes goes to a fresh scratch directory, so runs
# in parallel with other tests (or with themselves) do not meet.
set -u

build=$1
source=$2
version=$3
user=${SANDGATE_TEST_USER:-sandgate-test}

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

for tool in cpack dpkg-deb lintian readelf; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool is missing (scripts/install-deps.sh installs it)"
        exit 0
    fi
done

# Root-owned and 0755 all the way down, so that the unprivileged account can run what is
# unpacked here and nobody else can change it meanwhile.
scratch=$(mktemp -d /tmp/sandgate-deb-test.XXXXXX) || exit 1
trap 'rm -rf "$scratch"' EXIT
chmod 0755 "$scratch"

echo "--- cpack"
if ! cpack --config "$build/CPackPrebuiltConfig.cmake" -B "$scratch/out" >"$scratch/cpack.log" 2>&1; then
    cat "$scratch/cpack.log"
    fail "cpack failed"
    exit 1
fi
shopt -s nullglob
debs=("$scratch"/out/sandgate_*.deb)
if ((${#debs[@]} != 1)); then
    cat "$scratch/cpack.log"
    fail "expected one sandgate_*.deb, found ${#debs[@]}"
    exit 1
fi
deb=${debs[0]}
arch=$(dpkg --print-architecture)
name=${deb##*/}
[[ $name == sandgate_${version}-*_${arch}.deb ]] ||
    fail "package file $name is not sandgate_${version}-REVISION_${arch}.deb"
echo "$name"

echo "--- lintian"
# Errors fail the test; warnings are listed (and as few as reasonable, see packaging/).
lintian_out=$(lintian --fail-on error "$deb" 2>&1)
lintian_rc=$?
lintian_out=$(grep -v '^running with root privileges is not recommended' <<<"$lintian_out")
[[ -n $lintian_out ]] && echo "$lintian_out"
((lintian_rc == 0)) || fail "lintian reports errors (exit $lintian_rc)"
grep -q '^E: ' <<<"$lintian_out" && fail "lintian: $(grep '^E: ' <<<"$lintian_out" | head -5)"

echo "--- control"
dpkg-deb -f "$deb" Package Version Architecture Maintainer Section Depends
depends=$(dpkg-deb -f "$deb" Depends)
grep -Eq '(^|, )bubblewrap( |,|$)' <<<"$depends" || fail "Depends does not name bubblewrap: $depends"
grep -Eq '(^|, )libc6( |,|$)' <<<"$depends" || fail "Depends does not name libc6: $depends"
[[ $(dpkg-deb -f "$deb" Version) == "$version"-* ]] || fail "Version is not $version-REVISION"
[[ -n $(dpkg-deb -f "$deb" Maintainer) ]] || fail "no Maintainer"

echo "--- contents"
# Every member root:root; directories 0755; files 0644 but the binaries and the example
# scripts, which are 0755.
while read -r mode owner _ _ _ path _; do
    [[ $owner == root/root ]] || fail "$path is owned by $owner"
    case $path in
        */) [[ $mode == drwxr-xr-x ]] || fail "directory $path has mode $mode" ;;
        ./usr/bin/* | ./usr/share/doc/sandgate/examples/*.py)
            [[ $mode == -rwxr-xr-x ]] || fail "$path has mode $mode, not 0755" ;;
        *) [[ $mode == -rw-r--r-- ]] || fail "$path has mode $mode, not 0644" ;;
    esac
done < <(dpkg-deb -c "$deb")

root=$scratch/root
dpkg -x "$deb" "$root" || { fail "dpkg -x failed"; exit 1; }
for file in usr/bin/sandgate usr/bin/sandgate-inner \
    usr/share/man/man1/sandgate.1.gz usr/share/man/man1/sandgate-inner.1.gz \
    usr/share/bash-completion/completions/sandgate \
    usr/share/doc/sandgate/copyright usr/share/doc/sandgate/changelog.Debian.gz \
    usr/share/sandgate/protocol.schema.json; do
    [[ -f $root/$file ]] || fail "the package has no /$file"
done
[[ -d $root/usr/share/doc/sandgate/examples ]] || fail "the package has no examples directory"
for binary in sandgate sandgate-inner; do
    if readelf -S "$root/usr/bin/$binary" | grep -Eq '\.(symtab|debug_info)\b'; then
        fail "/usr/bin/$binary is not stripped"
    fi
done
# What was unpacked is what the build made: the man page and completion of this checkout.
zcat "$root/usr/share/man/man1/sandgate.1.gz" | cmp -s - "$source/docs/sandgate.1" ||
    fail "the packaged sandgate.1.gz is not docs/sandgate.1"
man_warnings=$(MANWIDTH=80 man --warnings -l "$root/usr/share/man/man1/sandgate.1.gz" 2>&1 >/dev/null)
[[ -z $man_warnings ]] || fail "the packaged man page renders with warnings: $man_warnings"
bash -n "$root/usr/share/bash-completion/completions/sandgate" || fail "the completion is not valid bash"

echo "--- the installed sandgate"
installed=$root/usr/bin/sandgate
got=$("$installed" --version 2>&1)
[[ $got == "sandgate $version" ]] || fail "sandgate --version says '$got', expected 'sandgate $version'"
# It runs the packaged inner stage, next to itself.
"$installed" debug 2>&1 | grep -qF "$root/usr/bin/sandgate-inner" ||
    fail "sandgate debug does not name $root/usr/bin/sandgate-inner as its inner stage"

got=$(cd /tmp && "$installed" run --network off -- /bin/echo hi 2>&1)
rc=$?
[[ $rc == 0 && $got == hi ]] || fail "as root: sandgate run --network off -- /bin/echo hi: exit $rc, output '$got'"

if [[ $(id -u) != 0 ]]; then
    echo "(not root: the run above was the unprivileged one)"
elif ! uid=$(id -u "$user" 2>/dev/null) || ! gid=$(id -g "$user" 2>/dev/null); then
    echo "SKIP (part): no account $user (scripts/create-test-user.sh); ran as root only"
else
    as_user=(setpriv --reuid="$uid" --regid="$gid" --init-groups --inh-caps=-all --bounding-set=-all --)
    got=$(cd /tmp && "${as_user[@]}" "$installed" run --network off -- /bin/echo hi 2>&1)
    rc=$?
    [[ $rc == 0 && $got == hi ]] ||
        fail "as $user: sandgate run --network off -- /bin/echo hi: exit $rc, output '$got'"
fi

if ((failures > 0)); then
    echo "$failures failure(s)"
    exit 1
fi
echo "the package builds, passes lintian and runs"
