#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run the whole suite.
# Browser tests drive Debian's chromium with Playwright (Playwright's own browser download is not used).
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install -q -r requirements-dev.txt

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -q && apt-get install -y -q chromium >/dev/null
  else
    sudo apt-get update -q && sudo apt-get install -y -q chromium >/dev/null
  fi
fi

ruff check wiseft_core app.py app_pages tests benchmarks
python -m pytest -q "$@"
