#!/usr/bin/env bash
# Builds and runs each chain under examples/ the way a chain outside Lamina's workspace is
# built: copied to a temporary directory, its Lamina dependencies pointed at this checkout.
# Each example's node must start, finalize a transfer signed by the `lamina` client, stop
# cleanly on SIGTERM and report what its own store wrote. CI runs it after the templates.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export RUST_BACKTRACE=0
cd "$root"
cargo build -p lamina-node --locked
lamina="$CARGO_TARGET_DIR/debug/lamina"
work=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ]; then kill -KILL "$node_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cp -r "$root/examples" "$work/examples"
for manifest in "$work"/examples/*/Cargo.toml; do
  sed -i -E "s|^lamina-([a-z-]+) = \"[0-9.]+\"|lamina-\\1 = { path = \"$root/crates/\\1\" }|" "$manifest"
  # The workspace's lock: the same dependency versions, so their builds are shared.
  cp "$root/Cargo.lock" "$(dirname "$manifest")/Cargo.lock"
done

bob=$("$lamina" key inspect bob --output json | grep '"address"' | sed -E 's/.*"(0x[0-9a-f]+)".*/\1/')
port=9970
for example in counting-storage round-robin; do
  echo "== example $example"
  cd "$work/examples/$example"
  cargo clippy --all-targets -- -D warnings
  cargo build
  log="$work/$example.log"
  "$CARGO_TARGET_DIR/debug/$example" "$work/$example-data" "$port" >"$log" 2>&1 &
  node_pid=$!
  rpc="http://127.0.0.1:$port"
  for _ in $(seq 1 120); do
    if "$lamina" query --rpc "$rpc" block >/dev/null 2>&1; then break; fi
    sleep 1
  done
  out=$("$lamina" tx transfer --rpc "$rpc" --from alice --to "$bob" --amount 1000 --timeout 120)
  echo "$out" | sed 's/^/    /'
  echo "$out" | grep "outcome: success" >/dev/null || { echo "the transfer failed"; tail -40 "$log"; exit 1; }
  kill -TERM "$node_pid"
  status=0
  wait "$node_pid" || status=$?
  node_pid=""
  [ "$status" -eq 0 ] || { echo "$example exited with $status"; tail -40 "$log"; exit 1; }
  grep "the store wrote [1-9]" "$log" || { echo "$example's store reported no writes"; tail -40 "$log"; exit 1; }
  port=$((port + 1))
  cd "$root"
done
echo "== every example built and finalized a transfer"
