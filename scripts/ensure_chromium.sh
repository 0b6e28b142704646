#!/usr/bin/env bash
# Make sure Debian's headless-capable chromium (tests/e2e/test_visual.py) and the two CJK fonts
# a Debian or Ubuntu machine may have (the Chinese report's figures and pages; each printed
# with in tests/e2e/test_textlayer.py) are installed. Idempotent: a no-op when all are there.
# Needs root (CI runs as root). fonts-wqy-microhei is 1.6 MB, fonts-noto-cjk 56 MB.
set -euo pipefail

have_cjk() {
    fc-list :lang=zh 2>/dev/null | grep -q . &&
        [ -d /usr/share/fonts/truetype/wqy ] && [ -d /usr/share/fonts/opentype/noto ]
}
if command -v chromium >/dev/null 2>&1 && have_cjk; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_chromium: chromium or a CJK font is missing and installing them needs root" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core fonts-wqy-microhei fonts-noto-cjk fontconfig >/dev/null
command -v chromium >/dev/null && have_cjk
