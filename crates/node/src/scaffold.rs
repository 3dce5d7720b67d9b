//! `lamina new`: a chain from a template, or a module skeleton added to a chain.
//!
//! The templates are embedded in the binary (see `build.rs`), so this works offline. In
//! their files, `{{project-name}}` is the chain's name and `{{crate_name}}` the same in
//! snake case (cargo-generate's placeholders, so `cargo generate --path templates/NAME`
//! works too); in the module skeleton, `{{module_name}}` and `{{ModuleName}}`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/templates.rs"));
}

/// The chain templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Template {
    /// The solo engine, accounts and bank, and a names module.
    Minimal,
    /// The simplex BFT engine with proof of stake (staking, rewards, slashing), a 4-validator
    /// local chain, and a module of its own.
    PosBft,
    /// Issued assets (an `assets` module) and Lamina's `oracle`, `dex` and `lending`, on the solo
    /// engine.
    Defi,
}

impl Template {
    fn dir(self) -> &'static str {
        match self {
            Template::Minimal => "minimal",
            Template::PosBft => "pos-bft",
            Template::Defi => "defi",
        }
    }
}

/// Where the generated project finds the Lamina crates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A checkout, by path.
    Checkout(PathBuf),
    /// Published crates, by version.
    Version(String),
}

impl Source {
    /// The checkout this binary was built from, if it is still there; else this version.
    pub(crate) fn detect() -> Source {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        match root.canonicalize() {
            Ok(root) if root.join("crates/node/Cargo.toml").is_file() => Source::Checkout(root),
            _ => Source::Version(env!("CARGO_PKG_VERSION").to_string()),
        }
    }
}

/// The files of template `dir` (`minimal`, `module`), by path inside it.
fn files(dir: &str) -> Vec<(&'static str, &'static [u8])> {
    let prefix = format!("{dir}/");
    embedded::FILES
        .iter()
        .filter_map(|(path, bytes)| path.strip_prefix(prefix.as_str()).map(|p| (p, *bytes)))
        .collect()
}

/// Checks a chain name: lower-case letters, digits and `-`, starting with a letter.
fn check_chain_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && name.len() <= 64;
    if !valid {
        bail!("{name:?} is not a chain name: use lower-case letters, digits and '-', starting with a letter (at most 64)");
    }
    Ok(())
}

/// Checks a module name: lower-case letters, digits and `_`, starting with a letter, and not
/// a name the framework or Rust already uses.
fn check_module_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 48;
    if !valid {
        bail!("{name:?} is not a module name: use lower-case letters, digits and '_', starting with a letter (at most 48)");
    }
    const TAKEN: [&str; 8] = [
        "accounts", "bank", "staking", "core", "std", "alloc", "test", "lamina",
    ];
    if TAKEN.contains(&name) || name.starts_with("lamina_") {
        bail!("{name:?} is taken: the framework or Rust uses it");
    }
    Ok(())
}

