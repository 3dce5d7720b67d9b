#!/usr/bin/env bash
# The channels chapter's session, run by `cargo test -p lamina-node --test cli
# channels_chapter` against a fresh dev chain (`lamina node --dev`; LAMINA_RPC says where).
set -euo pipefail
WORK=${WORK:-$(mktemp -d)}
PORT=${PORT:-9955}

# ANCHOR: open
CHANNEL=$(lamina channel open --from alice --peer bob --asset 1 --deposit 1000000 \
  --challenge-blocks 20 --store "$WORK/alice" | awk '/^channel/ {print $2}')
echo "opened $CHANNEL"
# ANCHOR_END: open

# ANCHOR: listen
lamina channel listen --from bob --listen "127.0.0.1:$PORT" --store "$WORK/bob" > "$WORK/bob.log" &
BOB=$!
trap 'kill $BOB 2>/dev/null || true' EXIT
# ANCHOR_END: listen
until (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.1; done

# ANCHOR: pay
lamina channel pay --from alice --channel "$CHANNEL" --to "127.0.0.1:$PORT" \
  --amount 250 --count 1000 --store "$WORK/alice"
lamina channel status --from bob --store "$WORK/bob"
# ANCHOR_END: pay

# ANCHOR: close
lamina channel close --from alice --channel "$CHANNEL" --to "127.0.0.1:$PORT" --store "$WORK/alice"
# ANCHOR_END: close

# ANCHOR: cheat
SECOND=$(lamina channel open --from alice --peer bob --asset 1 --deposit 1000 \
  --challenge-blocks 10 --store "$WORK/alice" | awk '/^channel/ {print $2}')
lamina channel pay --from alice --channel "$SECOND" --to "127.0.0.1:$PORT" --amount 100 --store "$WORK/alice"
mkdir -p "$WORK/alice-old" && cp "$WORK/alice/${SECOND#0x}".* "$WORK/alice-old/"
lamina channel pay --from alice --channel "$SECOND" --to "127.0.0.1:$PORT" --amount 100 --count 8 --store "$WORK/alice"
lamina channel watch --from bob --until-settled --store "$WORK/bob" &
WATCH=$!
lamina channel close --from alice --channel "$SECOND" --wait --store "$WORK/alice-old"
wait $WATCH
# ANCHOR_END: cheat
