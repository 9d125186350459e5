#!/usr/bin/env sh
# Install Debian's chromium (used by tests/analysis/test_report_browser.py to render report.html
# headless, and to take docs/report.png). Idempotent: does nothing when chromium is on PATH.
# Runs apt-get directly as root, through sudo otherwise (when sudo is available).
set -eu

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: apt-get not found (not a Debian/Ubuntu system); install chromium yourself" >&2
    exit 3
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "install-chromium: not root and no passwordless sudo; run as root: apt-get install -y chromium" >&2
    exit 3
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-liberation
command -v chromium >/dev/null 2>&1
