#!/usr/bin/env bash
# End-to-end check of the simulator's modes against the real server
# (ctest sim.e2e.hostile_and_load):
#   1. starts letterbox-server on 127.0.0.1, port 0, in a fresh directory;
#   2. `letterbox-sim hostile` must exit 0 (every attack got its documented status);
#   3. a 3-second `letterbox-sim load --with-ceiling` must exit 0 and write load.json
#      holding a ceiling, a load run and their ratio;
#   4. stops the server with SIGTERM (it must exit 0).
# Usage: sim_e2e.sh SERVER_BIN SIM_BIN WORK_DIR
set -euo pipefail

server_bin=$1
sim_bin=$2
work=$3

rm -rf "$work"
mkdir -p "$work"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

"$server_bin" --listen 127.0.0.1:0 --data-dir "$work/data" --keys-dir "$work/keys" \
  --port-file "$work/port" --metrics-listen off --log-level warn \
  >"$work/server.stdout" 2>"$work/server.stderr" &
server_pid=$!

for _ in $(seq 1 300); do
  [[ -s "$work/port" ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "server exited before listening:"; cat "$work/server.stderr"; exit 1
  fi
  sleep 0.1
done
[[ -s "$work/port" ]] || { echo "server did not write --port-file in 30 s"; exit 1; }
address="127.0.0.1:$(cat "$work/port")"
grep -q "^listening on $address\$" "$work/server.stdout" || {
  echo "server stdout does not say 'listening on $address':"; cat "$work/server.stdout"; exit 1; }
echo "server $server_pid on $address"

echo "== hostile"
"$sim_bin" hostile --server "$address" --json "$work/hostile.json"

echo "== load --with-ceiling (3 s)"
"$sim_bin" load --server "$address" --with-ceiling --duration 3s --warmup 1s --devices 8 \
  --inflight 16 --channels 2 --mix send=85,fetch=5,claim=5,report=5 --out "$work/out" \
  --server-pid "$server_pid" --quiet

json="$work/out/load.json"
[[ -s "$json" && -s "$work/out/load.csv" ]] || { echo "missing $json or load.csv"; exit 1; }
/usr/bin/python3 - "$json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
load, noop = doc["load"], doc["ceiling"]["noop"]
assert load["total"]["ok"] > 0, "no successful load operation"
assert load["ops"]["send"]["ok"] > 0, "no successful send"
assert noop["total"]["ok"] > 0, "no successful no-op"
assert doc["ratio_to_ceiling"] and doc["ratio_to_ceiling"] > 0, "no ratio to the ceiling"
assert load["e2e"]["delivered"] > 0, "no end-to-end delivery measured"
assert doc["histogram"]["relative_error_bound"] < 0.01
assert load["cpu"]["server_us_per_op"] is not None, "no server CPU figure"
print("load.json: send %.0f/s, ceiling %.0f/s, ratio %.3f, e2e p99 %.0f us" % (
    load["ops"]["send"]["achieved_per_s"], noop["total"]["achieved_per_s"],
    doc["ratio_to_ceiling"], load["e2e"]["latency_us"]["p99"]))
PY

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[[ $status -eq 0 ]] || { echo "server exited with $status after SIGTERM"; tail -20 "$work/server.stderr"; exit 1; }
echo "sim e2e: ok"
