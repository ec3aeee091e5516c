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

# CJK and emoji fonts too: without them, Chinese text and icons render as boxes. ffmpeg
# makes video covers from the first frame (tested) and the demo's looping live stream.
# (fc-list's output is captured first: under pipefail, `fc-list | grep -q` fails whenever
# grep stops reading early and fc-list dies of SIGPIPE.)
needs_browser_kit() {
  [ -x /usr/bin/chromium ] || return 0
  command -v ffmpeg >/dev/null 2>&1 || return 0
  local fonts
  fonts="$(fc-list 2>/dev/null || true)"
  grep -qi "wqy\|noto sans cjk" <<<"$fonts" || return 0
  grep -qi emoji <<<"$fonts" || return 0
  return 1
}
if [ "${1:-}" = "--browser" ] && needs_browser_kit; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; }; then
    echo "installing Chromium, ffmpeg and CJK fonts for the browser tests..." >&2
    if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium ffmpeg fonts-wqy-microhei fonts-noto-color-emoji >/dev/null; }; then
      echo "could not install Chromium/ffmpeg/fonts: the tests that need them will be skipped" >&2
    fi
  else
    echo "Chromium, ffmpeg or the fonts are missing and apt-get is not available: the tests that need them will be skipped" >&2
  fi
fi