/// `snake_case` -> `CamelCase`.
fn camel(name: &str) -> String {
    name.split(['_', '-'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Rewrites the Lamina dependencies of a `Cargo.toml` (`lamina-X = "VERSION"`) for `source`.
fn point_at(manifest: &str, source: &Source) -> String {
    let mut out = String::with_capacity(manifest.len() + 256);
    for line in manifest.lines() {
        let rewritten = line
            .split_once(" = \"")
            .filter(|(name, _)| name.starts_with("lamina-") && !name.contains(' '))
            .map(|(name, _)| match source {
                Source::Checkout(root) => {
                    let dir = root.join("crates").join(&name["lamina-".len()..]);
                    format!("{name} = {{ path = {:?} }}", dir.display().to_string())
                }
                Source::Version(version) => format!("{name} = \"{version}\""),
            });
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// What `new` made, for the report.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Created {
    /// The directory written.
    pub(crate) path: PathBuf,
    /// The files written, relative to it.
    pub(crate) files: Vec<String>,
    /// What to do next.
    pub(crate) next: Vec<String>,
}

/// Generates chain `name` from `template` into `parent/name`.
pub(crate) fn new_chain(
    name: &str,
    template: Template,
    parent: &Path,
    source: &Source,
) -> anyhow::Result<Created> {
    check_chain_name(name)?;
    let files = files(template.dir());
    if files.is_empty() {
        bail!(
            "this binary was built without the {} template (templates/ was not beside its sources)",
            template.dir()
        );
    }
    let root = parent.join(name);
    if root.exists() && std::fs::read_dir(&root)?.next().is_some() {
        bail!("{} exists and is not empty", root.display());
    }
    let crate_name = name.replace('-', "_");
    let mut written = Vec::new();
    for (path, bytes) in files {
        if path == "cargo-generate.toml" {
            continue;
        }
        let target = root.join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let bytes = match std::str::from_utf8(bytes) {
            Ok(text) => {
                let text = text
                    .replace("{{project-name}}", name)
                    .replace("{{crate_name}}", &crate_name);
                let text = if path == "Cargo.toml" {
                    point_at(&text, source)
                } else {
                    text
                };
                text.into_bytes()
            }
            Err(_) => bytes.to_vec(),
        };
        std::fs::write(&target, bytes).with_context(|| format!("writing {}", target.display()))?;
        written.push(path.to_string());
    }
    // From a checkout, start from its lock file: the same versions it is tested with.
    if let Source::Checkout(checkout) = source {
        let lock = checkout.join("Cargo.lock");
        if lock.is_file() {
            std::fs::copy(&lock, root.join("Cargo.lock"))
                .with_context(|| format!("copying {}", lock.display()))?;
            written.push("Cargo.lock".into());
        }
    }
    written.sort();
    Ok(Created {
        next: vec![
            format!("cd {}", root.display()),
            "cargo test".into(),
            "cargo run -- node --dev".into(),
            format!("cargo run -- new module <name>   (adds a module to {name})"),
        ],
        path: root,
        files: written,
    })
}

/// Adds module `name` to the chain in `chain`: a crate under `modules/`, a dependency in its
/// `Cargo.toml`, and a `.module(...)` line in `src/main.rs`.
pub(crate) fn new_module(name: &str, chain: &Path) -> anyhow::Result<Created> {
    check_module_name(name)?;
    const MARKER: &str = "// lamina:modules";
    const TOML_MARKER: &str = "# lamina:modules";
    let manifest_path = chain.join("Cargo.toml");
    let main_path = chain.join("src/main.rs");
    let manifest = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("{} is not a chain: no Cargo.toml", chain.display()))?;
    let main = std::fs::read_to_string(&main_path)
        .with_context(|| format!("{} is not a chain: no src/main.rs", chain.display()))?;
    if !manifest.contains(TOML_MARKER) || !main.contains(MARKER) {
        bail!(
            "{} has no `{TOML_MARKER}` line in Cargo.toml or no `{MARKER}` line in src/main.rs: add the module by hand",
            chain.display()
        );
    }
    let dir = chain.join("modules").join(name);
    if dir.exists() {
        bail!("{} exists", dir.display());
    }
    let files = files("module");
    if files.is_empty() {
        bail!("this binary was built without the module skeleton (templates/module)");
    }
    let type_name = camel(name);
    let mut written = Vec::new();
    for (path, bytes) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let text = String::from_utf8_lossy(bytes)
            .replace("{{module_name}}", name)
            .replace("{{ModuleName}}", &type_name);
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
        written.push(format!("modules/{name}/{path}"));
    }

    let dependency = format!("{name} = {{ path = \"modules/{name}\" }}");
    let manifest = insert(&manifest, TOML_MARKER, Side::After, &dependency);
    std::fs::write(&manifest_path, manifest)?;
    written.push("Cargo.toml".into());

    let registration =
        format!(".module({name}::{type_name}, {name}::{type_name}Genesis::default())");
    let main = insert(&main, MARKER, Side::Before, &registration);
    std::fs::write(&main_path, main)?;
    written.push("src/main.rs".into());
    written.sort();
    Ok(Created {
        path: dir,
        files: written,
        next: vec![
            format!("cargo test -p {name}"),
            format!(
                "cargo run -- tx call {name} '{{\"add\": {{\"amount\": 5}}}}'   (with a dev node running)"
            ),
        ],
    })
}

/// Where [`insert`] puts the new line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Before,
    After,
}

/// `text` with `line` added on `side` of the line holding `marker`, at its indentation.
fn insert(text: &str, marker: &str, side: Side, line: &str) -> String {
    let mut out = String::with_capacity(text.len() + line.len() + 8);
    for existing in text.lines() {
        let added = existing.contains(marker).then(|| {
            let indent = &existing[..existing.len() - existing.trim_start().len()];
            format!("{indent}{line}\n")
        });
        match (&added, side) {
            (Some(added), Side::Before) => {
                out.push_str(added);
                out.push_str(existing);
                out.push('\n');
            }
            (Some(added), Side::After) => {
                out.push_str(existing);
                out.push('\n');
                out.push_str(added);
            }
            (None, _) => {
                out.push_str(existing);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["mychain", "my-chain2"] {
            check_chain_name(good).unwrap();
        }
        for bad in ["", "MyChain", "2chain", "my_chain", "chain-", "a b"] {
            assert!(check_chain_name(bad).is_err(), "{bad:?}");
        }
        check_module_name("order_book").unwrap();
        for bad in ["bank", "Orders", "order-book", "9lives", "lamina_x"] {
            assert!(check_module_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(camel("order_book"), "OrderBook");
    }

    #[test]
    fn lamina_dependencies_point_at_the_source() {
        let manifest = "[workspace.dependencies]\nlamina-node = \"0.1.0\"\nserde = \"1.0\"\n";
        let by_path = point_at(manifest, &Source::Checkout(PathBuf::from("/src/lamina")));
        assert!(by_path.contains("lamina-node = { path = \"/src/lamina/crates/node\" }"));
        assert!(by_path.contains("serde = \"1.0\""));
        let by_version = point_at(manifest, &Source::Version("0.2.0".into()));
        assert!(by_version.contains("lamina-node = \"0.2.0\""));
    }

    #[test]
    fn every_template_is_embedded_and_a_chain_is_generated() {
        for template in [Template::Minimal, Template::PosBft, Template::Defi] {
            let dir = tempfile::tempdir().unwrap();
            let source = Source::Version("0.1.0".into());
            let created = new_chain("demo-chain", template, dir.path(), &source).unwrap();
            let root = dir.path().join("demo-chain");
            let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
            assert!(manifest.contains("name = \"demo-chain\""));
            assert!(!manifest.contains("{{"), "every placeholder substituted");
            assert!(created.files.iter().any(|f| f == "src/main.rs"));
            // A second time into the same place is refused.
            assert!(new_chain("demo-chain", template, dir.path(), &source).is_err());

            // A module is added and registered.
            let module = new_module("order_book", &root).unwrap();
            assert!(module
                .files
                .iter()
                .any(|f| f == "modules/order_book/src/lib.rs"));
            let main = std::fs::read_to_string(root.join("src/main.rs")).unwrap();
            assert!(main.contains(
                ".module(order_book::OrderBook, order_book::OrderBookGenesis::default())"
            ));
            let lib = std::fs::read_to_string(root.join("modules/order_book/src/lib.rs")).unwrap();
            assert!(lib.contains("pub struct OrderBook;") && !lib.contains("{{"));
            assert!(new_module("order_book", &root).is_err(), "added twice");
        }
    }
}
