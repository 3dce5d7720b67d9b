//! The explorer: one page, served by the node on its JSON-RPC port (`GET /`), with no build
//! step for the user and nothing fetched from anywhere else.
//!
//! The page reads the chain through the same JSON-RPC and WebSocket subscriptions as any
//! client (`chain_subscribeNewHeads` for live blocks, `chain_getBlock` for decoded calls,
//! `tx_get` for decoded events, `state_getBalance` and `state_getNonce` for accounts), and
//! checks an account's record against the state root a block names with `proof.js`, a
//! verifier of the chain's state proofs written from the book alone. Every
//! string from the chain reaches the page as text (`textContent`), never as HTML, and the
//! Content-Security-Policy allows only this node's own script, style and connections, so a
//! string crafted as HTML shows as what it is.

use jsonrpsee::server::{HttpBody, HttpResponse};

const INDEX: &str = include_str!("index.html");
const APP: &str = include_str!("app.js");
const PROOF: &str = include_str!("proof.js");
const STYLE: &str = include_str!("style.css");
const ICON: &str = include_str!("icon.svg");

/// The explorer's file at `path`, with its content type.
pub(crate) fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/" | "/explorer" | "/explorer/" => Some(("text/html; charset=utf-8", INDEX)),
        "/explorer/app.js" => Some(("text/javascript; charset=utf-8", APP)),
        "/explorer/proof.js" => Some(("text/javascript; charset=utf-8", PROOF)),
        "/explorer/style.css" => Some(("text/css; charset=utf-8", STYLE)),
        "/explorer/icon.svg" | "/favicon.ico" => Some(("image/svg+xml", ICON)),
        _ => None,
    }
}

/// The policy every explorer response carries: this origin's script, style, images and
/// connections (HTTP and the WebSocket at `host`), nothing inline, no frames, no forms posted
/// elsewhere.
pub(crate) fn policy(host: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self' ws://{host}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// The response for `path`, or `None` when the path is not the explorer's.
pub(crate) fn respond(path: &str, host: &str) -> Option<HttpResponse> {
    let (content_type, body) = asset(path)?;
    let mut response = HttpResponse::new(HttpBody::from(body));
    let headers = response.headers_mut();
    let mut set = |name: http::header::HeaderName, value: &str| {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(http::header::CONTENT_TYPE, content_type);
    set(http::header::CONTENT_SECURITY_POLICY, &policy(host));
    set(http::header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(http::header::REFERRER_POLICY, "no-referrer");
    set(http::header::CACHE_CONTROL, "no-cache");
    Some(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_writes_no_html() {
        for (_, text) in ["/", "/explorer/app.js", "/explorer/style.css"]
            .into_iter()
            .filter_map(super::asset)
        {
            for elsewhere in ["http://", "https://", "//cdn", "@import"] {
                let found = text
                    .lines()
                    .filter(|l| l.contains(elsewhere) && !l.contains("www.w3.org/2000/svg"))
                    .count();
                assert_eq!(found, 0, "a reference to {elsewhere}");
            }
        }
        let (_, app) = super::asset("/explorer/app.js").unwrap();
        for html_sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(
                !app.contains(html_sink),
                "the page must not use {html_sink}"
            );
        }
        let policy = super::policy("127.0.0.1:9944");
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe"));
    }
}
