// Does the explorer slow a loaded node? A dev node (release build) takes `lamina bench --rpc`
// load (TXS transfers, 200,000 by default) ROUNDS times (5) with no page open and ROUNDS times
// with the explorer open in headless Chromium, following every block live, alternating; it
// prints each run's throughput and the cores the browser and the node kept busy, the medians
// and their ratio, which issue 31 holds to at least 0.95. Not run in CI (it needs a
// release build and minutes): `cargo build --release -p lamina-node && npm run load`.
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");
const lamina = process.env.LAMINA_BIN ?? join(root, "target/release/lamina");
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const rounds = Number(process.env.ROUNDS ?? 5);
const txs = process.env.TXS ?? "200000";

const freePort = () =>
  new Promise((done) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

const dir = mkdtempSync(join(tmpdir(), "lamina-explorer-load-"));
const [rpcPort, metricsPort] = [await freePort(), await freePort()];
const node = spawn(lamina, ["node", "--dev", "--base-path", join(dir, "db"), "--rpc-port", String(rpcPort),
  "--metrics-port", String(metricsPort), "--output", "json"], { stdio: ["ignore", "pipe", "ignore"] });
let endpoints = "";
for await (const chunk of node.stdout) {
  endpoints += chunk;
  if (endpoints.trim().endsWith("}")) break;
}
const rpc = JSON.parse(endpoints).rpc;

// The load the book's Transactions chapter measures: one busy sender, batches of 2000.
const bench = () => {
  const report = JSON.parse(execFileSync(lamina, ["bench", "--rpc", rpc, "--accounts", "100", "--senders", "1",
    "--txs", txs, "--batch", "2000", "--window", "16000", "--output", "json"], { encoding: "utf8", maxBuffer: 1 << 26 }));
  return report.tps;
};

const browser = await chromium.launch({
  executablePath: browserPath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
// CPU seconds spent so far by every process whose command line names `what` (Linux /proc).
function cpuSeconds(what) {
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(what)) continue;
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended meanwhile.
    }
  }
  return ticks / 100;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const without = [];
const withPage = [];
const browserCpu = [];
const nodeCpu = [];
let seen = 0;
try {
  for (let round = 0; round < rounds; round++) {
    // Odd rounds run without the page first, even ones after, so a trend over the run (the
    // chain grows) weighs on both alike.
    if (round % 2 === 0) without.push(bench());
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${rpc}/`);
    await page.waitForSelector("#stat-height");
    const start = Number(await page.textContent("#stat-height"));
    const [browserBefore, nodeBefore, began] = [cpuSeconds("chromium"), cpuSeconds("--base-path"), Date.now()];
    withPage.push(bench());
    const seconds = (Date.now() - began) / 1000;
    browserCpu.push((cpuSeconds("chromium") - browserBefore) / seconds);
    nodeCpu.push((cpuSeconds("--base-path") - nodeBefore) / seconds);
    // The page kept up: it shows the node's finalized height once the load ends.
    const head = await (await fetch(rpc, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "chain_getFinalizedHead", params: [] }) })).json();
    await page.waitForFunction((h) => Number(document.getElementById("stat-height").textContent) >= h,
      head.result.height, { timeout: 30000 });
    seen += head.result.height - start;
    await page.context().close();
    if (round % 2 === 1) without.push(bench());
    console.log(`round ${round + 1}: ${without.at(-1).toFixed(0)} tx/s without the page, ${withPage.at(-1).toFixed(0)} with it;`
      + ` meanwhile the browser kept ${browserCpu.at(-1).toFixed(2)} cores busy, the node ${nodeCpu.at(-1).toFixed(2)}`);
  }
} finally {
  await browser.close();
  node.kill("SIGTERM");
}
const ratio = median(withPage) / median(without);
console.log(`median ${median(without).toFixed(0)} tx/s without, ${median(withPage).toFixed(0)} with the page open;`
  + ` ratio ${ratio.toFixed(3)} (limit 0.95); the page followed ${seen} blocks live`);
process.exit(ratio >= 0.95 ? 0 : 1);
