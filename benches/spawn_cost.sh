#!/usr/bin/env bash
# Instructions per spawned no-op task, end to end on one worker (spawn, schedule, poll,
# completion, free), from callgrind's instruction counts: the probe runs at N and 2N tasks
# and the difference is divided by N, so start-up and shutdown cancel out. Counts are
# repeatable for the same binary and inputs, whatever else the machine does.
#
#   benches/spawn_cost.sh [N]             # N defaults to 50000; every mode on hetsched, then
#                                         # the modes tokio has an API for, on tokio
#   FROM=chain benches/spawn_cost.sh      # one mode only (inside outside chain detached batch yield)
#   RUNTIMES=hetsched benches/spawn_cost.sh   # one runtime only
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-50000}"
case "$n" in '' | *[!0-9]*) echo "spawn_cost.sh: N ${n@Q}: expected a whole number" >&2; exit 2 ;; esac
command -v valgrind >/dev/null || { echo "spawn_cost.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
cargo build --release --quiet --example spawn_cost
bin=target/release/examples/spawn_cost
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

instructions() { # tasks from runtime -> total instructions of the whole run
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1.$2.$3" "$bin" --tasks "$1" \
        --from "$2" --runtime "$3" 2>"$out/log.$1.$2.$3" >/dev/null
    sed -n 's/^summary: //p' "$out/cg.$1.$2.$3"
}

for runtime in ${RUNTIMES:-hetsched tokio}; do
    for from in ${FROM:-inside outside chain detached batch yield}; do
        case "$runtime:$from" in tokio:detached | tokio:batch) continue ;; esac
        one=$(instructions "$n" "$from" "$runtime")
        two=$(instructions "$((2 * n))" "$from" "$runtime")
        unit=task; [ "$from" = yield ] && unit=yield
        echo "$runtime $from: $(((two - one) / n)) instructions per $unit ($one at $n, $two at $((2 * n)))"
    done
done
