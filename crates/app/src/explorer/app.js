// Lamina's explorer: one page, no build step, everything from the node that serves it.
// Every string from the chain reaches the page through textContent, never as HTML.
"use strict";

const RECENT = 60; // blocks kept for the charts and the latest lists
const LIVE_CALLS = 200; // blocks of up to this many transactions have them listed live
const state = { chain: null, heads: [], calls: [], finalized: 0, live: false, assets: new Map(), refreshing: null, skipped: 0 };

async function rpc(method, params = []) {
  const answer = await fetch("/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await answer.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

// An element with attributes and children; strings become text nodes.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

const link = (href, text, cls) => el("a", cls ? { href, class: cls } : { href }, text);
const short = (hex) => (hex && hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex);
const blockLink = (h) => link(`#/block/${h}`, String(h));
const txLink = (id) => link(`#/tx/${id}`, short(id), "mono");
const accountLink = (a) => link(`#/account/${a}`, short(a), "mono");
const when = (ms) => new Date(ms).toLocaleTimeString();
const isHash = (s) => /^0x[0-9a-f]{64}$/.test(s);

function table(head, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

function dl(pairs) {
  return el("dl", {}, pairs.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
}

function callName(call) {
  if (call.undecoded) return `undecoded: ${call.undecoded}`;
  const name = call.value && typeof call.value === "object" ? Object.keys(call.value)[0] : call.value;
  return `${call.module_name}.${name}`;
}

function barChart(values, label) {
  const max = Math.max(1, ...values);
  const w = 300, h = 90, bar = w / Math.max(values.length, 1);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  values.forEach((v, i) => {
    const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    const bh = Math.max(1, (v / max) * (h - 4));
    r.setAttribute("x", (i * bar + 0.5).toFixed(1));
    r.setAttribute("y", (h - bh).toFixed(1));
    r.setAttribute("width", Math.max(1, bar - 1).toFixed(1));
    r.setAttribute("height", bh.toFixed(1));
    svg.append(r);
  });
  return el("figure", {}, svg, el("figcaption", { text: label }));
}

function stat(label, value, id) {
  return el("div", { class: "stat" }, el("div", { class: "label", text: label }), el("div", { class: "value", id, text: String(value) }));
}

function throughput() {
  const heads = state.heads;
  if (heads.length < 2) return 0;
  const span = (heads[heads.length - 1].timestamp - heads[0].timestamp) / 1000;
  const txs = heads.slice(1).reduce((n, h) => n + h.tx_count, 0);
  return span > 0 ? txs / span : 0;
}

function home() {
  const heads = state.heads;
  const head = Math.max(heads.length ? heads[heads.length - 1].height : 0, state.finalized);
  const times = heads.slice(1).map((h, i) => (h.timestamp - heads[i].timestamp) / 1000);
  const avg = times.length ? times.reduce((a, b) => a + b, 0) / times.length : 0;
  return [
    el("h1", { text: state.chain ? `${state.chain.name} (chain ${state.chain.chain_id})` : "Chain" }),
    el("div", { class: "stats" },
      stat("Height", head, "stat-height"),
      stat("Finalized", state.finalized, "stat-finalized"),
      stat("Finality lag (blocks)", Math.max(0, head - state.finalized), "stat-lag"),
      stat("Throughput (tx/s)", throughput().toFixed(1), "stat-tps"),
      stat("Block time (s)", avg.toFixed(2), "stat-blocktime")),
    el("div", { class: "charts" },
      barChart(heads.map((h) => h.tx_count), `Transactions per block, last ${heads.length} blocks`),
      barChart(times, "Seconds between blocks")),
    el("div", { class: "grid2" },
      el("section", { "aria-labelledby": "latest-blocks" }, el("h2", { id: "latest-blocks", text: "Latest blocks" }),
        table(["Height", "Hash", "Txs", "Time"], heads.slice(-12).reverse().map((h) =>
          [blockLink(h.height), el("span", { class: "mono", text: short(h.hash) }), String(h.tx_count), when(h.timestamp)]))),
      el("section", { "aria-labelledby": "latest-txs" }, el("h2", { id: "latest-txs", text: "Latest transactions" }),
        state.skipped ? el("p", {}, `Blocks of more than ${LIVE_CALLS} transactions list them on their own page; the latest was `, blockLink(state.skipped), ".") : null,
        table(["Transaction", "Call", "Sender", "Block"], state.calls.slice(-12).reverse().map(({ call, height }) =>
          [txLink(call.id), callName(call), call.sender ? accountLink(call.sender) : "", blockLink(height)])))),
  ];
}

async function blockPage(height) {
  const block = await rpc("chain_getBlock", [Number(height)]);
  if (!block) return [el("h1", { text: `No block at height ${height}` })];
  const h = block.header;
  return [
    el("h1", { text: `Block ${h.height}` }),
    dl([
      ["Hash", el("span", { class: "mono", id: "block-hash", text: block.hash })],
      ["Parent", h.height > 1 ? blockLink(h.height - 1) : "genesis"],
      ["Time", new Date(h.timestamp).toISOString()],
      ["Proposer", accountLink(h.proposer)],
      ["Transactions", el("span", { id: "block-txs", text: String(h.tx_count) })],
      ["State root", el("span", { class: "mono", text: h.state_root })],
      ["Of height", String(h.state_height)],
      ["Finality", block.certificate ? "certificate stored with the block" : "proven by a later block's certificate"],
    ]),
    el("h2", { text: "Transactions" }),
    table(["#", "Transaction", "Call", "Sender", "Nonce"], block.calls.map((c, i) =>
      [String(i), txLink(c.id), callName(c), c.sender ? accountLink(c.sender) : "", String(c.nonce ?? "")])),
  ];
}

async function txPage(id) {
  const tx = await rpc("tx_get", [id]);
  if (!tx) return [el("h1", { text: "Transaction not found" }), el("p", { class: "mono", text: id })];
  const r = tx.receipt;
  const ok = r.outcome === "Success";
  const outcome = ok ? el("span", { class: "ok", id: "tx-outcome", text: "success" })
    : el("span", { class: "bad", id: "tx-outcome", text: `failed in ${tx.failed_in ?? "the runtime"}: error ${r.outcome.Failed.code}, ${r.outcome.Failed.reason}` });
  return [
    el("h1", { text: "Transaction" }),
    dl([
      ["Id", el("span", { class: "mono", text: id })],
      ["Block", blockLink(tx.height)],
      ["Position", String(tx.index)],
      ["Outcome", outcome],
      ["Gas used", String(r.gas_used)],
      ["Fee paid", el("span", { id: "tx-fee", text: r.fee_paid })],
    ]),
    el("h2", { text: `Events (${tx.events.length})` }),
    el("ol", { id: "tx-events" }, tx.events.map((e) => el("li", {},
      el("strong", { text: e.module_name ?? `module ${e.module}` }), " ",
      el("pre", { text: e.undecoded ? `${e.data} (${e.undecoded})` : JSON.stringify(e.value, null, 2) })))),
  ];
}

async function accountPage(address) {
  const nonce = await rpc("state_getNonce", [address]);
  const rows = [];
  // Every asset the bank lists (the native one where it lists none).
  const ids = state.assets.size ? [...state.assets.keys()] : [0];
  for (const id of ids) {
    const balance = await rpc("state_getBalance", [address, id]);
    if (id === 0 || balance.amount !== "0") rows.push([`${id} (${asset(id)})`, el("span", { class: "mono", text: balance.amount })]);
  }
  const recent = state.calls.filter(({ call }) => call.sender === address).slice(-20).reverse();
  return [
    el("h1", {}, "Account ", el("span", { class: "mono", text: address })),
    dl([["Next nonce", el("span", { id: "account-nonce", text: String(nonce) })]]),
    el("h2", { text: "Balances" }),
    el("div", { id: "account-balances" }, table(["Asset", "Amount, smallest unit"], rows)),
    el("h2", { text: "Checked in this page" }),
    await accountProof(address),
    el("h2", { text: "Recent transactions (of the blocks this page has seen)" }),
    table(["Transaction", "Call", "Block"], recent.map(({ call, height }) => [txLink(call.id), callName(call), blockLink(height)])),
  ];
}

// A module's answer to a query, or null when the chain does not have the module.
async function query(module, q) {
  if (!state.chain.modules.includes(module)) return null;
  return rpc("state_query", [module, q]);
}

async function validatorsPage() {
  const view = await rpc("chain_getValidators", [256]);
  const rows = [];
  for (const [i, v] of view.validators.entries()) {
    const operator = (await query("staking", { operator: { key: v.key } }))?.operator ?? null;
    const record = operator ? (await query("staking", { validator: { operator } }))?.validator : null;
    const status = !record ? "not bonded (set by the chain spec)"
      : record.jailed ? el("span", { class: "bad", text: "slashed and jailed" }) : el("span", { class: "ok", text: "bonded" });
    rows.push([String(i), el("span", { class: "mono", title: v.key, text: short(v.key) }),
      operator ? accountLink(operator) : accountLink(v.address), record ? el("span", { class: "mono", text: record.bonded }) : "",
      String(v.proposed), String(v.signed), String(v.missed), status]);
  }
  return [
    el("h1", { text: `Validators of epoch ${view.epoch}` }),
    el("p", { id: "validators-span", text: `Blocks ${view.from} to ${view.to}: who proposed each, who signed its certificate, and which leaders' views ended without a block.${view.uncertified ? ` ${view.uncertified} blocks had no certificate of their own, so the views before them are not counted.` : ""}` }),
    el("div", { id: "validators", class: "scroll" }, table(["#", "Key", "Account", "Bond", "Proposed", "Signed", "Missed", "Status"], rows)),
  ];
}

const asset = (id) => state.assets.get(id)?.symbol ?? `asset ${id}`;

async function defiPage() {
  const out = [el("h1", { text: "DeFi" })];
  const pools = (await query("dex", { pools: { from: 0, limit: 100 } }))?.pools;
  if (pools) {
    out.push(el("h2", { text: `Pools (${pools.length})` }),
      el("div", { id: "defi-pools", class: "scroll" }, table(["Pair", "Reserve A", "Reserve B", "Shares", "Price of A in B"], pools.map((p) => [
        `${asset(p.asset_a)} / ${asset(p.asset_b)}`, el("span", { class: "mono", text: p.pool.reserve_a }),
        el("span", { class: "mono", text: p.pool.reserve_b }), el("span", { class: "mono", text: p.pool.shares }),
        ratio(p.pool.reserve_b, p.pool.reserve_a)]))));
  }
  const markets = (await query("lending", "markets"))?.markets;
  if (markets) {
    out.push(el("h2", { text: `Lending markets (${markets.length})` }),
      el("div", { id: "defi-markets", class: "scroll" }, table(["Asset", "Supplied", "Borrowed", "Utilisation", "Borrow rate / year", "Supply rate / year"], markets.map((m) => [
        asset(m.market.asset), el("span", { class: "mono", text: m.market.supplied }),
        el("span", { class: "mono", text: m.market.borrows }), percent(m.utilisation_wad),
        percent(m.borrow_rate_wad), percent(m.supply_rate_wad)]))));
  }
  const cover = (await query("insurance", "pools"))?.pools;
  if (cover) {
    out.push(el("h2", { text: `Insurance pools (${cover.length})` }),
      el("div", { id: "defi-cover", class: "scroll" }, table(["Pool", "Risk", "Asset", "Capital", "Active cover", "Utilisation", "Premium / year"], cover.map((c) => [
        String(c.pool.id), c.pool.risk, asset(c.pool.asset), el("span", { class: "mono", text: c.pool.capital }),
        el("span", { class: "mono", text: c.pool.active_cover }), bps(c.utilisation_bps), bps(c.rate_bps)]))));
  }
  if (out.length === 1) out.push(el("p", { text: "This chain has no dex, lending or insurance module." }));
  return out;
}

// A decimal string's ratio b / a to four places, in integers so large amounts stay exact.
function ratio(b, a) {
  if (BigInt(a) === 0n) return "";
  const scaled = (BigInt(b) * 10000n) / BigInt(a);
  return `${scaled / 10000n}.${String(scaled % 10000n).padStart(4, "0")}`;
}

// Basis points as a percentage to two places.
const bps = (n) => `${Math.floor(n / 100)}.${String(n % 100).padStart(2, "0")}%`;

// A fraction scaled by 10^18 as a percentage to two places.
function percent(wad) {
  const bps = (BigInt(wad ?? "0") * 10000n) / 10n ** 18n;
  return `${bps / 100n}.${String(bps % 100n).padStart(2, "0")}%`;
}

// The account's record (`accounts/` | address -> nonce u64 LE | native u128 LE), proven
// against a state root and that root found in a block's header: what the page shows is what
// the chain committed, whatever the node says.
async function accountProof(address) {
  const key = `0x${[..."accounts/"].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("")}${address.slice(2)}`;
  const answer = await rpc("state_getValue", [key]);
  let value;
  try {
    value = await LaminaProof.verify(answer.root, key, answer.proof);
  } catch (error) {
    return el("p", { id: "account-proof", class: "bad", text: `The node's proof does not hold: ${error.message}` });
  }
  // The block that names this state: one the page has seen, or the next (filled in live).
  const named = el("span", { id: "account-proof-block", text: "the next block, when it comes" });
  const seen = state.heads.find((h) => h.state_height === answer.height && h.state_root === answer.root);
  if (seen) named.replaceChildren(blockLink(seen.height));
  else state.awaitingRoot = { height: answer.height, root: answer.root, named };
  let nonce = 0n, native = 0n;
  if (value) {
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    nonce = view.getBigUint64(0, true);
    native = view.getBigUint64(8, true) | (view.getBigUint64(16, true) << 64n);
  }
  return el("div", { id: "account-proof" },
    el("p", {}, el("span", { class: "ok", text: "State proof verified" }),
      ` for the state at height ${answer.height}: ${value ? `next nonce ${nonce}, ${native} native units` : "no record (nonce 0, balance 0)"}.`),
    dl([
      ["State root", el("span", { class: "mono", text: answer.root })],
      ["Named by the header of block", named],
    ]));
}

async function render() {
  const view = document.getElementById("view");
  const [, kind, arg] = (location.hash || "#/").split("/");
  try {
    let content;
    if (kind === "block") content = await blockPage(arg);
    else if (kind === "tx") content = await txPage(decodeURIComponent(arg));
    else if (kind === "account") content = await accountPage(decodeURIComponent(arg));
    else if (kind === "validators") content = await validatorsPage();
    else if (kind === "defi") content = await defiPage();
    else content = home();
    view.replaceChildren(...content);
  } catch (error) {
    view.replaceChildren(el("h1", { text: "Could not load" }), el("p", { text: String(error.message) }));
  }
}

async function addHead(header) {
  if (state.heads.some((h) => h.height === header.height)) return;
  const awaiting = state.awaitingRoot;
  if (awaiting && header.state_height === awaiting.height && header.state_root === awaiting.root) {
    awaiting.named.replaceChildren(blockLink(header.height));
    state.awaitingRoot = null;
  }
  state.heads.push(header);
  state.heads.sort((a, b) => a.height - b.height);
  while (state.heads.length > RECENT) state.heads.shift();
  // A small block's calls join the latest transactions; a large one's stay on its block page,
  // so a loaded chain costs the node one header per block, not every call decoded.
  if (header.tx_count > 0 && header.tx_count <= LIVE_CALLS) {
    const block = await rpc("chain_getBlock", [header.height]);
    for (const call of block?.calls ?? []) state.calls.push({ call, height: header.height });
    while (state.calls.length > 200) state.calls.shift();
  } else if (header.tx_count > LIVE_CALLS) {
    state.skipped = header.height;
  }
  refresh();
}

// The home page and the finalized height, brought up to date at most once a second however
// fast blocks come.
function refresh() {
  if (state.refreshing) return;
  state.refreshing = setTimeout(async () => {
    state.refreshing = null;
    state.finalized = (await rpc("chain_getFinalizedHead")).height;
    if (!location.hash || location.hash === "#/") render();
  }, 1000);
}

async function backfill() {
  const head = await rpc("chain_getFinalizedHead");
  state.finalized = head.height;
  const from = Math.max(1, head.height - 20);
  for (let h = from; h <= head.height; h++) {
    const header = await rpc("chain_getHeader", [h]);
    if (header) await addHead(header);
  }
}

function follow() {
  const socket = new WebSocket(`ws://${location.host}/`);
  const status = document.getElementById("status");
  socket.onopen = () => {
    socket.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "chain_subscribeNewHeads", params: [] }));
    state.live = true;
    status.textContent = "live: following new blocks";
  };
  socket.onmessage = (message) => {
    const body = JSON.parse(message.data);
    if (body.method === "chain_newHead") addHead(body.params.result);
  };
  socket.onclose = () => {
    state.live = false;
    status.textContent = "disconnected; retrying";
    setTimeout(follow, 2000);
  };
}

document.getElementById("search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const query = document.getElementById("search-box").value.trim().toLowerCase();
  if (/^[0-9]+$/.test(query)) location.hash = `#/block/${query}`;
  else if (isHash(query)) {
    if (await rpc("tx_get", [query])) location.hash = `#/tx/${query}`;
    else {
      const block = await rpc("chain_getBlockByHash", [query]);
      location.hash = block ? `#/block/${block.header.height}` : `#/account/${query}`;
    }
  }
});

window.addEventListener("hashchange", render);

(async () => {
  state.chain = await rpc("system_chain");
  document.getElementById("chain-name").textContent = state.chain.name;
  document.title = `${state.chain.name} explorer`;
  for (const a of (await query("bank", "assets"))?.assets ?? []) state.assets.set(a.id, a);
  document.getElementById("nav-defi").hidden = !["dex", "lending", "insurance"].some((m) => state.chain.modules.includes(m));
  await backfill();
  render();
  follow();
})();
