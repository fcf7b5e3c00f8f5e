"""Grade the original library (PyPI ``async`` 0.6.2) with the conformance vectors.

Its package name is a keyword in Python 3, so this copies it, outside the repository
(into a cache directory), as the package ``async_orig`` with only mechanical Python 3
fixes, then runs ``python -m conformance`` against it through the module adapter with
the original's expected-failures file (each entry names a documented departure):

    python tools/original_async.py            # prepare the copy and run the vectors
    python tools/original_async.py --prepare  # only print the directory to put on PYTHONPATH

The fixes (nothing else is changed):
- ``util.py``: ``threading._time`` (gone in newer Pythons) becomes ``time.monotonic``;
- ``pool.py``: the chunk count ``actual_count / task.max_chunksize`` becomes ``//``, the
  Python 2 meaning of ``/`` on ints (with ``/`` the remainder chunk is lost).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = "0.6.2"
SDIST_SHA256 = "ac6894d876e45878faae493b0cf61d0e28ec417334448ac0a6ea2229d8343051"
PACKAGE = "async_orig"
EXPECTED_FAILURES = ROOT / "conformance" / "expected-failures" / f"original-async-{VERSION}.txt"

FIXES: dict[str, list[tuple[str, str]]] = {
    "util.py": [
        ("    _time,\n", ""),
        ("import time\n", "import time\nfrom time import monotonic as _time\n"),
    ],
    "pool.py": [
        (
            "numchunks = actual_count / task.max_chunksize",
            "numchunks = actual_count // task.max_chunksize",
        )
    ],
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(tempfile.gettempdir(), "refasync-cache")
    return Path(base) / f"original-async-{VERSION}"


def prepare() -> Path:
    """The directory holding ``async_orig`` (downloaded and fixed on first use)."""
    target = cache_dir()
    package = target / PACKAGE
    if (package / "__init__.py").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    download = target / "download"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"async=={VERSION}",
            "-d",
            str(download),
        ],
        check=True,
    )
    sdist = download / f"async-{VERSION}.tar.gz"
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist}: sha256 {digest}, expected {SDIST_SHA256}")
    staging = target / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(sdist) as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.name.startswith(f"async-{VERSION}/async/")
            and m.isfile()
            and "/test/" not in m.name
        ]
        archive.extractall(staging, members=members)
    source = staging / f"async-{VERSION}" / "async"
    for name, replacements in FIXES.items():
        path = source / name
        text = path.read_text()
        for old, new in replacements:
            if old not in text:
                raise SystemExit(f"{path}: expected to find {old!r}")
            text = text.replace(old, new, 1)
        path.write_text(text)
    shutil.rmtree(package, ignore_errors=True)
    shutil.move(str(source), package)
    shutil.rmtree(staging)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--prepare", action="store_true", help="only prepare the copy; print its directory"
    )
    args, runner_args = parser.parse_known_args(argv)
    target = prepare()
    if args.prepare:
        print(target)
        return 0
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(target), str(ROOT), os.environ.get("PYTHONPATH")])
        ),
    )
    adapter = f"{sys.executable} -m conformance.adapters.module --module {PACKAGE}"
    command = [
        sys.executable,
        "-m",
        "conformance",
        "--adapter",
        adapter,
        "--expected-failures",
        str(EXPECTED_FAILURES),
        *runner_args,
    ]
    return subprocess.run(command, env=env, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
