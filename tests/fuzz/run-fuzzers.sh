#!/bin/sh
# Usage: run-fuzzers.sh DIR SECONDS
#
# Runs every libFuzzer binary fuzz-* in DIR (the tests/fuzz build directory)
# for SECONDS each (-max_total_time), starting from a scratch copy of its
# seed corpus tests/fuzz/corpus/<name>/, so the checked-in corpus is never
# modified. Exits 0 if no fuzzer found a crash, 1 if any did (the crashing
# inputs are kept and their paths printed), 77 if DIR holds no fuzzer.
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 DIR SECONDS" >&2
	exit 2
fi
dir=$1
secs=$2
case $secs in
''|*[!0-9]*) echo "$0: SECONDS must be a number" >&2; exit 2 ;;
esac

srcdir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/run-fuzzers.XXXXXX") || exit 1
failed=0
ran=0

# fuzzers live in DIR and in its subdirectories (peer/); each one's seeds
# sit in corpus/<name> next to its source
for bin in "$dir"/fuzz-* "$dir"/*/fuzz-*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	name=$(basename "$bin")
	case $name in
	*-replay|*.*) continue ;;	# replay mains, objects, logs
	esac
	ran=$((ran + 1))
	mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
	sub=$(basename "$(dirname "$bin")")
	if [ -d "$srcdir/corpus/$name" ]; then
		cp -R "$srcdir/corpus/$name/." "$work/$name/corpus/"
	elif [ -d "$srcdir/$sub/corpus" ]; then
		cp -R "$srcdir/$sub/corpus/." "$work/$name/corpus/"
	fi
	echo "== $name: ${secs}s"
	if "$bin" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$work/$name/artifacts/" \
		"$work/$name/corpus" >"$work/$name/log" 2>&1; then
		tail -n 3 "$work/$name/log"
	else
		failed=1
		echo "== $name FAILED; log: $work/$name/log" >&2
		tail -n 40 "$work/$name/log" >&2
		ls -l "$work/$name/artifacts" >&2
	fi
done

if [ "$ran" -eq 0 ]; then
	echo "$0: no libFuzzer binaries in $dir (configure with clang)" >&2
	rm -rf "$work"
	exit 77
fi
if [ "$failed" -ne 0 ]; then
	echo "crash inputs kept under $work" >&2
	exit 1
fi
rm -rf "$work"
exit 0
