#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages (CI starts from a bare machine).
# Debian packages are installed only when missing and only when running as root.
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-prereqs: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test-prereqs: missing ${need[*]} (not root: the tests that need them will skip)"
  fi
fi
# Chromium for the dashboard test (test/dashboard): playwright-core drives Debian's build and never
# downloads one. Optional: when it cannot be installed, that test skips and says why.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-prereqs: installing chromium"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "test-prereqs: could not install chromium (the dashboard test will skip)"
  else
    echo "test-prereqs: missing chromium (not root: the dashboard test will skip)"
  fi
fi
