#!/usr/bin/env bash
# tools/shards.sh [N]: one exporter process, then three shards, over N (30000)
# simulator documents: requests per round, documents, round time and RSS per
# shard. The figures of docs/deployment.md, "Scaling". Uses ports 19900-19902, 19990.
set -euo pipefail
N=${1:-30000}; D=$(mktemp -d); cd "$(dirname "${BASH_SOURCE[0]}")/.."
go build -o $D/exporter . && go build -o $D/sim ./assuresign/simulator/cmd/assuresign-simulator
$D/sim --listen 127.0.0.1:19990 --demo $N > $D/sim.out 2>&1 & SIM=$!
trap 'kill $SIM 2>/dev/null || true; rm -rf "$D"' EXIT
sleep 1
curl -s 127.0.0.1:19990/admin/documents | python3 -c '
import json,sys
docs=json.load(sys.stdin)
print("documents:")
for d in docs: print("  - id: %s\n    auth_token: %s" % (d["id"], d["auth_token"]))' > $D/watch.yml
chmod 600 $D/watch.yml
echo 06C4A84A-693C-46CB-8DF2-40A8215AA056 > $D/ctx
run() { # total shards
  local total=$1 pids=() ports=()
  curl -s -XDELETE 127.0.0.1:19990/admin/stats >/dev/null
  local start=$(date +%s.%N)
  for ((s=0; s<total; s++)); do
    port=$((19900+s)); ports+=($port)
    $D/exporter --watch.file=$D/watch.yml --watch.max-documents=200000 --assuresign.context-identifier-file=$D/ctx \
      --assuresign.endpoint=http://127.0.0.1:19990/ --assuresign.batch-size=100 --assuresign.concurrency=4 \
      --refresh.interval=1h --total-shards=$total --shard=exporter-$s --web.listen-address=127.0.0.1:$port > $D/exp$s.log 2>&1 &
    pids+=($!)
  done
  for port in "${ports[@]}"; do until curl -sf 127.0.0.1:$port/-/ready >/dev/null; do sleep 0.1; done; done
  local end=$(date +%s.%N)
  sleep 2
  echo "== total-shards=$total: all ready after $(python3 -c "print(round($end-$start,2))")s; simulator: $(curl -s 127.0.0.1:19990/admin/stats | python3 -c 'import json,sys; s=json.load(sys.stdin); print("requests", s["requests"], "documents", s["documents"])')"
  for ((s=0; s<total; s++)); do
    m=$(curl -s 127.0.0.1:${ports[$s]}/metrics)
    echo "shard $s: watched $(grep '^assuresign_watched_documents ' <<<"$m" | cut -d' ' -f2), round $(grep '^assuresign_refresh_duration_seconds ' <<<"$m" | cut -d' ' -f2)s, RSS $(( $(grep '^process_resident_memory_bytes ' <<<"$m" | cut -d' ' -f2 | python3 -c 'import sys; print(int(float(sys.stdin.read())))') / 1048576 )) MiB"
  done
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
}
run 1
run 3
