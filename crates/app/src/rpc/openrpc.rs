//! The OpenRPC document of the API, served by `rpc.discover` and printed in the book.
//!
//! The methods come from the API's definition itself: [`document`] reads `api.rs` (its text,
//! compiled in) for each method's name, doc comment, parameters and result type, so a method
//! added, renamed or changed there is in the document without a second list to keep. What a
//! Rust type looks like in JSON is said once, in [`schema_of`] and [`components`]; a test
//! holds every method's types to a schema there, and the book's sample answers to their
//! schemas' properties.

use serde_json::{json, Map, Value};

/// The API's definition, read for its methods.
const API: &str = include_str!("api.rs");

/// OpenRPC's version this document follows.
pub const OPENRPC_VERSION: &str = "1.2.6";

/// One method as the definition states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodDef {
    /// The JSON-RPC name.
    pub name: String,
    /// Its doc comment, one paragraph.
    pub summary: String,
    /// Parameters: name and Rust type, in order.
    pub params: Vec<(String, String)>,
    /// The result's Rust type (a subscription's item).
    pub result: String,
    /// For a subscription: the notification's method name and the unsubscribe method.
    pub subscription: Option<(String, String)>,
}

/// The methods of `api.rs`, in order, each subscription followed by its unsubscribe method.
pub fn methods() -> Vec<MethodDef> {
    let mut methods = Vec::new();
    let mut doc = Vec::new();
    let mut attr: Option<String> = None;
    let mut signature = String::new();
    for line in API.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim().to_string());
        } else if line.starts_with("#[method(") || line.starts_with("#[subscription(") {
            attr = Some(line.to_string());
        } else if attr.is_some()
            && (line.starts_with("fn ") || line.starts_with("async fn ") || !signature.is_empty())
        {
            signature.push_str(line);
            signature.push(' ');
            if line.ends_with(';') {
                let attr = attr.take().unwrap_or_default();
                methods.extend(method(&attr, &signature, &doc.join(" ")));
                signature.clear();
                doc.clear();
            }
        } else if !line.starts_with("#[") {
            doc.clear();
        }
    }
    methods
}

/// The method (and, for a subscription, its unsubscribe method) of one definition.
fn method(attr: &str, signature: &str, summary: &str) -> Vec<MethodDef> {
    let quoted: Vec<&str> = attr.split('"').skip(1).step_by(2).collect();
    let open = signature.find('(').unwrap_or(0);
    let close = signature.rfind(')').unwrap_or(signature.len());
    let params = split_top(&signature[open + 1..close])
        .into_iter()
        .filter(|p| !p.contains("self"))
        .filter_map(|p| {
            let (name, ty) = p.split_once(':')?;
            Some((name.trim().to_string(), ty.trim().to_string()))
        })
        .collect();
    if attr.starts_with("#[subscription(") {
        let item = attr
            .split("item = ")
            .nth(1)
            .map(|rest| rest.trim_end_matches(")]").trim().to_string())
            .unwrap_or_default();
        let (name, notification, unsubscribe) = (quoted[0], quoted[1], quoted[2]);
        return vec![
            MethodDef {
                name: name.to_string(),
                summary: summary.to_string(),
                params,
                result: item,
                subscription: Some((notification.to_string(), unsubscribe.to_string())),
            },
            MethodDef {
                name: unsubscribe.to_string(),
                summary: format!("Ends a `{name}` subscription: true if it was open."),
                params: vec![("subscription".into(), "SubscriptionId".into())],
                result: "bool".into(),
                subscription: None,
            },
        ];
    }
    let result = signature
        .split("RpcResult<")
        .nth(1)
        .map(|rest| {
            let rest = rest.trim_end().trim_end_matches(';').trim_end();
            rest.strip_suffix('>').unwrap_or(rest).trim().to_string()
        })
        .unwrap_or_default();
    vec![MethodDef {
        name: quoted[0].to_string(),
        summary: summary.to_string(),
        params,
        result,
        subscription: None,
    }]
}

