#!/usr/bin/env bash
# Short fuzzing pass for CI: every cargo-fuzz target for ${FUZZ_SECONDS:-30} s each.
#
#   fuzz/ci.sh                      # all targets (cargo fuzz list)
#   FUZZ_SECONDS=60 fuzz/ci.sh flow_syntax trace_packet
#
# Builds once with the stable toolchain (RUSTC_BOOTSTRAP=1 admits cargo-fuzz's nightly flags),
# with debug assertions and overflow checks, then runs each target on the committed seeds
# (fuzz/corpus/TARGET, read-only) plus its working corpus (fuzz/target/corpus/TARGET, reused by
# later runs), with fuzz/dict/TARGET.dict when there is one. Prints executions per target and
# fails if any target crashed, leaked, timed out or ran out of memory; the reproducer is in
# fuzz/artifacts/TARGET (run it with `cargo fuzz run -a TARGET FILE`).
set -uo pipefail

seconds=${FUZZ_SECONDS:-30}
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked || exit 1
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

cargo fuzz build -a || exit 1

logdir=fuzz/target/ci-logs
mkdir -p "$logdir"
failed=()
summary=()
for t in "${targets[@]}"; do
    work="fuzz/target/corpus/$t"
    mkdir -p "$work" "fuzz/corpus/$t"
    dict=()
    if [ -f "fuzz/dict/$t.dict" ]; then
        dict=("-dict=fuzz/dict/$t.dict")
    fi
    log="$logdir/$t.log"
    echo "== $t: ${seconds}s"
    cargo fuzz run -a "$t" "$work" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    execs=${execs:-?}
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        summary+=("$(printf '%-16s %12s executions  FAILED (exit %d, log %s)' "$t" "$execs" "$rc" "$log")")
        grep -E '^(==[0-9]+==|thread .* panicked|SUMMARY|artifact_prefix|Test unit written)' "$log" | head -20
    else
        summary+=("$(printf '%-16s %12s executions  ok' "$t" "$execs")")
    fi
done

echo
echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
