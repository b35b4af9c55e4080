#!/usr/bin/env bash
# Set up a fresh Debian 12 machine and run the whole test suite, as CI does:
# 1. a gcc build with -Werror: unit, fuzz-corpus, interop and cluster tests;
# 2. the same unit and interop tests under AddressSanitizer + UBSan;
# 3. libFuzzer targets (clang) for a bounded time.
# Exits non-zero if anything fails; prints "N passed, N failed" last.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "$(id -u)" = 0 ] || { echo "test-all: run as root (apt-get, losetup, netns)"; exit 2; }
tools/install-deps.sh || exit 1
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
passed=0 failed=0
step() {  # step NAME CMD...: run one step, count it
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); echo "=== $name: ok"
  else failed=$((failed + 1)); echo "=== $name: FAILED"; fi
}
setup() {  # setup DIR ARGS...: configure a build dir from scratch
  local dir=$1; shift
  rm -rf "$dir" && meson setup "$dir" --werror "$@" >"$dir.setup.log" 2>&1 ||
    { cat "$dir.setup.log"; return 1; }
  ninja -C "$dir"
}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
B=${BUILD_ROOT:-$top/build-ci}
step "build (gcc, -Werror)" setup "$B-gcc"
step "unit + fuzz corpus" meson test -C "$B-gcc" --suite unit --suite fuzz --print-errorlogs
step "interop" meson test -C "$B-gcc" --suite interop --print-errorlogs
step "replication" meson test -C "$B-gcc" --suite repl --print-errorlogs
step "roles" meson test -C "$B-gcc" --suite roles --print-errorlogs
if meson introspect "$B-gcc" --tests 2>/dev/null | grep -q '"cluster"'; then
  step "cluster" meson test -C "$B-gcc" --suite cluster --print-errorlogs
fi
step "build (ASan+UBSan)" setup "$B-asan" -Db_sanitize=address,undefined -Db_lundef=false
step "unit under ASan+UBSan" meson test -C "$B-asan" --suite unit --suite fuzz --print-errorlogs
step "interop under ASan+UBSan" meson test -C "$B-asan" --suite interop --print-errorlogs --timeout-multiplier 3
step "replication under ASan+UBSan" meson test -C "$B-asan" --suite repl --print-errorlogs --timeout-multiplier 3
step "roles under ASan+UBSan" meson test -C "$B-asan" --suite roles --print-errorlogs --timeout-multiplier 3
# The benchmarks build with -O3; GCC's warnings differ there, so build it too.
step "build (release, -Werror)" setup "$B-release" -Dbuildtype=release
if command -v clang >/dev/null; then
  setup_clang() { CC=clang setup "$@"; }
  step "build (clang, libFuzzer)" setup_clang "$B-fuzz" -Dfuzz=enabled
  step "libFuzzer ${FUZZ_SECONDS}s per target" tests/fuzz/run-fuzzers.sh "$B-fuzz/tests/fuzz" "$FUZZ_SECONDS"
fi
echo "test-all: $passed passed, $failed failed"
[ "$failed" = 0 ]
