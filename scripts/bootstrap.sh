#!/usr/bin/env bash
# Make sure uv is installed and the project's environment is in sync with uv.lock.
# --browser also installs Chromium (Debian's package) for the browser tests, if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
  export PATH="$HOME/.local/bin:$PATH"
fi
if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv (from PyPI)..." >&2
  python3 -m pip install --user --quiet uv || python3 -m pip install --quiet --break-system-packages uv
  export PATH="$HOME/.local/bin:$PATH"
fi
uv sync --frozen --quiet

# CJK and emoji fonts too: without them, Chinese text and icons render as boxes.
if [ "${1:-}" = "--browser" ] && { [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "wqy\|noto sans cjk" || ! fc-list 2>/dev/null | grep -qi emoji; }; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium and a CJK font for the browser tests..." >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-wqy-microhei fonts-noto-color-emoji >/dev/null
  else
    echo "Chromium is missing and apt-get is not available: browser tests will be skipped" >&2
  fi
fi