/// `text` split at commas outside angle brackets.
fn split_top(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut depth = 0i32;
    for c in text.chars() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// The JSON schema of Rust type `ty` as the API writes it; `None` for a type this table does
/// not know (a test fails on it).
pub fn schema_of(ty: &str) -> Option<Value> {
    let ty = ty.trim();
    if let Some(inner) = ty.strip_prefix("Option<").and_then(|t| t.strip_suffix('>')) {
        return Some(json!({ "oneOf": [schema_of(inner)?, { "type": "null" }] }));
    }
    if let Some(inner) = ty.strip_prefix("Vec<").and_then(|t| t.strip_suffix('>')) {
        return Some(json!({ "type": "array", "items": schema_of(inner)? }));
    }
    let reference = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    Some(match ty {
        "Height" | "u64" | "u32" => json!({ "type": "integer", "minimum": 0 }),
        "bool" => json!({ "type": "boolean" }),
        "String" => json!({ "type": "string" }),
        "serde_json::Value" => json!({}),
        "SubscriptionId" => json!({ "type": ["string", "integer"] }),
        "Hash" | "Address" | "Health" | "ChainInfo" | "Head" | "HeaderView" | "BlockView"
        | "FinalityProofView" | "SetChangeView" | "TxView" | "DryRunInput" | "DryRun"
        | "TxInput" | "Admission" | "Balance" | "ValueWithProof" | "EncodedCall" | "TxStatus"
        | "ValidatorsView" | "BlockTimes" => reference(ty),
        _ => return None,
    })
}

/// The named schemas the methods refer to.
pub fn components() -> Value {
    let hex32 = json!({ "type": "string", "pattern": "^0x[0-9a-f]{64}$" });
    let hex = json!({ "type": "string", "pattern": "^0x([0-9a-f]{2})*$" });
    let amount = json!({ "type": "string", "pattern": "^[0-9]+$", "description": "a decimal integer; JSON numbers lose precision past 2^53" });
    let int = json!({ "type": "integer", "minimum": 0 });
    let r = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    let object = |properties: Value, required: &[&str]| json!({ "type": "object", "properties": properties, "required": required });
    let decoded = json!({
        "module_name": { "type": "string" },
        "value": { "description": "the module's JSON form of the call or event" },
        "undecoded": { "type": "string", "description": "why no module decoded it (instead of module_name and value)" }
    });
    let mut event_props = json!({ "module": int, "data": hex });
    merge(&mut event_props, &decoded);
    let mut call_props =
        json!({ "id": hash_ref(), "sender": r("Address"), "nonce": int, "module": int });
    merge(&mut call_props, &decoded);
    let mut header = json!({
        "hash": r("Hash"), "chain_id": int, "height": int, "parent": r("Hash"),
        "timestamp": { "type": "integer", "minimum": 0, "description": "milliseconds since 1970" },
        "proposer": r("Address"), "tx_root": r("Hash"), "tx_count": int,
        "state_height": int, "state_root": r("Hash")
    });
    let header_fields: Vec<String> = header
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let header_required: Vec<&str> = header_fields.iter().map(String::as_str).collect();
    let header_schema = object(header.take(), &header_required);
    json!({
        "Hash": hex32,
        "Address": hex32,
        "Hex": hex,
        "Amount": amount,
        "Health": object(json!({ "height": int, "is_syncing": { "type": "boolean" }, "peers": int }), &["height", "is_syncing", "peers"]),
        "ChainInfo": object(json!({ "name": { "type": "string" }, "chain_id": int, "gas_price": int, "modules": { "type": "array", "items": { "type": "string" } } }), &["name", "chain_id", "gas_price", "modules"]),
        "Head": object(json!({ "height": int, "hash": r("Hash") }), &["height", "hash"]),
        "HeaderView": header_schema,
        "BlockView": object(json!({
            "hash": r("Hash"),
            "header": object(json!({}), &[]),
            "txs": { "type": "array", "items": r("Hex") },
            "certificate": { "oneOf": [r("Hex"), { "type": "null" }] },
            "calls": { "type": "array", "items": r("CallView") }
        }), &["hash", "header", "txs", "calls"]),
        "CallView": object(call_props, &["id"]),
        "EventView": object(event_props, &["module", "data"]),
        "Outcome": { "oneOf": [
            { "const": "Success" },
            object(json!({ "Failed": object(json!({ "module": int, "code": int, "reason": { "type": "string" } }), &["module", "code", "reason"]) }), &["Failed"])
        ] },
        "Receipt": object(json!({
            "tx": r("Hash"), "outcome": r("Outcome"), "gas_used": int, "fee_paid": r("Amount"),
            "events": { "type": "array", "items": object(json!({ "module": int, "data": r("Hex") }), &["module", "data"]) }
        }), &["tx", "outcome", "gas_used", "fee_paid", "events"]),
        "TxView": object(json!({
            "height": int, "index": int, "receipt": r("Receipt"),
            "events": { "type": "array", "items": r("EventView") },
            "failed_in": { "type": "string" }
        }), &["height", "index", "receipt", "events"]),
        "DryRunInput": { "oneOf": [
            r("Hex"),
            object(json!({
                "sender": r("Hash"), "module": { "type": "string" }, "call": {},
                "nonce": int, "gas_limit": int, "tip": r("Amount")
            }), &["sender", "module", "call"])
        ] },
        "DryRun": object(json!({
            "height": int, "receipt": r("Receipt"),
            "events": { "type": "array", "items": r("EventView") },
            "failed_in": { "type": "string" }
        }), &["height", "receipt", "events"]),
        "TxInput": { "oneOf": [r("Hex"), { "type": "array", "items": r("Hex"), "maxItems": 10000 }] },
        "Rejection": object(json!({
            "reason": { "enum": ["malformed", "unknown_module", "too_large", "bad_signature", "wrong_chain", "nonce_too_low", "nonce_gap", "fee_too_low", "insufficient_balance", "pool_full", "sender_full", "duplicate", "unavailable"] }
        }), &["reason"]),
        "Admission": object(json!({
            "status": { "enum": ["accepted", "rejected"] }, "id": r("Hash"), "reason": r("Rejection")
        }), &["status", "id"]),
        "Balance": object(json!({ "amount": r("Amount") }), &["amount"]),
        "ValueWithProof": object(json!({
            "height": int, "root": r("Hash"), "value": { "oneOf": [r("Hex"), { "type": "null" }] }, "proof": r("Hex")
        }), &["height", "root", "value", "proof"]),
        "EncodedCall": object(json!({ "module": int, "call": r("Hex") }), &["module", "call"]),
        "FinalityProofView": object(json!({
            "height": int, "certified": int, "epoch": int,
            "signers": { "type": "array", "items": int }, "proof": r("Hex")
        }), &["height", "certified", "epoch", "signers", "proof"]),
        "SetChangeView": object(json!({
            "epoch": int, "height": int, "keys": { "type": "array", "items": r("Hash") },
            "finality": r("Hex"), "proof": r("Hex")
        }), &["epoch", "height", "keys", "finality", "proof"]),
        "BlockTimes": object(json!({
            "block": r("Hash"), "height": { "oneOf": [int, { "type": "null" }] },
            "proposed_ms": { "oneOf": [int, { "type": "null" }], "description": "the header's timestamp: the proposer's clock" },
            "notarized_ms": { "oneOf": [int, { "type": "null" }], "description": "null for engines without notarizations (solo)" },
            "finalized_ms": { "oneOf": [int, { "type": "null" }] },
            "executed_ms": { "oneOf": [int, { "type": "null" }] },
            "durable_ms": { "oneOf": [int, { "type": "null" }] }
        }), &["block", "height", "proposed_ms", "notarized_ms", "finalized_ms", "executed_ms", "durable_ms"]),
        "ValidatorsView": object(json!({
            "epoch": int, "from": int, "to": int, "uncertified": int,
            "validators": { "type": "array", "items": object(json!({
                "key": r("Hash"), "address": r("Address"), "proposed": int, "signed": int, "missed": int
            }), &["key", "address", "proposed", "signed", "missed"]) }
        }), &["epoch", "from", "to", "uncertified", "validators"]),
        "TxStatus": object(json!({
            "status": { "enum": ["admitted", "rejected", "included", "finalized"] }, "id": r("Hash"),
            "reason": r("Rejection"), "height": int, "index": int, "receipt": r("Receipt"),
            "events": { "type": "array", "items": r("EventView") }
        }), &["status", "id"]),
    })
}

fn hash_ref() -> Value {
    json!({ "$ref": "#/components/schemas/Hash" })
}

fn merge(into: &mut Value, from: &Value) {
    if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// The errors every method may answer with (the book's JSON-RPC page explains each).
fn errors() -> Value {
    json!([
        { "code": -32700, "message": "Parse error: the body is not JSON" },
        { "code": -32600, "message": "Invalid request: an id that is not a string, an unsigned integer or null, or a body not complete within 10 s" },
        { "code": -32601, "message": "Method not found" },
        { "code": -32602, "message": "Invalid params: the reason is in data" },
        { "code": -32000, "message": "A store or bus failure, or the node shutting down" },
        { "code": -32007, "message": "Request too big" }
    ])
}

/// The OpenRPC document: every method of the API, with `rpc.discover` itself.
pub fn document(version: &str) -> Value {
    let mut methods: Vec<Value> = methods()
        .iter()
        .map(|m| {
            let params: Vec<Value> = m
                .params
                .iter()
                .map(|(name, ty)| {
                    let optional = ty.starts_with("Option<");
                    let inner = if optional {
                        &ty[7..ty.len() - 1]
                    } else {
                        ty.as_str()
                    };
                    json!({
                        "name": name,
                        "required": !optional,
                        "schema": schema_of(inner).unwrap_or(json!({})),
                    })
                })
                .collect();
            let mut method = Map::new();
            method.insert("name".into(), json!(m.name));
            method.insert("summary".into(), json!(m.summary));
            method.insert("params".into(), Value::Array(params));
            method.insert("paramStructure".into(), json!("by-position"));
            let result_name = match &m.subscription {
                Some((notification, _)) => format!(
                    "subscription id; notifications are `{notification}`, each a {}",
                    m.result
                ),
                None => "result".to_string(),
            };
            method.insert(
                "result".into(),
                json!({ "name": result_name, "schema": schema_of(&m.result).unwrap_or(json!({})) }),
            );
            method.insert("errors".into(), errors());
            Value::Object(method)
        })
        .collect();
    methods.push(json!({
        "name": "rpc.discover",
        "summary": "This document.",
        "params": [],
        "result": { "name": "OpenRPC document", "schema": { "type": "object" } }
    }));
    json!({
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "Lamina JSON-RPC",
            "version": version,
            "description": "A Lamina node's JSON-RPC over HTTP and WebSocket on one port. Amounts are decimal strings; hashes, addresses and bytes are 0x-prefixed lowercase hex."
        },
        "methods": methods,
        "components": { "schemas": components() }
    })
}

/// The book's list of methods: each with its summary, parameters, result and an example,
/// from the same definition as the document.
pub fn markdown() -> String {
    let mut out = String::from(
        "# JSON-RPC methods\n\nGenerated from the API's definition (`crates/app/src/rpc/api.rs`) by the \
         same code that answers `rpc.discover` with the OpenRPC document; a test fails when \
         this page is out of date (`LAMINA_BLESS=1 cargo test -p lamina-app --lib openrpc` \
         writes it again). Types are the named schemas of the document's `components`; every \
         method may answer with the errors of [JSON-RPC](rpc.md#errors).\n\n",
    );
    for m in methods() {
        out.push_str(&format!("## `{}`\n\n{}\n\n", m.name, m.summary));
        if m.params.is_empty() {
            out.push_str("Parameters: none.\n\n");
        } else {
            out.push_str("| parameter | type | required |\n|---|---|---|\n");
            for (name, ty) in &m.params {
                let optional = ty.starts_with("Option<");
                out.push_str(&format!(
                    "| `{name}` | `{ty}` | {} |\n",
                    if optional { "no" } else { "yes" }
                ));
            }
            out.push('\n');
        }
        match &m.subscription {
            Some((notification, unsubscribe)) => out.push_str(&format!(
                "Result: a subscription id (WebSocket only); notifications `{notification}` carry `{}`; `{unsubscribe}` ends it.\n\n",
                m.result
            )),
            None => out.push_str(&format!("Result: `{}`.\n\n", m.result)),
        }
        let example = json!({ "jsonrpc": "2.0", "id": 1, "method": m.name, "params": example(&m) });
        out.push_str(&format!("```json\n{example}\n```\n\n"));
    }
    out.push_str(
        "## `rpc.discover`\n\nThis API as an OpenRPC document ([`openrpc.json`](openrpc.json) is \
         the same document, as the book was built), for tools that generate clients and \
         documentation from it.\n\nParameters: none.\n\n```json\n\
         {\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"rpc.discover\",\"params\":[]}\n```\n\n\
         # Types\n\nThe JSON schema of each named type (`Option<T>` is `T` or `null`, `Vec<T>` an \
         array of `T`, `Height`, `u64` and `u32` non-negative integers).\n\n",
    );
    if let Some(schemas) = components().as_object() {
        for (name, schema) in schemas {
            let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
            out.push_str(&format!("## `{name}`\n\n```json\n{pretty}\n```\n\n"));
        }
    }
    out
}

/// Example parameters for `m`, built from its types.
fn example(m: &MethodDef) -> Value {
    let alice = "0x6a3633c2585e6577c478b2161a48f727331c5853949a515911f9fd9c592c7942";
    Value::Array(
        m.params
            .iter()
            .map(|(name, ty)| match (name.as_str(), ty.as_str()) {
                ("account", _) => json!(alice),
                ("asset", _) => json!(0),
                ("height", _) => json!(1),
                ("epoch", _) => json!(0),
                ("blocks", _) => json!(64),
                ("hash" | "id", _) => json!(format!("0x{}", "00".repeat(32))),
                ("key", _) => json!("0x00"),
                ("keys", _) => json!(["0x00"]),
                ("module", _) => json!("bank"),
                ("call", _) => json!({ "transfer": { "to": alice, "asset": 0, "amount": "5" } }),
                ("query", _) => json!({ "balance": { "account": alice, "asset": 0 } }),
                ("subscription", _) => json!("SUBSCRIPTION_ID"),
                ("tx", "DryRunInput") => json!({
                    "sender": "0x4f2833649dbeff099f3a12bbcfd0cfc1e0b33565b881ecdcd182fb5307a7be3c",
                    "module": "bank",
                    "call": { "transfer": { "to": alice, "asset": 0, "amount": "5" } }
                }),
                ("txs" | "tx", _) => json!("0xSIGNED_TRANSACTION_HEX"),
                _ => json!(null),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_method_the_server_registers_with_a_known_schema() {
        // What a node serves is compared with this list in the node's tests (`rpc_methods`);
        // here, that the reading found the definition's methods and subscriptions.
        let names: Vec<String> = methods().into_iter().map(|m| m.name).collect();
        for name in [
            "system_health",
            "tx_dryRun",
            "state_getValues",
            "tx_submitAndWatch",
            "tx_unwatch",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} not read from api.rs: {names:?}"
            );
        }
        assert_eq!(
            API.matches("#[method(").count() + 2 * API.matches("#[subscription(").count(),
            names.len()
        );
        for m in methods() {
            for (name, ty) in &m.params {
                let inner = ty.strip_prefix("Option<").and_then(|t| t.strip_suffix('>'));
                assert!(
                    schema_of(inner.unwrap_or(ty)).is_some(),
                    "{}: parameter {name} of type {ty} has no schema",
                    m.name
                );
                assert!(
                    !example(&m).as_array().unwrap().iter().any(Value::is_null),
                    "{}: no example for {name}",
                    m.name
                );
            }
            assert!(
                schema_of(&m.result).is_some(),
                "{}: result {} has no schema",
                m.name,
                m.result
            );
            assert!(!m.summary.is_empty(), "{} has no doc comment", m.name);
        }
        // Every reference resolves.
        let doc = document("test");
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "no schema {name}");
        }
        assert_eq!(doc["openrpc"], OPENRPC_VERSION);
    }

    /// Real answers have the properties their schemas name, and every required one.
    #[test]
    fn answers_have_the_shapes_their_schemas_say() {
        use lamina_interop::block::{Outcome, Receipt};
        use lamina_interop::codec::BoundedVec;
        use lamina_interop::{Hash, Height};
        let schemas = components();
        let check = |name: &str, value: Value| {
            let schema = &schemas[name];
            let properties = schema["properties"].as_object().unwrap();
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{name}: {value}"));
            for key in object.keys() {
                assert!(
                    properties.contains_key(key),
                    "{name} has {key}, not in its schema"
                );
            }
            for required in schema["required"].as_array().unwrap() {
                assert!(
                    object.contains_key(required.as_str().unwrap()),
                    "{name} lacks {required}"
                );
            }
        };
        let receipt = Receipt {
            tx: Hash::ZERO,
            outcome: Outcome::Success,
            gas_used: 1,
            fee_paid: 1,
            events: BoundedVec::new(),
        };
        check("Receipt", serde_json::to_value(&receipt).unwrap());
        let view = super::super::TxView {
            record: lamina_interop::chain::TxRecord {
                height: Height(1),
                index: 0,
                receipt: receipt.clone(),
            },
            events: Vec::new(),
            failed_in: None,
        };
        check("TxView", serde_json::to_value(&view).unwrap());
        check(
            "DryRun",
            serde_json::to_value(super::super::DryRun {
                height: Height(1),
                receipt,
                events: Vec::new(),
                failed_in: Some("bank".into()),
            })
            .unwrap(),
        );
        check(
            "Health",
            serde_json::to_value(super::super::Health {
                height: Height(1),
                is_syncing: false,
                peers: 0,
            })
            .unwrap(),
        );
        check(
            "Head",
            serde_json::to_value(super::super::Head {
                height: Height(1),
                hash: Hash::ZERO,
            })
            .unwrap(),
        );
        check(
            "Balance",
            serde_json::to_value(super::super::Balance { amount: "1".into() }).unwrap(),
        );
        check(
            "Admission",
            serde_json::to_value(lamina_interop::messages::Admission::Rejected {
                id: Hash::ZERO,
                reason: lamina_interop::messages::Rejection::Duplicate,
            })
            .unwrap(),
        );
    }

    #[test]
    fn the_books_method_page_is_generated_from_the_definition() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../book/src/reference/rpc-methods.md"
        );
        let fresh = markdown();
        if std::env::var_os("LAMINA_BLESS").is_some() {
            std::fs::write(path, &fresh).unwrap();
        }
        let page = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            page == fresh,
            "book/src/reference/rpc-methods.md is out of date: run with LAMINA_BLESS=1"
        );
        let doc_path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../book/src/reference/openrpc.json"
        );
        let doc =
            serde_json::to_string_pretty(&document(env!("CARGO_PKG_VERSION"))).unwrap() + "\n";
        if std::env::var_os("LAMINA_BLESS").is_some() {
            std::fs::write(doc_path, &doc).unwrap();
        }
        let stored = std::fs::read_to_string(doc_path).unwrap_or_default();
        assert!(
            stored == doc,
            "book/src/reference/openrpc.json is out of date: run with LAMINA_BLESS=1"
        );
    }
}
