#!/usr/bin/env bash
# Fuzzing pass over every cargo-fuzz target: short for CI (${FUZZ_SECONDS:-30} s each), or a
# long run of FUZZ_RUNS executions each.
#
#   fuzz/ci.sh                      # all targets (cargo fuzz list)
#   FUZZ_SECONDS=60 fuzz/ci.sh flow_syntax trace_packet
#   FUZZ_RUNS=10000000 nice -n 19 fuzz/ci.sh      # the long runs of fuzz/README.md
#   FUZZ_RUNS=200000 FUZZ_SEED=1 FUZZ_WORK=fuzz/target/smoke-corpus fuzz/ci.sh  # reproducible
#
# `cargo test --workspace` runs it through tests/tests/fuzz_smoke.rs, reproducibly: a fixed
# number of executions per target, libFuzzer seed 1 (FUZZ_SEED, `-seed`), and a fresh
# working corpus (FUZZ_WORK, instead of the reused fuzz/target/corpus). The same commit then
# fuzzes the same inputs on every machine, so the CI gate is red only when a change is; new
# bugs are looked for by the long, time-limited or differently seeded runs.
#
# One build serves every target: `cargo fuzz build` compiles the dependencies once and links
# the eight binaries, with the stable toolchain (RUSTC_BOOTSTRAP=1 admits cargo-fuzz's nightly
# flags), debug assertions and overflow checks on. FUZZ_SANITIZER picks the sanitizer. The
# default, `leak` (LeakSanitizer alone), instruments nothing: it builds as fast as `none` and
# runs at almost its speed, yet libFuzzer reports an input that leaks. `address` adds
# AddressSanitizer: about 25% more build time and half the executions per second, for
# out-of-bounds checks that only the few audited `unsafe` blocks could need (the one the
# targets reach is also guarded by a debug assertion). Each sanitizer builds into its own
# fuzz/target/SANITIZER (`address` into fuzz/target, as cargo-fuzz does by default), or into
# FUZZ_TARGET_DIR.
#
# The binaries are then run directly (no cargo per target), FUZZ_JOBS at a time (default: the
# number of CPUs), each on the committed seeds (fuzz/corpus/TARGET, read-only) plus its
# working corpus (fuzz/target/corpus/TARGET, reused by later runs), with fuzz/dict/TARGET.dict
# when there is one. A run fails if the target crashed, leaked, took more than FUZZ_TIMEOUT
# (default 30) s on one input or went over 2 GiB; the reproducer is in fuzz/artifacts/TARGET
# (rerun it with `cargo fuzz run -a -s leak TARGET FILE`). Long runs should raise FUZZ_TIMEOUT
# when the process may be stopped (SIGSTOP) for a while: libFuzzer's per-input timer counts
# wall-clock time.
#
# Prints one line per target (executions, exec/s, coverage, corpus, wall time) and writes the
# same as tab-separated fields to FUZZ_LOGDIR/summary.tsv (default fuzz/target/ci-logs, or
# fuzz/target/long-logs with FUZZ_RUNS), beside each target's libFuzzer log:
#   target status executions exec_per_s cov ft corpus seconds
# Exit status: 0 all passed, 1 a target failed or the build failed, 77 a tool is missing and
# could not be installed (cargo-fuzz, a C++ compiler for libFuzzer).
set -uo pipefail

seconds=${FUZZ_SECONDS:-30}
runs=${FUZZ_RUNS:-}
timeout=${FUZZ_TIMEOUT:-30}
jobs=${FUZZ_JOBS:-$(nproc)}
san=${FUZZ_SANITIZER:-leak}
seed=${FUZZ_SEED:-}
work_root=${FUZZ_WORK:-fuzz/target/corpus}
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
started=$SECONDS

missing() {
    echo "ci.sh: $*" >&2
    exit 77
}

if ! command -v "${CXX:-c++}" >/dev/null; then
    missing "no C++ compiler (${CXX:-c++}) to build libFuzzer: install g++"
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked || missing "cargo-fuzz is not installed and could not be"
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "ci.sh: no fuzz targets" >&2
    exit 1
fi

target_dir=fuzz/target
if [ "$san" != address ]; then
    target_dir=fuzz/target/$san
