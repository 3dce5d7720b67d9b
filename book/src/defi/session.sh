#!/usr/bin/env bash
# The DeFi chapter's session, run by `cargo test -p lamina-node --test cli defi_chapter`
# against a fresh dev chain (`lamina node --dev`; LAMINA_RPC says where it listens).
set -euo pipefail

# ANCHOR: addresses
BOB=$(lamina key inspect bob | awk '/address/ {print $2}')
ALICE=$(lamina key inspect alice | awk '/address/ {print $2}')
# ANCHOR_END: addresses

# ANCHOR: markets
lamina query module oracle '{"price": {"asset": 0}}'
lamina query module lending '{"market": {"asset": 1}}'
# ANCHOR_END: markets

# ANCHOR: supply
lamina tx call lending '{"supply": {"asset": 1, "amount": "100000000000000000000000"}}' --from alice
# ANCHOR_END: supply

# ANCHOR: cover
lamina tx call insurance '{"deposit": {"pool": 1, "amount": "10000000000000000000000"}}' --from dave
lamina query module insurance '{"quote": {"pool": 1, "amount": "5000000000000000000000", "period_blocks": 100000}}'
lamina tx call insurance '{"buy_cover": {"pool": 1, "cover": 1, "amount": "5000000000000000000000", "period_blocks": 100000, "max_premium": "100000000000000000000"}}' --from alice
# ANCHOR_END: cover

# ANCHOR: borrow
lamina tx call lending '{"supply": {"asset": 0, "amount": "500000000000000000000"}}' --from bob
lamina tx call lending '{"borrow": {"asset": 1, "amount": "700000000000000000000"}}' --from bob
lamina query module lending "{\"account\": {\"account\": \"$BOB\"}}"
# ANCHOR_END: borrow

# ANCHOR: price_drop
lamina tx call oracle '{"report": {"prices": [[0, "1700000000000000000"]]}}' --from alice
lamina query module lending "{\"account\": {\"account\": \"$BOB\"}}"
# ANCHOR_END: price_drop

# ANCHOR: refused
lamina tx call lending '{"borrow": {"asset": 1, "amount": "1"}}' --from bob
# ANCHOR_END: refused

# ANCHOR: liquidate
lamina tx call lending "{\"liquidate\": {\"borrower\": \"$BOB\", \"debt_asset\": 1, \"collateral_asset\": 0, \"max_repay\": \"1000000000000000000000\"}}" --from charlie
lamina query module lending "{\"account\": {\"account\": \"$BOB\"}}"
# ANCHOR_END: liquidate

# ANCHOR: crash
lamina tx call oracle '{"report": {"prices": [[0, "500000000000000000"]]}}' --from alice
lamina query module oracle '{"price": {"asset": 0}}'
lamina tx call lending "{\"liquidate\": {\"borrower\": \"$BOB\", \"debt_asset\": 1, \"collateral_asset\": 0, \"max_repay\": \"1000000000000000000000\"}}" --from charlie
lamina query module lending '{"market": {"asset": 1}}'
# ANCHOR_END: crash

# ANCHOR: claim
lamina tx call insurance '{"file_claim": {"pool": 1, "cover": 1}}' --from alice
lamina query module insurance "{\"cover\": {\"pool\": 1, \"holder\": \"$ALICE\", \"cover\": 1}}"
# ANCHOR_END: claim

# ANCHOR: stake
lamina tx call liquid-staking '{"stake": {"amount": "10000000000000000000"}}' --from charlie
lamina query module liquid-staking '"pool"'
lamina tx call liquid-staking '{"redeem": {"shares": "5000000000000000000", "request": 1}}' --from charlie
# ANCHOR_END: stake

# ANCHOR: swap
lamina query module dex '{"quote_exact_in": {"path": [0, 1], "amount_in": "1000000000000000000"}}'
lamina tx call dex '{"swap_exact_in": {"path": [0, 1], "amount_in": "1000000000000000000", "min_out": "1600000000000000000"}}' --from dave
# ANCHOR_END: swap
