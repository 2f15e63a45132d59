#!/usr/bin/env bash
# HTTP on hetsched against the same service on tokio + hyper (examples/http_server.rs),
# driven by real load generators, loopback only, every run bounded:
#
#   1. full speed: wrk (closed loop), GET /, the machine's defaults on every runtime
#      (hetsched: one P worker per CPU here; tokio and smol: as many threads): hetsched
#      (the example's default: hetsched's tasks on tokio's sockets, its workers driving
#      tokio's reactor), the same with HETSCHED_DRIVE_IO=off (a tokio thread drives it: the
#      reactor hop), hetsched_async_io (hetsched's tasks on the smol stack), tokio, and
#      smol (smol's executor on the smol stack: hetsched_async_io against smol separates
#      the scheduler's cost from the I/O stack's); each row also has the server's CPU time
#      per request (user + system, /proc), which does not depend on how the CPUs were
#      split between the server and wrk;
#   2. the reactor hop: the same servers at a fixed rate (below), no batch;
#   3. fixed rate with a Background batch: the classes declared as P = first allowed CPU,
#      E = the rest (HETSCHED_P_CPUS / HETSCHED_E_CPUS), 4 batch jobs of 1 ms chunks
#      saturating the E side, and examples/http_load.rs sending GET / at RATE requests per
#      second, each timed from its intended send time (no coordinated omission). tokio gets
#      as many workers as hetsched starts. The batch's chunks per second are measured
#      with and without the requests.
#
# Usage: benches/http.sh [SECONDS [RATE]]      (defaults: 10 s per run, 2000 requests/s)
#        JSON=out.json benches/http.sh         (also write the rows as JSON)
# Needs wrk (Debian: apt-get install wrk; installed here if missing and root), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-10}
RATE=${2:-2000}
PORT=${PORT:-18080}
ADDR=127.0.0.1:$PORT
JOBS=4
CONNECTIONS=64

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y -q wrk >/dev/null
    else
        echo "http.sh: wrk not found (apt-get install wrk)" >&2
        exit 2
    fi
fi
cargo build -q --release --example http_server --example http_load
BIN=target/release/examples

# CPUs this process may use, and the declared split for the batch runs.
mapfile -t CPUS < <(python3 -c 'import os; print("\n".join(map(str, sorted(os.sched_getaffinity(0)))))')
if [ "${#CPUS[@]}" -lt 2 ]; then
    echo "http.sh: needs at least 2 allowed CPUs (one P, one E), found ${#CPUS[@]}" >&2
    exit 2
fi
P_CPUS=${CPUS[0]}
E_CPUS=$(IFS=,; echo "${CPUS[*]:1}")

SERVER_PID=
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

# start_server RUNTIME WORKERS [VAR=VALUE...]: start the service and wait until it answers.
start_server() {
    local runtime=$1 workers=$2
    shift 2
    env "$@" "$BIN/http_server" --addr "$ADDR" --runtime "$runtime" --workers "$workers" >/dev/null &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -sf "http://$ADDR/" >/dev/null && return 0
        sleep 0.05
    done
    echo "http.sh: the $runtime server did not start" >&2
    exit 1
}

# start_variant VARIANT WORKERS [VAR=VALUE...]: a row's server (hetsched_no_drive_io is
# hetsched with HETSCHED_DRIVE_IO=off; hetsched_async_io is --runtime hetsched-async-io).
start_variant() {
    local variant=$1 workers=$2
    shift 2
    case $variant in
        hetsched_no_drive_io) start_server hetsched "$workers" HETSCHED_DRIVE_IO=off "$@" ;;
        hetsched_async_io) start_server hetsched-async-io "$workers" "$@" ;;
        *) start_server "$variant" "$workers" "$@" ;;
    esac
}

# cpu_ticks: the server's CPU time so far (user + system, in clock ticks), from /proc: the
# server's CPU per request does not depend on how the 2 CPUs were split with wrk, which the
# requests per second do.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"
}

