#!/bin/sh
# Make sure a headless Chromium is on PATH, for conformance/test_html.py (which opens the
# failure timeline in a real browser). Installs Debian's `chromium` package when it is
# missing and we can (root with apt-get); otherwise says why not and exits 1, and the
# test then skips with that reason. CI (.ci/run) calls this before `make test`.
set -u
for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
        echo "ensure_chromium: $(command -v "$name") present"
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: chromium is missing and there is no apt-get to install it" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "ensure_chromium: chromium is missing and installing it needs root (apt-get install -y chromium)" >&2
    exit 1
fi
echo "ensure_chromium: installing chromium (apt-get)"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/tmp/ensure_chromium.log 2>&1; then
    echo "ensure_chromium: apt-get install chromium failed (log: /tmp/ensure_chromium.log)" >&2
    tail -5 /tmp/ensure_chromium.log >&2
    exit 1
fi
echo "ensure_chromium: $(command -v chromium) installed"
