#!/usr/bin/env bash
# Debian packages the media workers need at run time; installed only when missing.
# fonts-dejavu-core: the font libass draws burned-in captions with (no font, no captions).
# flite, espeak-ng: speech synthesizers `make bench-media` makes its test speech with (and
# tests/fixtures/speech/make_speech.sh the committed fixtures); the services never run them.
# chromium: the headless browser tests/e2e/test_e2e_console.py drives the web console with
# (through Playwright, which is pointed at /usr/bin/chromium and never downloads a browser).
# nodejs: runs the seeds' own JavaScript clients in tests/e2e/seed_clients/ (node 18+ has fetch).
# redis-server: the broker of the peers `make bench -- --peers` compares with (Celery, Dramatiq),
# started by the benchmark on a free port; mediatasks never uses Redis.
set -euo pipefail
needed=(fonts-dejavu-core flite espeak-ng chromium nodejs redis-server)
missing=()
for package in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}"
fi
