#!/usr/bin/env bash
# A cgroup v1 cpuset that shrinks and grows back under a running hetsched runtime.
#
# Starts `topology --watch` (a runtime with tasks of every Qos; it prints where each worker
# runs whenever the allowed CPUs change) inside a cpuset cgroup of its own, then takes the
# first performance CPU away, then gives it back. Classes are declared on this machine's
# online CPUs unless HETSCHED_P_CPUS / HETSCHED_E_CPUS are set: P = the first online CPU,
# E = the others. Passes (exit 0) when the runtime saw both changes, tasks kept completing
# after each, the P worker was displaced while its CPU was gone and is back on it at the
# end (and, where one CPU was left, the default idle spin was off meanwhile). Needs root, a cgroup v1 cpuset hierarchy at /sys/fs/cgroup/cpuset and two online
# CPUs; says which is missing and exits 2 otherwise.
#
# Usage: scripts/cpuset_shrink.sh [SECONDS_PER_PHASE]   (default 2; three phases)
set -euo pipefail
cd "$(dirname "$0")/.."
phase=${1:-2}
root=/sys/fs/cgroup/cpuset

fail() { echo "cpuset_shrink: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || fail "needs root (writes a cpuset cgroup)"
[ -w "$root/cgroup.procs" ] || fail "no writable cgroup v1 cpuset hierarchy at $root"
case $phase in ''|*[!0-9]*|0) fail "SECONDS_PER_PHASE must be a whole number >= 1, not '$phase'";; esac

# Expand a cpulist ("0-3,8") into one id per line.
expand() {
    local part
    for part in ${1//,/ }; do
        if [[ $part == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
    done
}
online=$(cat /sys/devices/system/cpu/online)
mapfile -t cpus < <(expand "$online")
[ "${#cpus[@]}" -ge 2 ] || fail "needs two online CPUs (online: $online)"
export HETSCHED_P_CPUS=${HETSCHED_P_CPUS:-${cpus[0]}}
if [ -z "${HETSCHED_E_CPUS:-}" ]; then
    HETSCHED_E_CPUS=$(IFS=,; echo "${cpus[*]:1}")
    export HETSCHED_E_CPUS
fi
mapfile -t p_cpus < <(expand "$HETSCHED_P_CPUS")
gone=${p_cpus[0]}
rest=$(for c in "${cpus[@]}"; do [ "$c" != "$gone" ] && echo "$c"; done | paste -sd, -)

cargo build --release --example topology -q
group="$root/hetsched-shrink-$$"
log=$(mktemp)
cleanup() {
    echo $$ >"$root/cgroup.procs" 2>/dev/null || true
    for _ in $(seq 50); do rmdir "$group" 2>/dev/null && break; sleep 0.1; done
    rm -f "$log"
}
trap cleanup EXIT
mkdir "$group"
cat "$root/cpuset.mems" >"$group/cpuset.mems"
echo "$online" >"$group/cpuset.cpus"

echo "P = $HETSCHED_P_CPUS, E = $HETSCHED_E_CPUS; cpuset $online, then $rest (CPU $gone gone), then $online"
sh -c "echo \$\$ > '$group/cgroup.procs' && exec target/release/examples/topology --watch $((3 * phase))" \
    >"$log" 2>&1 &
watcher=$!
sleep "$phase"
echo "$rest" >"$group/cpuset.cpus"
sleep "$phase"
echo "$online" >"$group/cpuset.cpus"
status=0
wait "$watcher" || status=$?
cat "$log"

verdict=0
check() { if eval "$2"; then echo "ok:     $1"; else echo "FAILED: $1"; verdict=1; fi; }
check "the watch exited 0 (tasks completed after every change)" '[ "$status" = 0 ]'
check "the runtime saw both changes" 'grep -q "changes 2" "$log"'
check "the P worker was displaced while CPU $gone was gone" \
    'grep -q "hetsched-p-0 on [^,]* displaced" "$log"'
check "the P worker is back on $HETSCHED_P_CPUS at the end" \
    'grep "changes 2" "$log" | tail -1 | grep -q "hetsched-p-0 on ${p_cpus[0]}[, ]\|hetsched-p-0 on $HETSCHED_P_CPUS "'
if [[ $rest != *,* && -z ${HETSCHED_IDLE_SPIN_US:-} ]]; then
    check "the default idle spin was off while one CPU was left, on again after" \
        'grep -q "changes 1 .*idle spin 0ns" "$log" && grep "changes 2" "$log" | tail -1 | grep -vq "idle spin 0ns"'
fi
exit "$verdict"
