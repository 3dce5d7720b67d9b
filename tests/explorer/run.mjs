// The explorer in a real browser (Debian's Chromium, driven by Playwright): a dev chain whose
// name is crafted HTML, transfers and a module call sent while the page is open, and every page
// checked against what the CLI reports. Screenshots of each page go to SHOTS (an argument, or
// ../../target/explorer-screenshots).
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync } from "node:fs";
import vm from "node:vm";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");
const lamina = process.env.LAMINA_BIN ?? join(root, "target/debug/lamina");
const shots = resolve(process.argv[2] ?? join(root, "target/explorer-screenshots"));
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
mkdirSync(shots, { recursive: true });

let passed = 0;
let failed = 0;
function check(what, ok, detail = "") {
  if (ok) passed++;
  else {
    failed++;
    console.error(`FAILED: ${what} ${detail}`);
  }
}

const freePort = () =>
  new Promise((done) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

// WCAG 2 contrast of every element that shows text against what lies behind it (AA: 4.5, or
// 3 for large text), and an accessible name on every link, button, input and chart; the
// lowest ratio found, and what falls short.
async function audit(page) {
  return page.evaluate(() => {
    const rgb = (c) => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const behind = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const short = [];
    let lowest = Infinity;
    for (const el of document.querySelectorAll("body *")) {
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      const style = getComputedStyle(el);
      if (!own || style.visibility === "hidden" || style.display === "none" || !el.getClientRects().length) continue;
      const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(behind(el))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      lowest = Math.min(lowest, ratio);
      if (ratio < (large ? 3 : 4.5)) short.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 20)}" ${ratio.toFixed(2)}`);
    }
    for (const el of document.querySelectorAll("a, button, input, svg[role=img]")) {
      const labelled = el.getAttribute("aria-label") || el.textContent.trim()
        || (el.id && document.querySelector(`label[for="${el.id}"]`));
      if (!labelled) short.push(`${el.tagName.toLowerCase()} without an accessible name`);
    }
    return { lowest, short };
  });
}

const cli = (...args) => JSON.parse(execFileSync(lamina, [...args, "--output", "json"], { encoding: "utf8" }));

// A dev chain named with HTML that would run script if the page ever wrote it as HTML.
const dir = mkdtempSync(join(tmpdir(), "lamina-explorer-"));
const crafted = '<img src=x onerror="window.__pwned=1">Dev<script>window.__pwned=2</script>';
const spec = JSON.parse(execFileSync(lamina, ["chain-spec", "export", "--preset", "dev"], { encoding: "utf8" }));
spec.name = crafted;
writeFileSync(join(dir, "spec.json"), JSON.stringify(spec));
const [rpcPort, metricsPort] = [await freePort(), await freePort()];
const node = spawn(lamina, ["node", "--chain", join(dir, "spec.json"), "--base-path", join(dir, "db"),
  "--rpc-port", String(rpcPort), "--metrics-port", String(metricsPort), "--output", "json"],
  { stdio: ["ignore", "pipe", "ignore"] });
let endpoints = "";
for await (const chunk of node.stdout) {
  endpoints += chunk;
  if (endpoints.trim().endsWith("}")) break;
}
const rpc = JSON.parse(endpoints).rpc;
const url = `${rpc}/`;

