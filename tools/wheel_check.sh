#!/usr/bin/env bash
# The typed import, checked as a user gets it: build the wheel, install it into a fresh
# venv, and run `mypy --strict` on the user files of tests/typing (pass_*.py) from a
# directory outside the source tree, against that venv's site-packages only. Also checks
# that the wheel ships py.typed and the pytest plugin's entry point, and that the
# installed version is the one the package states.
# Usage: tools/wheel_check.sh PYTHON (an interpreter with mypy, e.g. .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
arg=${1:?usage: tools/wheel_check.sh PYTHON}
python=$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")
root=$(pwd)
out=$root/build/wheel-check
rm -rf "$out"
mkdir -p "$out/dist" "$out/user"

"$python" -m pip wheel -q --no-deps -w "$out/dist" . >"$out/build.log" 2>&1 || {
    echo "wheel_check: building the wheel failed:"; tail -20 "$out/build.log"; exit 1; }
wheel=$(ls "$out"/dist/refasync-*.whl)
"$python" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
missing = [n for n in ("refasync/py.typed", "refasync/__init__.py") if n not in names]
strays = [n for n in names if n.split("/")[0] in ("tests", "models", "stress", "conformance")]
entry = [n for n in names if n.endswith("entry_points.txt")]
assert not missing, f"the wheel lacks {missing}"
assert not strays, f"the wheel ships test code: {strays[:5]}"
text = zipfile.ZipFile(sys.argv[1]).read(entry[0]).decode() if entry else ""
assert "[pytest11]" in text and "refasync.pytest_plugin" in text, \
    f"the wheel does not register the pytest plugin:\n{text}"
PY

"$python" -m venv "$out/venv"
"$out/venv/bin/python" -m pip install -q --no-deps "$wheel"
cp tests/typing/pass_*.py "$out/user/"
cd "$out/user"
"$out/venv/bin/python" -c '
import importlib.metadata as m, refasync, sys
assert "/wheel-check/venv/" in refasync.__file__, refasync.__file__
assert m.version("refasync") == refasync.__version__, (m.version("refasync"), refasync.__version__)
'
: >"$out/empty.ini"
"$python" -m mypy --config-file "$out/empty.ini" --strict --no-incremental \
    --python-executable "$out/venv/bin/python" --verbose pass_*.py >"$out/mypy.log" 2>&1 || {
    grep -v "^LOG:" "$out/mypy.log"; echo "wheel_check: mypy --strict failed on the installed wheel"; exit 1; }
found=$(grep -E "LOG: +Found source: .*refasync|refasync/__init__\.py" "$out/mypy.log" | grep -o "/[^ ]*refasync/__init__\.py" | sort -u)
case "$found" in
    *"/wheel-check/venv/"*) ;;
    *) echo "wheel_check: mypy did not read refasync from the wheel's venv (found: ${found:-nothing})"; exit 1 ;;
esac
if grep -o "/[^ ]*refasync/__init__\.py" "$out/mypy.log" | grep -qv "/wheel-check/venv/"; then
    echo "wheel_check: mypy also read refasync from the source tree"; exit 1
fi
grep -v "^LOG:" "$out/mypy.log" | tail -1
echo "wheel_check: $(basename "$wheel") installs and type-checks (mypy --strict, $(ls pass_*.py | wc -l) user files)"
