#!/usr/bin/env bash
# The interchain chapter's session, run by `cargo test -p lamina-node --test cli
# interchain_chapter` against a fresh dev chain (`lamina node --dev`; LAMINA_RPC says where).
set -euo pipefail

# ANCHOR: config
lamina query module interchain '{"config": {}}'
# ANCHOR_END: config

# ANCHOR: limit
lamina tx call interchain '{"set_rate_limit": {"asset": 1, "max_per_window": "1000000000000000000000", "window_blocks": 600}}' --from alice
lamina query module interchain '{"config": {"asset": 1}}'
# ANCHOR_END: limit

# ANCHOR: refused
BOB=$(lamina key inspect bob | awk '/address/ {print $2}')
lamina tx call interchain "{\"transfer\": {\"client\": \"client-0\", \"receiver\": \"$BOB\", \"asset\": 1, \"amount\": \"5\"}}" --from bob
# ANCHOR_END: refused
