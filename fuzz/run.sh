#!/usr/bin/env bash
# Build and run one cargo-fuzz target for a fixed time.
#
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags...]
#
# The machine has only a stable toolchain; cargo-fuzz needs nightly flags (-Z sanitizer,
# coverage instrumentation), so RUSTC_BOOTSTRAP=1 lets stable rustc accept them.
# Seeds in fuzz/corpus/TARGET are read but never modified; inputs libFuzzer discovers go to
# fuzz/target/corpus/TARGET (git-ignored), which later runs reuse. Crashes land in
# fuzz/artifacts/TARGET. Builds have debug assertions and overflow checks on (-a): an integer
# overflow on untrusted input is a bug worth a crash. fuzz/dict/TARGET.dict, if present, is
# passed as the libFuzzer dictionary. FUZZ_SANITIZER picks the sanitizer as in fuzz/ci.sh
# (default `leak`, built into fuzz/target/leak and shared with ci.sh; `address` adds
# AddressSanitizer at half the speed; `none` has no leak detection).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 TARGET SECONDS [libFuzzer flags...]" >&2
    exit 2
fi
target=$1
seconds=$2
shift 2

cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

work="fuzz/target/corpus/$target"
mkdir -p "$work" "fuzz/corpus/$target"

dict=()
if [ -f "fuzz/dict/$target.dict" ]; then
    dict=("-dict=fuzz/dict/$target.dict")
fi

san=${FUZZ_SANITIZER:-leak}
build=(-a -s "$san")
if [ "$san" != address ]; then
    build+=(--target-dir "fuzz/target/$san")
fi

export RUSTC_BOOTSTRAP=1
cargo fuzz build "${build[@]}" "$target"
cargo fuzz run "${build[@]}" "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 "${dict[@]}" "$@"
