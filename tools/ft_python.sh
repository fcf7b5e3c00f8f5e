#!/usr/bin/env bash
# Free-threaded CPython 3.13 (configure --disable-gil), built once into a cache outside the
# repository; later runs only check it.
#
#   tools/ft_python.sh deps    install the build dependencies that are missing (apt-get, root)
#   tools/ft_python.sh build   build if needed, check, print the interpreter's path (stdout)
#   tools/ft_python.sh path    print where the interpreter is (or will be)
#
# Source: the upstream tarball carried by Debian 13's source package python3.13, fetched
# with `apt-get source --download-only --tar-only` (apt checks its sha256 against the signed
# Sources index). apt runs on a private state directory whose only entry is a trixie deb-src
# line on the mirror this machine already uses: the system's apt configuration is not
# changed and no trixie binary package is installed. Build dependencies come from the
# machine's own release. No PGO/LTO: about 2 minutes on 2 cores.
#
# Environment: REFASYNC_CACHE (default ~/.cache/refasync), FT_SUITE (default trixie).
set -euo pipefail

CACHE="${REFASYNC_CACHE:-$HOME/.cache/refasync}"
SUITE="${FT_SUITE:-trixie}"
PREFIX="$CACHE/python3.13t"
PYTHON="$PREFIX/bin/python3.13t"
STAMP="$PREFIX/.refasync-built"
BUILD_DEPS=(gcc make pkg-config libffi-dev zlib1g-dev libssl-dev libbz2-dev liblzma-dev
    libsqlite3-dev libreadline-dev libgdbm-dev libgdbm-compat-dev)
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

say() { echo "ft_python: $*" >&2; }
die() { say "$*"; exit 1; }

# The interpreter is usable: 3.13, built free-threaded, GIL off at start-up with no
# PYTHON_GIL in the environment, and the extension modules the test tools need.
check() {
    [[ -f "$STAMP" && -x "$PYTHON" ]] || return 1
    env -u PYTHON_GIL "$PYTHON" -c '
import sys, sysconfig
assert sys.version_info[:2] == (3, 13), sys.version
assert sysconfig.get_config_var("Py_GIL_DISABLED") == 1, "not a --disable-gil build"
assert not sys._is_gil_enabled(), "the GIL is on at start-up"
import ctypes, ssl, sqlite3, bz2, lzma, zlib, readline, dbm.gnu, _decimal, venv, ensurepip
' >&2
}

missing_deps() {
    local pkg
    for pkg in "${BUILD_DEPS[@]}"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' \
            || echo "$pkg"
    done
}

install_deps() {
    local missing
    missing=$(missing_deps)
    [[ -z "$missing" ]] && return 0
    # shellcheck disable=SC2086
    say "installing build dependencies:" $missing
    [[ $(id -u) -eq 0 ]] || die "not root: run  apt-get install $(echo $missing)"
    apt-get update -q -o DPkg::Lock::Timeout=600
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=600 $missing
}

# The Debian mirror this machine's apt already uses (deb822 URIs: or one-line deb entries).
system_mirror() {
    local uri
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n' | grep -E '/debian/?$' | head -n1 || true)
    if [[ -z "$uri" ]]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            | grep -E '/debian/?$' | head -n1 || true)
    fi
    [[ -n "$uri" ]] || die "no Debian mirror found in /etc/apt"
    echo "${uri%/}"
}

# Download the upstream tarball into $CACHE/src; print its path.
fetch_tarball() {
    local apt_dir="$CACHE/apt" src="$CACHE/src" tarball
    tarball=$(ls "$src"/python3.13_*.orig.tar.xz 2>/dev/null | head -n1 || true)
    if [[ -n "$tarball" ]]; then echo "$tarball"; return 0; fi
    mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$src"
    cat >"$apt_dir/sources.list.d/$SUITE-src.sources" <<EOF
Types: deb-src
URIs: $(system_mirror)
Suites: $SUITE
Components: main
Signed-By: $KEYRING
EOF
    local opts=(
        -o "Dir::Etc::sourcelist=/dev/null"
        -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
        -o "Dir::State::Lists=$apt_dir/lists"
        -o "Dir::Cache=$apt_dir/cache"
        -o "APT::Sandbox::User=root"
    )
    say "fetching the $SUITE source index"
    apt-get "${opts[@]}" update -q >&2
    say "downloading python3.13's upstream tarball ($SUITE source package)"
    (cd "$src" && apt-get "${opts[@]}" source --download-only --tar-only python3.13 >&2)
    tarball=$(ls "$src"/python3.13_*.orig.tar.xz 2>/dev/null | head -n1 || true)
    [[ -n "$tarball" ]] || die "apt-get source left no python3.13_*.orig.tar.xz in $src"
    echo "$tarball"
}

build() {
    local missing tarball work
    missing=$(missing_deps)
    # shellcheck disable=SC2086
    [[ -z "$missing" ]] || die "missing build dependencies (run: tools/ft_python.sh deps):" $missing
    tarball=$(fetch_tarball)
    work="$CACHE/build"
    rm -rf "$work" "$PREFIX"
    mkdir -p "$work"
    say "unpacking $(basename "$tarball")"
    tar -xJf "$tarball" -C "$work" --strip-components=1
    say "configure --disable-gil --prefix=$PREFIX"
    (cd "$work" && ./configure -q --disable-gil --prefix="$PREFIX" >"$work/configure.out" 2>&1) \
        || { tail -n 40 "$work/configure.out" >&2; die "configure failed"; }
    say "make -j2 (about 90 s on 2 idle cores)"
    (cd "$work" && make -j2 >"$work/make.out" 2>&1) \
        || { tail -n 40 "$work/make.out" >&2; die "make failed"; }
    (cd "$work" && make install >"$work/install.out" 2>&1) \
        || { tail -n 40 "$work/install.out" >&2; die "make install failed"; }
    basename "$tarball" >"$STAMP"
    rm -rf "$work"
    check || die "the built interpreter failed its check: $PYTHON"
    say "built $PYTHON ($("$PYTHON" -VV | tr -d '\n'))"
}

case "${1:-build}" in
    deps) install_deps ;;
    path) echo "$PYTHON" ;;
    build)
        mkdir -p "$CACHE"
        exec 9>"$CACHE/.build.lock"
        flock 9
        if check; then
            say "cached: $PYTHON"
        else
            build
        fi
        echo "$PYTHON"
        ;;
    *) die "usage: $0 deps|build|path" ;;
esac
