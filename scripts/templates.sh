#!/usr/bin/env bash
# Generates each chain template with `lamina new` into a temporary directory, adds a module
# with `lamina new module`, then builds the chain, lints it, runs its tests, starts it (a
# dev node, or for pos-bft a four-validator testnet) and gets transactions of its own
# modules finalized. Run from anywhere; CI runs it after the workspace tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The generated chains share the workspace's build directory: the dependencies they have in
# common with it are built once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export RUST_BACKTRACE=0
cd "$root"
cargo build -p lamina-node --locked
lamina="$CARGO_TARGET_DIR/debug/lamina"
work=$(mktemp -d)
node_pid=""
# Processes still running from the work directory (their command lines name it).
leftovers() { command -v pgrep >/dev/null || return 0; pgrep -f -- "$work" || true; }
cleanup() {
  if [ -n "$node_pid" ]; then kill -TERM "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  local pids
  pids=$(leftovers)
  if [ -n "$pids" ]; then
    echo "warning: processes outlived their chain; killing them:"
    ps -o pid,etime,args -p "$(echo $pids | tr ' ' ',')" || true
    kill -KILL $pids 2>/dev/null || true
    sleep 1
  fi
  rm -rf "$work" || { sleep 2; rm -rf "$work"; }
}
trap cleanup EXIT

# Waits until the node answering on $1 has finalized a block.
wait_for() {
  for _ in $(seq 1 120); do
    if "$bin" query --rpc "$1" block >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "no node answered on $1"; return 1
}

# Sends a call and fails unless it is final and succeeded: module, call JSON, RPC, signer.
call() {
  local out
  out=$("$bin" tx call "$1" "$2" --rpc "$3" --from "$4" --timeout 120)
  echo "$out" | sed 's/^/    /'
  echo "$out" | grep "outcome: success" >/dev/null || { echo "the $1 call failed"; return 1; }
}

# Stops the node started last: SIGTERM, and it must exit 0. A testnet stops its validators
# before it exits; any process of this chain still running afterwards is reported.
# (Called as `stop || ...`, where `set -e` does not apply, so every failure returns.)
stop() {
  kill -TERM "$node_pid" || return 1
  local status=0
  wait "$node_pid" || status=$?
  node_pid=""
  [ "$status" -eq 0 ] || { echo "exit status $status"; return 1; }
  local pids
  pids=$(leftovers)
  if [ -n "$pids" ]; then
    echo "still running after the chain stopped:"
    ps -o pid,ppid,etime,args -p "$(echo $pids | tr ' ' ',')" || true
    return 1
  fi
}

# TEMPLATES narrows the run while working on one template: TEMPLATES=defi scripts/templates.sh
for template in ${TEMPLATES:-minimal pos-bft defi}; do
  name="ci-$template"
  echo "== template $template"
  "$lamina" new "$name" --template "$template" --path "$work"
  chain="$work/$name"
  # A module added by the scaffolder must build, pass its tests and run too.
  "$lamina" new module tally --path "$chain"
  cd "$chain"
  cargo clippy --all-targets -- -D warnings
  cargo test
  cargo build
  bin="$CARGO_TARGET_DIR/debug/$name"
  log="$work/$name.log"
  case "$template" in
    pos-bft)
      "$bin" testnet --validators 4 --staking --base-path "$work/net" >"$log" 2>&1 &
      node_pid=$!
      rpc="http://127.0.0.1:9944"
      ;;
    *)
      "$bin" node --dev --rpc-port 9990 --metrics-port 9690 >"$log" 2>&1 &
      node_pid=$!
      rpc="http://127.0.0.1:9990"
      ;;
  esac
  wait_for "$rpc" || { tail -40 "$log"; exit 1; }
  if [ "$template" = pos-bft ]; then
    # The first validator answers before the others have started; wait for all four.
    for _ in $(seq 1 120); do grep -q "stops them all" "$log" && break; sleep 1; done
    grep -q "stops them all" "$log" || { echo "the testnet did not start"; tail -40 "$log"; exit 1; }
  fi
  case "$template" in
    minimal)
      call names '{"claim": {"name": "ci-name"}}' "$rpc" bob
      "$bin" query --rpc "$rpc" module names '{"owner": {"name": "ci-name"}}' | grep 0x >/dev/null
      ;;
    pos-bft)
      call attendance '{"set_moniker": {"moniker": "ci"}}' "$rpc" bob
      ;;
    defi)
      call dex '{"swap_exact_in": {"path": [0, 1], "amount_in": "1000000000000000000", "min_out": "1900000000000000000"}}' "$rpc" bob
      # Alice lends the quote asset, Bob borrows it against the native token.
      call lending '{"supply": {"asset": 1, "amount": "1000000000000000000000"}}' "$rpc" alice
      call lending '{"supply": {"asset": 0, "amount": "100000000000000000000"}}' "$rpc" bob
      call lending '{"borrow": {"asset": 1, "amount": "50000000000000000000"}}' "$rpc" bob
      ;;
  esac
  call tally '{"add": {"amount": 5}}' "$rpc" charlie
  stop || { echo "the node did not stop cleanly"; tail -40 "$log"; exit 1; }
  cd "$root"
done
# The same templates through cargo-generate, when it is installed: rendered, pointed at this
# checkout, and type-checked with their tests.
if cargo generate --version >/dev/null 2>&1; then
  for template in minimal pos-bft defi; do
    echo "== cargo generate --path templates/$template"
    cargo generate --path "$root/templates/$template" --name "cg-$template" --destination "$work" --silent --vcs none
    cd "$work/cg-$template"
    sed -i -E "s|^lamina-([a-z-]+) = \"[0-9.]+\"|lamina-\\1 = { path = \"$root/crates/\\1\" }|" Cargo.toml
    cargo check --all-targets
    cd "$root"
  done
fi
echo "== every template generated, built, tested and ran"
