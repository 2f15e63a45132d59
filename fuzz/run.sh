#!/usr/bin/env bash
# Fuzz every target for SECONDS (default 600) each, one after another, seeding the corpora
# from the repository's own inputs (platform/ sysctl dumps, cpulists from the fixtures).
# Needs nightly and cargo-fuzz: rustup toolchain install nightly; cargo install cargo-fuzz.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(cpulist sysctl_dump env_vars)
mkdir -p corpus/cpulist corpus/sysctl_dump corpus/env_vars
for f in ../platform/*/sysctl.txt; do cp "$f" "corpus/sysctl_dump/$(basename "$(dirname "$f")")"; done
i=0
for list in "0-3,8,10-11" "" "0" "4-7" "0-1023" "1,3,5"; do
    printf '%s' "$list" > "corpus/cpulist/seed$i"; i=$((i + 1))
done
printf '\x03\x30\xff\x31' > corpus/env_vars/seed0   # HETSCHED_P_CPUS=0, HETSCHED_E_CPUS=1
printf '\x80250' > corpus/env_vars/seed1            # HETSCHED_LONG_POLL_MS=250
for target in "${targets[@]}"; do
    echo "== $target for ${seconds}s"
    cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 \
        | grep -E "^#[0-9]+ *(DONE|pulse)|Done|SUMMARY|panicked|ERROR" | tail -4
done
