#!/usr/bin/env bash
# Profiles the server's unary Send path against the no-op RPC under
# valgrind --tool=callgrind (this VM has no hardware counters for perf stat;
# docs/performance.md "Profile"). Instruction counts are deterministic, so
# they are comparable across runs on a noisy machine, unlike times.
#
#   bench/profile_send.sh [BUILD_DIR (build-release)] [OUT_DIR (out/profile-<time>)]
#
# For each workload (noop, send) it starts letterbox-server under callgrind
# with instrumentation off, sets up the simulator's devices, switches it
# on for the unary run, warm-up included (callgrind_control -i), and
# writes callgrind.<workload>.out plus an inclusive annotation
# (<workload>.inclusive.txt) and a flat one (<workload>.self.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-release}
OUT=${2:-out/profile-$(date +%Y%m%d-%H%M%S)}
MESSAGES=${MESSAGES:-4000}
INFLIGHT=${INFLIGHT:-16}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d /tmp/letterbox-profile.XXXXXX)
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

for workload in noop send; do
  rm -rf "$TMP/data" "$TMP/keys" "$TMP/port"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.$workload.out" \
    "$B/server/letterbox-server" --listen 127.0.0.1:0 --data-dir "$TMP/data" --keys-dir "$TMP/keys" \
    --port-file "$TMP/port" --metrics-listen off --log-level warn \
    --limit-sends-per-sender 1000000:1000000 --limit-registrations-per-address 1000000:1000000 \
    --limit-challenges-per-address 1000000:1000000 --limit-max-mailbox-envelopes 1000000000 \
    > "$TMP/server.out" 2> "$OUT/valgrind.$workload.log" &
  PID=$!
  for _ in $(seq 1 600); do [ -s "$TMP/port" ] && break; sleep 0.1; done
  ADDR=127.0.0.1:$(cat "$TMP/port")
  if [ "$workload" = noop ]; then
    args=(ceiling --inflight "$INFLIGHT")
  else
    args=(load --inflight "$INFLIGHT" --devices 16 --subscribers 0 --no-drain --mix send=100)
  fi
  # Set-up (registration, login: Ed25519) runs with instrumentation off; it
  # is switched on when the unary run starts (warm-up included: the same
  # operations, and the figures are divided by the handler's call count).
  "$B/client-sim/letterbox-sim" "${args[@]}" --server "$ADDR" --channels 4 --warmup 2s \
    --messages "$MESSAGES" --deadline 60s > "$OUT/sim.$workload.txt" 2>&1 &
  SIM=$!
  sleep 1
    if [ "$workload" = noop ]; then start="ceiling: unary Noop"; else start="^load: "; fi
  for _ in $(seq 1 3000); do grep -q "$start" "$OUT/sim.$workload.txt" 2>/dev/null && break; sleep 0.05; done
  callgrind_control -i on "$PID" > /dev/null
  if [ "$workload" = noop ]; then
    # The ceiling mode continues with NoopStream: stop collecting before it.
    while kill -0 "$SIM" 2>/dev/null && ! grep -q "ceiling: NoopStream" "$OUT/sim.$workload.txt"; do
      sleep 0.2
    done
    callgrind_control -i off "$PID" > /dev/null || true
    wait "$SIM" || true
  else
    wait "$SIM" || true
    callgrind_control -i off "$PID" > /dev/null || true
  fi
  kill -TERM "$PID"; wait "$PID" || true; PID=""
  callgrind_annotate --inclusive=yes "$OUT/callgrind.$workload.out" > "$OUT/$workload.inclusive.txt" || true
  callgrind_annotate "$OUT/callgrind.$workload.out" > "$OUT/$workload.self.txt" || true
  echo "$workload: $(grep -m1 'PROG TOTALS\|summary' "$OUT/$workload.self.txt" || true)"
done
echo "$OUT"