metric() { # metric KEY: a top-level number of /metrics
    curl -sf "http://$ADDR/metrics" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

ROWS=()
row() { ROWS+=("$1"); echo "$1"; }

echo "== full speed: wrk -t1 -c$CONNECTIONS -d${SECS}s GET / (defaults; $(nproc) CPUs)"
DEFAULT_WORKERS=${#CPUS[@]}
# hetsched twice: idle workers driving tokio's reactor (the default) and not
# (HETSCHED_DRIVE_IO=off: every readiness hops from the tokio context's own thread).
for variant in hetsched hetsched_no_drive_io hetsched_async_io tokio smol; do
    start_variant "$variant" "$DEFAULT_WORKERS"
    cpu0=$(cpu_ticks)
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${SECS}s" --latency "http://$ADDR/")
    cpu1=$(cpu_ticks)
    stop_server
    row "$(python3 - "$variant" "$out" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" <<'EOF'
import re, sys, json
runtime, out = sys.argv[1], sys.argv[2]
cpu_seconds = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5])
def us(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    v, unit = float(m.group(1)), m.group(2)
    return v * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
pct = dict((p, us(v)) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
sock = sum(map(int, re.findall(r"(?:connect|read|write|timeout) (\d+)", out)))
requests = int(re.search(r"(\d+) requests in", out).group(1))
print(json.dumps({"test": "full_speed", "runtime": runtime, "req_per_sec": rps,
                  "p50_us": pct.get("50"), "p99_us": pct.get("99"), "errors": non2xx + sock,
                  "server_cpu_us_per_req": round(cpu_seconds * 1e6 / max(requests, 1), 2)}))
EOF
)"
done

echo "== the reactor hop: fixed rate $RATE/s, GET /, no batch, hetsched with and without drive_io"
for variant in hetsched hetsched_no_drive_io hetsched_async_io tokio smol; do
    start_variant "$variant" "$DEFAULT_WORKERS"
    load=$("$BIN/http_load" --addr "$ADDR" --rate "$RATE" --seconds "$SECS" --connections 16 --json || true)
    stop_server
    row "$(python3 - "$variant" "$load" <<'EOF'
import json, sys
l = json.loads(sys.argv[2])
print(json.dumps({"test": "fixed_rate", "runtime": sys.argv[1], "rate": l["rate"],
                  "req_per_sec": l["achieved_per_sec"], "p50_us": l["p50_us"], "p99_us": l["p99_us"],
                  "p999_us": l["p999_us"], "errors": l["errors"]}))
EOF
)"
done

echo "== fixed rate $RATE/s with a Background batch (P = CPU $P_CPUS, E = CPUs $E_CPUS), ${SECS}s"
CLASSES=(HETSCHED_P_CPUS="$P_CPUS" HETSCHED_E_CPUS="$E_CPUS")
# tokio gets as many workers as hetsched starts under these classes (P + E workers): read
# from the hetsched server's /metrics, which runs first.
BATCH_WORKERS=
for runtime in hetsched hetsched_async_io tokio; do
    start_variant "$runtime" "${BATCH_WORKERS:-1}" "${CLASSES[@]}"
    if [ "$runtime" = hetsched ]; then
        BATCH_WORKERS=$(curl -sf "http://$ADDR/metrics" |
            python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runtime"]["workers"]))')
    fi
    for _ in $(seq "$JOBS"); do
        curl -sf -X POST "http://$ADDR/jobs?chunks=100000" >/dev/null
    done
    sleep 0.5
    c0=$(metric chunks_done)
    sleep "$SECS"
    c1=$(metric chunks_done)
    t1=$(date +%s.%N)
    load=$("$BIN/http_load" --addr "$ADDR" --rate "$RATE" --seconds "$SECS" --connections 16 --json || true)
    t2=$(date +%s.%N)
    c2=$(metric chunks_done)
    stop_server
    row "$(python3 - "$runtime" "$load" "$c0" "$c1" "$c2" "$SECS" "$BATCH_WORKERS" "$t1" "$t2" <<'EOF'
import json, sys
runtime, load, c0, c1, c2, secs, workers, t1, t2 = sys.argv[1:]
l = json.loads(load)
alone = (int(c1) - int(c0)) / float(secs)
# The load's real window: a server that falls behind makes it longer than SECS.
loaded = (int(c2) - int(c1)) / (float(t2) - float(t1))
print(json.dumps({"test": "fixed_rate_with_batch", "runtime": runtime, "workers": int(workers),
                  "rate": l["rate"], "req_per_sec": l["achieved_per_sec"], "p50_us": l["p50_us"],
                  "p99_us": l["p99_us"], "p999_us": l["p999_us"], "errors": l["errors"],
                  "batch_per_sec": loaded, "batch_alone_per_sec": alone,
                  "batch_ratio": loaded / alone if alone else None}))
EOF
)"
done

if [ -n "${JSON:-}" ]; then
    printf '%s\n' "${ROWS[@]}" | python3 -c 'import json,sys; json.dump([json.loads(l) for l in sys.stdin], open(sys.argv[1], "w"), indent=1)' "$JSON"
    echo "wrote $JSON"
fi
