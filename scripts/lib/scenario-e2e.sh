#!/usr/bin/env bash
# End-to-end check of the client library against the real messaging server:
# starts letterbox-server on 127.0.0.1, port 0, with a fresh data directory
# and a throwaway vault intake key, runs `letterbox-sim scenario` against it,
# requires exit 0, and stops the server with SIGTERM. Bounded in time;
# removes its temporary directory and stops its server on every exit path.
#
# usage: scripts/lib/scenario-e2e.sh SERVER_BIN SIM_BIN [USERS] [extra sim options...]
set -euo pipefail

server_bin=${1:?server binary}
sim_bin=${2:?sim binary}
users=${3:-30}
shift $(( $# < 3 ? $# : 3 ))
for bin in "$server_bin" "$sim_bin"; do
  [ -x "$bin" ] || { echo "scenario-e2e: not built: $bin"; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/letterbox-scenario.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# A vault intake public key: any valid X25519 public key works, since no
# vault opens the reports in this test.
vault_key=$(/usr/bin/python3 -c 'from nacl.public import PrivateKey; print(PrivateKey.generate().public_key.encode().hex())')

mkdir -p "$tmp/data"
"$server_bin" --listen 127.0.0.1:0 --data-dir "$tmp/data" --keys-dir "$tmp/keys" \
  --port-file "$tmp/port" --metrics-listen off --vault-intake-public-key "$vault_key" \
  --log-file "$tmp/server.log" --log-level warn \
  --limit-registrations-per-address 1000:1000 --limit-challenges-per-address 1000:2000 \
  >"$tmp/server.out" 2>&1 &
server_pid=$!

for _ in $(seq 1 300); do
  [ -s "$tmp/port" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "scenario-e2e: server exited early:"; cat "$tmp/server.out"; exit 1
  fi
  sleep 0.1
done
[ -s "$tmp/port" ] || { echo "scenario-e2e: server did not start"; cat "$tmp/server.out"; exit 1; }
port=$(cat "$tmp/port")

printf 'Konnichiwa, are we still on for lunch?\nThe quarterly numbers look fine.\nsee you at 7\n' >"$tmp/plaintexts"
printf 'Sato Hanako\n+819012345678\nhanako@example.jp\nKim Minjun\n+821012345678\nminjun@example.kr\n' >"$tmp/profiles"

status=0
timeout 240 "$sim_bin" scenario --server "127.0.0.1:$port" --users "$users" \
  --messages-per-user 5 --report-fraction 0.1 --offline-fraction 0.3 --seed 7 \
  --plaintexts "$tmp/plaintexts" --profiles "$tmp/profiles" --json "$tmp/summary.json" \
  "$@" || status=$?

kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""
if [ "$status" -ne 0 ]; then
  echo "scenario-e2e: letterbox-sim exited with $status"; tail -n 20 "$tmp/server.out"; exit 1
fi
if [ "$server_status" -ne 0 ]; then
  echo "scenario-e2e: server exited with $server_status after SIGTERM"; tail -n 20 "$tmp/server.out"; exit 1
fi
echo "scenario-e2e: PASS"
