#!/usr/bin/env bash
# Runs each fuzz target for a while: `tests/fuzz/run.sh [seconds per target]
# [target...]` (default 60 s each, every target). Installs cargo-fuzz from
# crates.io if it is missing. cargo-fuzz needs nightly compiler features;
# RUSTC_BOOTSTRAP=1 enables them on a stable toolchain. A crash stops the
# script; its input is kept under tests/fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(duration cron json_input)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    echo "== fuzzing $target for ${seconds}s"
    mkdir -p "corpus/$target"
    cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=4096
done
