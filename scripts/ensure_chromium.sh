#!/usr/bin/env bash
# Make sure Debian's headless-capable chromium is installed (for tests/test_visual.py).
# Idempotent: a no-op when chromium is already on PATH. Needs root (CI runs as root).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_chromium: chromium is missing and installing it needs root" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null
