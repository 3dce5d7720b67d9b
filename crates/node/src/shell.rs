//! What every command shares with its shell: output (text or JSON on stdout), a tokio runtime,
//! data directories (given, or temporary), SIGINT and SIGTERM, the log, the keystore's
//! default place, and the storage options of a node and a benchmark. Commands take these
//! from here; none takes them from another command.

use std::io::Write as _;
use std::path::PathBuf;

use clap::ValueEnum;

/// The key-value store of a node or a benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Storage {
    /// fjall, the embedded default.
    Fjall,
    /// redb.
    Redb,
}

/// Where a new store keeps its flat state (ADR 0030).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Flat {
    /// In memory, checkpointed in the store (the default).
    Memory,
    /// In the store, a row per key, written with each block.
    Inline,
}

impl From<Flat> for lamina_data_layer::FlatLayout {
    fn from(flat: Flat) -> Self {
        match flat {
            Flat::Memory => lamina_data_layer::FlatLayout::Memory,
            Flat::Inline => lamina_data_layer::FlatLayout::Inline,
        }
    }
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
}

/// `value` as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A line on stdout.
pub(crate) fn say(line: impl std::fmt::Display) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{line}")?;
    Ok(())
}

/// `~/.lamina/keys`.
pub(crate) fn default_keystore() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".lamina")
        .join("keys")
}

/// A multi-threaded tokio runtime with I/O and timers.
pub(crate) fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `given`, or a new temporary directory named `prefix...`, removed when the returned guard
/// drops.
pub(crate) fn data_dir(
    given: Option<&std::path::Path>,
    prefix: &str,
) -> anyhow::Result<(Option<tempfile::TempDir>, PathBuf)> {
    match given {
        Some(path) => Ok((None, path.to_path_buf())),
        None => {
            let temporary = tempfile::Builder::new().prefix(prefix).tempdir()?;
            let path = temporary.path().to_path_buf();
            Ok((Some(temporary), path))
        }
    }
}

/// A node's log unless `RUST_LOG` says otherwise: Lamina's own lines at `info` (the store and
/// chain opened, a summary of the pace every ten seconds, what stops it), every other crate's
/// warnings and errors only. QMDB warns that a new database is empty (twice, from modules that
/// warn of nothing else): expected on a new chain, so those two are kept to errors.
pub(crate) const NODE_LOG: &str = "warn,lamina_node=info,lamina_app=info,\
lamina_agreement=info,lamina_incentive=info,lamina_data_layer=info,lamina_interop=info,\
commonware_storage::qmdb::current::db=error,commonware_storage::qmdb::any=error";

/// Logs to stderr, filtered by `RUST_LOG` or else by `default`.
pub(crate) fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours for a terminal; plain text for a file or a pipe.
    let _ = tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// SIGINT and SIGTERM, listened for from the moment this is made: a signal that arrives
/// before anyone waits for it is kept rather than ending the process on the spot.
pub(crate) struct Shutdown {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Starts listening; call within a tokio runtime.
    pub(crate) fn listen() -> anyhow::Result<Shutdown> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Shutdown {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for either signal.
    pub(crate) async fn wait(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    /// Whether either signal has arrived, without waiting.
    pub(crate) fn received(&mut self) -> bool {
        futures::FutureExt::now_or_never(self.wait()).is_some()
    }
}

/// Completes on SIGINT or SIGTERM, listened for from this call on: a signal while the node
/// opens its store and starts stops it as soon as it serves, through the same clean
/// shutdown, rather than killing it half-way (and leaving a temporary chain behind).
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut shutdown = Shutdown::listen()?;
    Ok(async move { shutdown.wait().await })
}
