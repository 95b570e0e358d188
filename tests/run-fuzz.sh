#!/bin/sh
# tests/run-fuzz.sh BINDIR CORPUSDIR SECONDS TARGET...
#
# Short libFuzzer run of each target from its seed corpus. For every target
# the seeds are copied to a fresh temporary directory (the source tree is
# never written), BINDIR/fuzz_TARGET runs for SECONDS seconds, and exactly
# one line is printed:
#
#   fuzz: TARGET RUNS runs in Ns ok
#   fuzz: TARGET FAILED (reason; artifact: PATH; log: PATH)
#
# A failed target keeps its work directory (crash input and full log);
# reproduce with: BINDIR/fuzz_TARGET PATH. Exit status 1 if any failed.
set -u

usage() {
	echo "usage: run-fuzz.sh BINDIR CORPUSDIR SECONDS TARGET..." >&2
	exit 2
}

[ $# -ge 4 ] || usage
bindir=$1
corpus=$2
seconds=$3
shift 3
case $seconds in
'' | *[!0-9]*) usage ;;
esac

# Longest input per target: a little above the largest valid input worth
# exploring, so the fuzzer does not waste time on huge mutations.
max_len() {
	case $1 in
	note) echo 4096 ;;
	checkpoint) echo 2048 ;;
	tilepath) echo 128 ;;
	bundle) echo 9000 ;; # a full tile of hashes is 8192 bytes
	tlogproof) echo 8192 ;;
	proof) echo 4400 ;; # header, two hashes, 128 proof hashes
	verify) echo 4096 ;; # genuine bundles are 1.8-2.2 KiB
	addcp) echo 8192 ;;  # 63 proof lines and a note with cosignatures
	event) echo 8192 ;;  # envelopes of every kind fit; the parser caps at 64 KiB
	policy) echo 8192 ;;
	dpolicy) echo 8192 ;;
	state) echo 16384 ;; # the state file cap
	*) echo 4096 ;;
	esac
}

# reason LOG STATUS: why the run failed, from the first error line of the
# log, and where: the first stack frame in a source file of ours.
reason() {
	r=$(grep -m1 -E \
		'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' \
		"$1" | sed -E 's/^==[0-9]+== ?//; s/^ERROR: //;
			s/ on address 0x[0-9a-f]+.*//; s/^.*runtime error:/UBSan:/')
	frame='^ +#[0-9]+ 0x[0-9a-f]+ in ([^ ]+) [^ ]*'
	at=$(grep -m1 -E "$frame(/merkle/|/event/|/logd/|/client/|/tests/fuzz/)[^ /]+\.[ch]" "$1" |
		sed -E "s|$frame/([^/ ]+\.[ch](:[0-9]+)?).*\$|\1 (\2)|")
	[ -n "$r" ] || r="exit status $2"
	if [ -n "$at" ]; then
		printf '%s at %s' "$r" "$at"
	else
		printf '%s' "$r"
	fi
}

# logval LOG REGEX: the last value captured by the one group of REGEX.
logval() {
	sed -n -E "s/$2/\\1/p" "$1" | tail -n 1
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

tmo=""
if command -v timeout >/dev/null 2>&1; then
	tmo="timeout -s KILL $((seconds * 3 + 120))"
fi

failed=0
for t in "$@"; do
	bin="$bindir/fuzz_$t"
	if [ ! -x "$bin" ]; then
		echo "fuzz: $t FAILED (no binary $bin)"
		failed=1
		continue
	fi
	if [ ! -d "$corpus/$t" ]; then
		echo "fuzz: $t FAILED (no seed corpus $corpus/$t)"
		failed=1
		continue
	fi
	work=$(mktemp -d "${TMPDIR:-/tmp}/ftlog-fuzz-$t.XXXXXX") || {
		echo "fuzz: $t FAILED (mktemp)"
		failed=1
		continue
	}
	mkdir "$work/corpus"
	cp -R "$corpus/$t/." "$work/corpus/"
	start=$(date +%s)
	rc=0
	# shellcheck disable=SC2086 # $tmo is a command prefix or empty
	$tmo "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len="$(max_len "$t")" -print_final_stats=1 \
		-artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1 || rc=$?
	elapsed=$(($(date +%s) - start))

	# libFuzzer's summary: "Done N runs in S second(s)".
	runs=$(logval "$work/log" '^Done ([0-9]+) runs in [0-9]+ second.*')
	[ -n "$runs" ] || runs=$(logval "$work/log" \
		'^stat::number_of_executed_runs: *([0-9]+).*')
	secs=$(logval "$work/log" '^Done [0-9]+ runs in ([0-9]+) second.*')
	[ -n "$secs" ] || secs=$elapsed

	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		echo "fuzz: $t $runs runs in ${secs}s ok"
		rm -rf "$work"
		continue
	fi
	failed=1
	art=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' \
		-o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \
		-o -name 'slow-unit-*' \) | head -n 1)
	if [ "$rc" -eq 0 ]; then
		why="no run summary"
	else
		why=$(reason "$work/log" "$rc")
	fi
	echo "fuzz: $t FAILED ($why; artifact: ${art:-none}; log: $work/log)"
	if [ -n "$art" ]; then
		echo "      reproduce: $bin $art" >&2
	fi
done
exit "$failed"
