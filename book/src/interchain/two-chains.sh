#!/usr/bin/env bash
# The interchain chapter's cross-chain transfer, run by `cargo test -p lamina-node --test
# relay book_two_chains`: two dev chains on this machine, a relayer, tokens there and back.
# The test picks instance numbers (A_INSTANCE, B_INSTANCE) and a scratch directory (WORK).
set -euo pipefail
cd "${WORK:-$(mktemp -d)}"
A_INSTANCE=${A_INSTANCE:-0}
B_INSTANCE=${B_INSTANCE:-1}
A=http://127.0.0.1:$((9944 + 10 * A_INSTANCE))
B=http://127.0.0.1:$((9944 + 10 * B_INSTANCE))
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

# ANCHOR: start
lamina chain-spec export --preset dev | sed 's/"chain_id": 1337/"chain_id": 1338/' > b.json
lamina node --dev --instance "$A_INSTANCE" --base-path a > a.log 2>&1 &
lamina node --dev --chain b.json --instance "$B_INSTANCE" --base-path b > b.log 2>&1 &
# ANCHOR_END: start
until lamina query block --rpc "$A" > /dev/null 2>&1 && lamina query block --rpc "$B" > /dev/null 2>&1; do
  sleep 0.2
done

# ANCHOR: link
lamina relay --a "$A" --b "$B" --b-chain b.json --once
# ANCHOR_END: link

# ANCHOR: there
BOB=$(lamina key inspect bob | awk '/address/ {print $2}')
lamina tx call interchain "{\"transfer\": {\"client\": \"client-0\", \"receiver\": \"$BOB\", \"asset\": 1, \"amount\": \"5000000000000000000\"}}" --from alice --rpc "$A"
lamina relay --a "$A" --b "$B" --b-chain b.json --once
lamina query module interchain '{"voucher": {"denom": "transfer/client-0/asset-1"}}' --rpc "$B"
lamina query balance "$BOB" --asset 2147483648 --rpc "$B"
# ANCHOR_END: there

# ANCHOR: back
ALICE=$(lamina key inspect alice | awk '/address/ {print $2}')
lamina tx call interchain "{\"transfer\": {\"client\": \"client-0\", \"receiver\": \"$ALICE\", \"asset\": 2147483648, \"amount\": \"2000000000000000000\"}}" --from bob --rpc "$B"
lamina relay --a "$A" --b "$B" --b-chain b.json --once
lamina query module interchain '{"escrow": {"client": "client-0", "asset": 1}}' --rpc "$A"
# ANCHOR_END: back
