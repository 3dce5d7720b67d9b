// Validates an OpenRPC document (a file, or a node's `rpc.discover` when given a URL)
// against the OpenRPC meta-schema, and checks that its references resolve.
import { readFile } from "node:fs/promises";
import { validateOpenRPCDocument, dereferenceDocument } from "@open-rpc/schema-utils-js";

const source = process.argv[2];
if (!source) {
  console.error("usage: node validate.mjs FILE|URL");
  process.exit(2);
}
let doc;
if (source.startsWith("http://")) {
  const answer = await fetch(source, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "rpc.discover", params: [] }),
  });
  doc = (await answer.json()).result;
} else {
  doc = JSON.parse(await readFile(source, "utf8"));
}
const verdict = validateOpenRPCDocument(doc);
if (verdict !== true) {
  console.error("not a valid OpenRPC document:", verdict.message ?? verdict);
  console.log("0 passed, 1 failed");
  process.exit(1);
}
await dereferenceDocument(doc);
console.log(`${source}: valid OpenRPC ${doc.openrpc}, ${doc.methods.length} methods`);
console.log("1 passed, 0 failed");
