//! Node configuration: defaults < `lamina.toml` < `LAMINA_*` environment < flags.
//!
//! ```toml
//! chain = "dev"              # a preset or a chain spec file
//! base_path = "/var/lib/lamina"
//! rpc_host = "127.0.0.1"
//! rpc_port = 9944
//! metrics_port = 9615       # Prometheus, on 127.0.0.1
//! instance = 0               # adds 10 * instance to every port
//! cache_pages = 65536        # authenticated-state page cache, 4 KiB pages
//! tx_index = true            # index transactions by id (lookups, watched submissions)
//! validator = "alice"        # keystore key (or dev account) this validator signs with
//! p2p_host = "0.0.0.0"       # peer-to-peer listen address (BFT chains)
//! p2p_port = 30333
//! public_address = "203.0.113.7:30333"   # what peers dial; 127.0.0.1:p2p_port by default
//! bootnodes = ["PUBLIC_KEY@HOST:PORT"]   # dialled at start, besides the chain spec's
//! ```
//!
//! Flags and environment variables are resolved by the command line parser (a flag wins over
//! its variable); what neither gives comes from the file, then from the defaults here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use crate::spec::Bootnode;

/// Default JSON-RPC port.
pub(crate) const DEFAULT_RPC_PORT: u16 = 9944;
/// Default Prometheus metrics port.
pub(crate) const DEFAULT_METRICS_PORT: u16 = 9615;
/// Default peer-to-peer port.
pub(crate) const DEFAULT_P2P_PORT: u16 = crate::spec::LOCAL_P2P_PORT;
/// Ports move by this much per `--instance`.
pub(crate) const INSTANCE_STRIDE: u16 = 10;

// ANCHOR: settings
/// The settings of `lamina node`, every one optional: what the file says, or what flags and
/// environment gave (`None`: not given there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// A preset or a chain spec file.
    pub(crate) chain: Option<String>,
    /// The data directory.
    pub(crate) base_path: Option<PathBuf>,
    /// JSON-RPC host.
    pub(crate) rpc_host: Option<IpAddr>,
    /// JSON-RPC port.
    pub(crate) rpc_port: Option<u16>,
    /// Prometheus metrics port (on 127.0.0.1).
    pub(crate) metrics_port: Option<u16>,
    /// Port offset index.
    pub(crate) instance: Option<u16>,
    /// Authenticated-state page cache, in 4 KiB pages.
    pub(crate) cache_pages: Option<usize>,
    /// Whether finalized transactions are indexed by id.
    pub(crate) tx_index: Option<bool>,
    /// The key this validator signs with: a keystore name or a dev account.
    pub(crate) validator: Option<String>,
    /// Peer-to-peer listen host.
    pub(crate) p2p_host: Option<IpAddr>,
    /// Peer-to-peer port.
    pub(crate) p2p_port: Option<u16>,
    /// The address peers dial.
    pub(crate) public_address: Option<SocketAddr>,
    /// Boot nodes besides the chain spec's.
    pub(crate) bootnodes: Option<Vec<Bootnode>>,
}
// ANCHOR_END: settings

impl Settings {
    /// Reads `path`; a missing file is an error (the user named it).
    pub(crate) fn load(path: &Path) -> anyhow::Result<Settings> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config {}", path.display()))
    }
}

/// The resolved settings of `lamina node`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// A preset or a chain spec file.
    pub(crate) chain: String,
    /// The data directory, `None` for a temporary one (dev only).
    pub(crate) base_path: Option<PathBuf>,
    /// JSON-RPC host.
    pub(crate) rpc_host: IpAddr,
    /// JSON-RPC port, after the instance offset.
    pub(crate) rpc_port: u16,
    /// Metrics port, after the instance offset.
    pub(crate) metrics_port: u16,
    /// Authenticated-state page cache.
    pub(crate) cache_pages: usize,
    /// Whether finalized transactions are indexed by id.
    pub(crate) tx_index: bool,
    /// The validator key's name, if given.
    pub(crate) validator: Option<String>,
    /// Peer-to-peer listen address, after the instance offset.
    pub(crate) p2p_listen: SocketAddr,
    /// The address peers dial.
    pub(crate) public_address: SocketAddr,
    /// Boot nodes besides the chain spec's.
    pub(crate) bootnodes: Vec<Bootnode>,
}