const browser = await chromium.launch({
  executablePath: browserPath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const outside = [];
  const errors = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(rpc) && !request.url().startsWith(rpc.replace("http", "ws"))) outside.push(request.url());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
  await page.goto(url);
  await page.waitForSelector("#stat-height");

  // The crafted name shows as text; nothing of it ran or became an element.
  check("the chain's name shows as text", (await page.textContent("#chain-name")) === crafted);
  check("no injected element", (await page.locator("main img, header img, main script").count()) === 0);
  check("no injected script ran", (await page.evaluate(() => window.__pwned)) === undefined);

  // Transfers and a module call, sent while the page is open, appear live.
  const bob = cli("key", "inspect", "bob")[0].address;
  const alice = cli("key", "inspect", "alice")[0];
  const sent = [];
  for (const amount of ["11", "12", "13"]) {
    sent.push(cli("tx", "transfer", "--to", bob, "--amount", amount, "--from", "alice", "--rpc", rpc));
  }
  sent.push(cli("tx", "call", "oracle", '{"report": {"prices": [[0, "2100000000000000000"]]}}', "--from", "alice", "--rpc", rpc));
  for (const tx of sent) {
    const shown = await page.waitForSelector(`a[href="#/tx/${tx.id}"]`, { timeout: 20000 }).then(() => true, () => false);
    check(`transaction ${tx.id} appears live`, shown);
  }
  const oracleRow = await page.locator(`tr:has(a[href="#/tx/${sent[3].id}"])`).textContent();
  check("the module call is named", oracleRow.includes("oracle.report"), oracleRow);
  await page.screenshot({ path: join(shots, "home.png"), fullPage: true });

  // The transaction page: outcome, fee and the decoded event, as the CLI reported them.
  const first = sent[0];
  await page.goto(`${url}#/tx/${first.id}`);
  await page.waitForSelector("#tx-outcome");
  check("tx outcome", (await page.textContent("#tx-outcome")) === "success");
  check("tx fee", (await page.textContent("#tx-fee")) === first.receipt.fee_paid);
  const events = await page.textContent("#tx-events");
  check("tx event decoded", events.includes("bank") && events.includes('"amount": "11"'), events);
  await page.screenshot({ path: join(shots, "transaction.png"), fullPage: true });

  // The block page.
  const block = cli("query", "block", String(first.height), "--rpc", rpc);
  await page.goto(`${url}#/block/${first.height}`);
  await page.waitForSelector("#block-hash");
  check("block hash", (await page.textContent("#block-hash")) === block.hash);
  check("block tx count", (await page.textContent("#block-txs")) === String(block.header.tx_count));
  await page.screenshot({ path: join(shots, "block.png"), fullPage: true });

  // The account page: bob's balance and nonce as the CLI reads them.
  const balance = cli("query", "balance", bob, "--rpc", rpc).amount;
  await page.goto(`${url}#/account/${bob}`);
  await page.waitForSelector("#account-balances");
  check("account balance", (await page.textContent("#account-balances")).includes(balance), balance);
  check("account nonce", (await page.textContent("#account-nonce")) === "0");
  // The page checks bob's record against a state root a block names, with its own verifier.
  const proven = await page.textContent("#account-proof");
  check("the state proof verifies in the page", proven.includes("State proof verified") && proven.includes(`${balance} native units`)
    && proven.includes("next nonce 0"), proven);
  // The next block names the proven root in its header; a transfer makes one, and the page,
  // following live, says which.
  cli("tx", "transfer", "--to", alice.address, "--amount", "1", "--from", "charlie", "--rpc", rpc);
  const named = await page.waitForSelector("#account-proof-block a", { timeout: 20000 }).then(() => true, () => false);
  const namedBy = named ? Number((await page.textContent("#account-proof-block a")).trim()) : 0;
  const namer = named ? cli("query", "block", String(namedBy), "--rpc", rpc).header : {};
  check("a block's header names the proven root", named && namer.state_root === proven.match(/0x[0-9a-f]{64}/)?.[0],
    `${JSON.stringify(namer)} ${await page.textContent("#account-proof")} ${JSON.stringify(cli("query", "block", "--rpc", rpc).header)}`);
  await page.screenshot({ path: join(shots, "account.png"), fullPage: true });

  // A node that lies: one byte of the proof changed on its way to the page, and the page says so.
  await page.route(`${url}`, async (route) => {
    const body = route.request().postData() ?? "";
    if (!body.includes("state_getValue")) return route.continue();
    const answer = await (await route.fetch()).json();
    const proof = answer.result.proof;
    const at = proof.length - 70;
    answer.result.proof = proof.slice(0, at) + (proof[at] === "0" ? "1" : "0") + proof.slice(at + 1);
    await route.fulfill({ json: answer });
  });
  await page.goto(`${url}#/account/${alice.address}`);
  await page.waitForFunction((a) => document.querySelector("h1")?.textContent.includes(a)
    && document.getElementById("account-proof"), alice.address);
  const refused = await page.textContent("#account-proof");
  check("a tampered proof is refused in the page", refused.includes("does not hold"), refused);
  await page.unroute(`${url}`);

  // The validators page: the dev chain's one validator, alice, as `lamina query validators`
  // counts the same blocks.
  await page.goto(`${url}#/validators`);
  await page.waitForSelector("#validators");
  const span = await page.textContent("#validators-span");
  const [, from, to] = span.match(/Blocks (\d+) to (\d+)/) ?? [];
  const counted = cli("query", "validators", "--rpc", rpc);
  const row = await page.locator("#validators tbody tr").first().textContent();
  check("one validator", (await page.locator("#validators tbody tr").count()) === 1);
  check("it is alice", counted.validators[0].key === alice.public_key && row.includes(alice.address.slice(0, 10)), row);
  // The page and the CLI may count a block apart; each proposed and signed every block it counted.
  const blocks = Number(to) - Number(from) + 1;
  check("alice proposed and signed every block the page counted, missing none",
    row.includes(`${blocks}${blocks}0`), `${row} (blocks ${from} to ${to})`);
  check("the CLI counts the same way", counted.validators[0].proposed === counted.to - counted.from + 1
    && counted.validators[0].signed === counted.validators[0].proposed && counted.validators[0].missed === 0, JSON.stringify(counted));
  await page.screenshot({ path: join(shots, "validators.png"), fullPage: true });

  // The DeFi page: the dev chain's LAM/USD pool and its lending markets, as the modules answer.
  const pools = cli("query", "module", "dex", '{"pools": {"from": 0, "limit": 10}}', "--rpc", rpc).pools;
  const markets = cli("query", "module", "lending", '"markets"', "--rpc", rpc).markets;
  await page.goto(`${url}#/defi`);
  await page.waitForSelector("#defi-pools");
  const poolRows = await page.locator("#defi-pools tbody tr").allTextContents();
  check("every pool listed", poolRows.length === pools.length && pools.length > 0, `${poolRows.length} of ${pools.length}`);
  check("the pool's pair and reserves", poolRows[0].includes("LAM / USD") && poolRows[0].includes(pools[0].pool.reserve_a)
    && poolRows[0].includes(pools[0].pool.reserve_b), poolRows[0]);
  const marketRows = await page.locator("#defi-markets tbody tr").allTextContents();
  check("every market listed", marketRows.length === markets.length && markets.length > 0, `${marketRows.length} of ${markets.length}`);
  check("a market's supply", marketRows.some((r) => r.includes(markets[0].market.supplied)), marketRows.join(" | "));
  const cover = cli("query", "module", "insurance", '"pools"', "--rpc", rpc).pools;
  const coverRows = await page.locator("#defi-cover tbody tr").allTextContents();
  check("every insurance pool listed", coverRows.length === cover.length && cover.length > 0, `${coverRows.length} of ${cover.length}`);
  check("an insurance pool's risk and capital", coverRows[0].includes(cover[0].pool.risk) && coverRows[0].includes(cover[0].pool.capital), coverRows[0]);
  await page.screenshot({ path: join(shots, "defi.png"), fullPage: true });

  // Contrast and names on every page, light here and dark below.
  const lowest = [];
  for (const hash of ["#/", `#/block/${first.height}`, `#/tx/${first.id}`, `#/account/${bob}`, "#/validators", "#/defi"]) {
    await page.goto(`${url}${hash}`);
    await page.waitForSelector("main h1");
    await page.waitForTimeout(300);
    const found = await audit(page);
    lowest.push(found.lowest);
    check(`contrast and names, light, ${hash}`, found.short.length === 0, found.short.join("; "));
  }

  // Search by height finds the block.
  await page.goto(url);
  await page.fill("#search-box", String(first.height));
  await page.press("#search-box", "Enter");
  await page.waitForSelector("#block-hash");
  check("search by height", (await page.textContent("#block-hash")) === block.hash);

  // Narrow and dark.
  const phone = await browser.newContext({ viewport: { width: 375, height: 800 }, colorScheme: "dark" });
  const small = await phone.newPage();
  await small.goto(url);
  await small.waitForSelector("#stat-height");
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check("no sideways scrolling at 375 px", overflow <= 0, `${overflow}px`);
  await small.screenshot({ path: join(shots, "home-375-dark.png"), fullPage: true });
  for (const hash of [`#/tx/${first.id}`, "#/validators", "#/defi"]) {
    await small.goto(`${url}${hash}`);
    await small.waitForSelector("main h1");
    await small.waitForTimeout(300);
    const found = await audit(small);
    lowest.push(found.lowest);
    check(`contrast and names, dark, ${hash}`, found.short.length === 0, found.short.join("; "));
  }
  console.log(`lowest text contrast on any page: ${Math.min(...lowest).toFixed(2)} (AA asks 4.5)`);
  // The audit catches what it looks for: a heading turned pale is reported.
  await small.evaluate(() => { document.querySelector("main h1").style.color = "#2a2d35"; });
  check("the contrast audit reports a pale heading", (await audit(small)).short.some((s) => s.startsWith("h1")));

  // The page's verifier, run here over many keys (present and absent) of the same chain: each
  // proof the node gives holds and yields the node's value, and one changed byte anywhere in a
  // proof, or in the root, makes it fail.
  vm.runInThisContext(readFileSync(join(root, "crates/app/src/explorer/proof.js"), "utf8"));
  const call = async (method, params) => (await (await fetch(rpc, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) })).json()).result;
  const hexOf = (text) => `0x${Buffer.from(text).toString("hex")}`;
  const keys = ["accounts/", "bank/assets", "dex/pairs", "lending/params", "staking/params"].map(hexOf);
  for (const who of [alice.address, bob]) keys.push(`${hexOf("accounts/")}${who.slice(2)}`);
  for (let i = 0; i < 60; i++) keys.push(hexOf(`absent/${i}`));
  const flip = (h, i) => h.slice(0, i) + (h[i] === "0" ? "1" : "0") + h.slice(i + 1);
  let held = 0, wrong = 0, tamperedHeld = 0;
  for (const key of keys) {
    const v = await call("state_getValue", [key]);
    try {
      const value = await LaminaProof.verify(v.root, key, v.proof);
      if ((value ? `0x${Buffer.from(value).toString("hex")}` : null) === v.value) held++;
      else wrong++;
    } catch {
      wrong++;
    }
    for (const at of [2, 12, Math.floor(v.proof.length / 2), v.proof.length - 1]) {
      await LaminaProof.verify(v.root, key, flip(v.proof, at)).then(() => tamperedHeld++, () => {});
    }
    await LaminaProof.verify(flip(v.root, 9), key, v.proof).then(() => tamperedHeld++, () => {});
  }
  check("the page's verifier holds every proof the node gives", held === keys.length && wrong === 0, `${held} of ${keys.length}`);
  check("and refuses every changed one", tamperedHeld === 0, `${tamperedHeld} changed proofs held`);

  check("nothing requested from elsewhere", outside.length === 0, outside.join(" "));
  check("no script errors", errors.length === 0, errors.join(" | "));
} finally {
  await browser.close();
  node.kill("SIGTERM");
}
console.log(`screenshots in ${shots}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
