//! The lamina binary: command line, configuration, chain spec, and the typed assembly of a node from parts.

use std::io::Write;

use clap::{Parser, Subcommand, ValueEnum};
use lamina_interop::messages::CATALOGUE;

#[derive(Parser)]
#[command(name = "lamina", version, about = "Lamina: a modular blockchain SDK")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the messages that cross between layers on the bus: who sends, who handles.
    Catalogue {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Catalogue {
            output: Output::Json,
        } => {
            serde_json::to_writer_pretty(&mut out, CATALOGUE)?;
            writeln!(out)?;
        }
        Command::Catalogue {
            output: Output::Table,
        } => {
            writeln!(
                out,
                "{:<22} {:<8} {:<30} {:<36} meaning",
                "message", "kind", "from", "to"
            )?;
            for entry in CATALOGUE {
                let kind = format!("{:?}", entry.kind).to_lowercase();
                writeln!(
                    out,
                    "{:<22} {:<8} {:<30} {:<36} {}",
                    entry.name, kind, entry.from, entry.to, entry.meaning
                )?;
            }
        }
    }
    Ok(())
}
