#!/usr/bin/env bash
# The chapter's session, run by `cargo test -p lamina-node --test cli light_chapter` against
# a fresh dev chain (`lamina node --dev`; LAMINA_RPC says where it listens, FULL_PORT,
# FULL_METRICS and FULL_BASE where the full node goes).
set -euo pipefail
BOB=$(lamina key inspect bob | awk '/address/ {print $2}')

# ANCHOR: full
lamina node --dev --follow "$LAMINA_RPC" --base-path "$FULL_BASE" \
  --rpc-port "$FULL_PORT" --metrics-port "$FULL_METRICS" > full.log 2>&1 &
FULL=$!
trap 'kill $FULL' EXIT
# ANCHOR_END: full
until lamina query block 1 --rpc "http://127.0.0.1:$FULL_PORT" > /dev/null 2>&1; do sleep 0.2; done

# ANCHOR: relay
lamina tx transfer --to "$BOB" --amount 1000 --rpc "http://127.0.0.1:$FULL_PORT"
# ANCHOR_END: relay

# ANCHOR: light
lamina light head
lamina light balance "$BOB"
lamina light query bank '{"asset": {"asset": 0}}'
# ANCHOR_END: light

# ANCHOR: follow
lamina light follow --until 3 --rpc "http://127.0.0.1:$FULL_PORT"
# ANCHOR_END: follow