/// Applies the precedence: `given` (flags, then environment) over `file` over defaults.
pub(crate) fn resolve(given: Settings, file: Settings, dev: bool) -> anyhow::Result<Resolved> {
    let chain = given
        .chain
        .or(file.chain)
        .unwrap_or_else(|| if dev { "dev" } else { "local" }.to_string());
    let base_path = given.base_path.or(file.base_path);
    if base_path.is_none() && !dev {
        anyhow::bail!("--base-path is required (or --dev for a temporary chain)");
    }
    let instance = given.instance.or(file.instance).unwrap_or(0);
    let offset = |port: u16| {
        instance
            .checked_mul(INSTANCE_STRIDE)
            .and_then(|offset| port.checked_add(offset))
            .context("--instance moves a port past 65535")
    };
    let p2p_port = offset(given.p2p_port.or(file.p2p_port).unwrap_or(DEFAULT_P2P_PORT))?;
    Ok(Resolved {
        chain,
        base_path,
        rpc_host: given
            .rpc_host
            .or(file.rpc_host)
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        rpc_port: offset(given.rpc_port.or(file.rpc_port).unwrap_or(DEFAULT_RPC_PORT))?,
        metrics_port: offset(
            given
                .metrics_port
                .or(file.metrics_port)
                .unwrap_or(DEFAULT_METRICS_PORT),
        )?,
        cache_pages: given.cache_pages.or(file.cache_pages).unwrap_or(65_536),
        tx_index: given.tx_index.or(file.tx_index).unwrap_or(true),
        validator: given.validator.or(file.validator),
        p2p_listen: SocketAddr::new(
            given
                .p2p_host
                .or(file.p2p_host)
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            p2p_port,
        ),
        public_address: given
            .public_address
            .or(file.public_address)
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p2p_port)),
        bootnodes: given.bootnodes.or(file.bootnodes).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example the book shows is a valid configuration.
    #[test]
    fn the_example_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("lamina.example.toml");
        let settings = Settings::load(&path).unwrap();
        assert_eq!(settings.chain.as_deref(), Some("local"));
        assert_eq!(settings.validator.as_deref(), Some("bob"));
        assert_eq!(settings.instance, Some(1));
        let boot = settings.bootnodes.clone().unwrap();
        assert_eq!(boot[0].key, crate::spec::dev_key("alice").public_key());
        let resolved = resolve(Settings::default(), settings, false).unwrap();
        assert_eq!(
            resolved.rpc_port, 9954,
            "the instance offset applies to the file's port"
        );
    }

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let file: Settings = toml::from_str(
            "chain = \"local\"\nrpc_port = 7000\ninstance = 1\nbase_path = \"/data\"\n",
        )
        .unwrap();
        let resolved = resolve(
            Settings {
                rpc_port: Some(8000),
                ..Settings::default()
            },
            file.clone(),
            false,
        )
        .unwrap();
        assert_eq!(
            resolved.rpc_port, 8010,
            "flag port plus the file's instance offset"
        );
        assert_eq!(resolved.chain, "local");
        assert_eq!(resolved.base_path, Some(PathBuf::from("/data")));
        assert_eq!(resolved.rpc_host, IpAddr::V4(Ipv4Addr::LOCALHOST));
        let defaults = resolve(Settings::default(), Settings::default(), true).unwrap();
        assert_eq!(
            (defaults.chain.as_str(), defaults.rpc_port),
            ("dev", DEFAULT_RPC_PORT)
        );
        assert!(resolve(Settings::default(), Settings::default(), false).is_err());
        assert!(toml::from_str::<Settings>("unknown = 1").is_err());
        assert_eq!(
            (resolved.p2p_listen.port(), resolved.public_address.port()),
            (DEFAULT_P2P_PORT + 10, DEFAULT_P2P_PORT + 10),
            "the instance offset moves the p2p port too"
        );
        let key = crate::spec::dev_key("bob").public_key();
        let file: Settings = toml::from_str(&format!(
            "validator = \"bob\"\nbootnodes = [\"{key}@127.0.0.1:4000\"]\npublic_address = \"10.0.0.1:4001\"\n"
        ))
        .unwrap();
        let resolved = resolve(Settings::default(), file, true).unwrap();
        assert_eq!(resolved.validator.as_deref(), Some("bob"));
        assert_eq!(resolved.bootnodes[0].key, key);
        assert_eq!(resolved.public_address, "10.0.0.1:4001".parse().unwrap());
        assert!(toml::from_str::<Settings>("bootnodes = [\"nokey\"]").is_err());
    }

    #[test]
    fn the_tx_index_is_on_unless_turned_off() {
        let defaults = resolve(Settings::default(), Settings::default(), true).unwrap();
        assert!(defaults.tx_index);
        let off: Settings = toml::from_str("tx_index = false").unwrap();
        assert!(
            !resolve(Settings::default(), off.clone(), true)
                .unwrap()
                .tx_index
        );
        let flag = Settings {
            tx_index: Some(true),
            ..Settings::default()
        };
        assert!(resolve(flag, off, true).unwrap().tx_index, "the flag wins");
        assert!(toml::from_str::<Settings>("tx_index = \"no\"").is_err());
    }
}
