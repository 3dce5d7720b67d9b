// The explorer in a real browser (Debian's Chromium, driven by Playwright): a dev chain whose
// name is crafted HTML, transfers and a module call sent while the page is open, and every page
// checked against what the CLI reports. Screenshots of each page go to SHOTS (an argument, or
// ../../target/explorer-screenshots).
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync } from "node:fs";
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
  await page.screenshot({ path: join(shots, "account.png"), fullPage: true });

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

  check("nothing requested from elsewhere", outside.length === 0, outside.join(" "));
  check("no script errors", errors.length === 0, errors.join(" | "));
} finally {
  await browser.close();
  node.kill("SIGTERM");
}
console.log(`screenshots in ${shots}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
