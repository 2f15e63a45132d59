#!/usr/bin/env bash
# Instructions per spawned no-op task, end to end on one worker (spawn, schedule, poll,
# completion, free), from callgrind's instruction counts: the probe runs at N and 2N tasks
# and the difference is divided by N, so start-up and shutdown cancel out. Counts are
# repeatable for the same binary and inputs, whatever else the machine does.
#
#   benches/spawn_cost.sh [N]          # N defaults to 50000; prints inside, outside and chain
#   FROM=inside benches/spawn_cost.sh  # one mode only
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-50000}"
case "$n" in '' | *[!0-9]*) echo "spawn_cost.sh: N ${n@Q}: expected a whole number" >&2; exit 2 ;; esac
command -v valgrind >/dev/null || { echo "spawn_cost.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
cargo build --release --quiet --example spawn_cost
bin=target/release/examples/spawn_cost
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

instructions() { # tasks from -> total instructions of the whole run
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1.$2" "$bin" --tasks "$1" --from "$2" \
        2>"$out/log.$1.$2" >/dev/null
    sed -n 's/^summary: //p' "$out/cg.$1.$2"
}

for from in ${FROM:-inside outside chain}; do
    one=$(instructions "$n" "$from")
    two=$(instructions "$((2 * n))" "$from")
    echo "$from: $(((two - one) / n)) instructions per task ($one at $n tasks, $two at $((2 * n)))"
done