fi
target_dir=${FUZZ_TARGET_DIR:-$target_dir}
if [ -n "$runs" ]; then
    limit=(-runs="$runs")
    what="$runs executions"
    logdir=${FUZZ_LOGDIR:-fuzz/target/long-logs}
else
    limit=(-max_total_time="$seconds")
    what="$seconds s"
    logdir=${FUZZ_LOGDIR:-fuzz/target/ci-logs}
fi
if [ -n "$seed" ]; then
    limit+=(-seed="$seed")
    what="$what, seed $seed"
fi
rm -rf "$logdir"
mkdir -p "$logdir"

echo "== building ${#targets[@]} fuzz targets (sanitizer $san, debug assertions)"
build_start=$SECONDS
build=(-a -s "$san" --target-dir "$target_dir")
if ! cargo fuzz build "${build[@]}" >"$logdir/build.log" 2>&1; then
    tail -40 "$logdir/build.log" >&2
    echo "ci.sh: build failed (log $logdir/build.log)" >&2
    exit 1
fi
echo "== built in $((SECONDS - build_start)) s"
host=$(rustc -vV | sed -n 's/^host: //p')
bindir=$target_dir/$host/release

export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0

# Runs one target; its libFuzzer output goes to $logdir/TARGET.log, its exit status to
# $logdir/TARGET.rc.
run_one() {
    local t=$1
    local work="$work_root/$t"
    mkdir -p "$work" "fuzz/corpus/$t" "fuzz/artifacts/$t"
    local dict=()
    if [ -f "fuzz/dict/$t.dict" ]; then
        dict=("-dict=fuzz/dict/$t.dict")
    fi
    local start=$SECONDS
    "$bindir/$t" "$work" "fuzz/corpus/$t" \
        -artifact_prefix="fuzz/artifacts/$t/" "${limit[@]}" -timeout="$timeout" \
        -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" >"$logdir/$t.log" 2>&1
    echo $? >"$logdir/$t.rc"
    echo $((SECONDS - start)) >"$logdir/$t.secs"
}

echo "== fuzzing $what per target, $jobs at a time"
running=0
for t in "${targets[@]}"; do
    if [ ! -x "$bindir/$t" ]; then
        echo "ci.sh: no binary for target $t in $bindir" >&2
        exit 1
    fi
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

# The last value of a libFuzzer statistic (`stat::NAME: VALUE`) or status-line field
# (`cov: N`, `ft: N`, `corp: N/SIZE`) in a log.
stat() { grep -o "stat::$1: *[0-9]*" "$2" | grep -o '[0-9]*$' | tail -1; }
field() { grep -o " $1: [0-9/a-zA-Z]*" "$2" | tail -1 | sed 's/.*: //'; }

failed=()
echo
echo "== fuzz summary ($what per target, sanitizer $san)"
printf '%-14s %-7s %12s %9s %7s %7s %13s %7s\n' target status executions exec/s cov ft corpus seconds
for t in "${targets[@]}"; do
    log=$logdir/$t.log
    rc=$(cat "$logdir/$t.rc" 2>/dev/null || echo 1)
    execs=$(stat number_of_executed_units "$log")
    speed=$(stat average_exec_per_sec "$log")
    cov=$(field cov "$log")
    ft=$(field ft "$log")
    corp=$(field corp "$log")
    secs=$(cat "$logdir/$t.secs" 2>/dev/null || echo 0)
    status=ok
    if [ "$rc" != 0 ]; then
        status=FAILED
        failed+=("$t")
    fi
    printf '%-14s %-7s %12s %9s %7s %7s %13s %7s\n' "$t" "$status" "${execs:-?}" "${speed:-?}" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}" "$secs"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$status" "${execs:-0}" "${speed:-0}" \
        "${cov:-0}" "${ft:-0}" "${corp:-0}" "$secs" >>"$logdir/summary.tsv"
done
echo "== total $((SECONDS - started)) s"
for t in "${failed[@]}"; do
    echo
    echo "== $t failed (exit $(cat "$logdir/$t.rc" 2>/dev/null), log $logdir/$t.log):"
    grep -E -A12 '^(==[0-9]+==|thread .* panicked|SUMMARY|artifact_prefix|Test unit written|Base64)' \
        "$logdir/$t.log" | head -60
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
