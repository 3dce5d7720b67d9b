//! Lamina's contributor commands: the CI gate and the layer dependency check.
//!
//! ```text
//! cargo xtask check   layer dependency rule, protocol crates free of tokio, crate missions
//! cargo xtask ci      cargo fmt --check, clippy -D warnings, rustdoc -D warnings, check,
//!                     the README's test command (.ci/run adds the RocksDB feature tests)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Which Lamina crates each Lamina crate may depend on (`*`: any). A crate missing from this
/// table is itself a violation, so a new crate must be placed in the layering on purpose.
const LAYERS: &[(&str, &[&str])] = &[
    ("lamina-alloc", &[]),
    ("lamina-interop", &[]),
    ("lamina-data-layer", &["lamina-interop"]),
    ("lamina-incentive", &["lamina-interop"]),
    ("lamina-agreement", &["lamina-interop"]),
    ("lamina-app", &["lamina-interop", "lamina-agreement"]),
    ("lamina-node", &["*"]),
    ("lamina-simulation", &["*"]),
];

/// Crates whose non-test code must run on any executor: they use the commonware-runtime
/// traits, never tokio directly.
const RUNTIME_AGNOSTIC: &[&str] = &[
    "lamina-interop",
    "lamina-data-layer",
    "lamina-incentive",
    "lamina-agreement",
    "lamina-simulation",
];

/// One dependency of a workspace package, as cargo metadata reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dependency {
    name: String,
    /// `None` for normal dependencies, `Some("dev")` or `Some("build")`.
    kind: Option<String>,
}

/// A workspace package: name, dependencies, manifest directory.
#[derive(Debug, Clone)]
struct Package {
    name: String,
    dependencies: Vec<Dependency>,
    dir: PathBuf,
    description: Option<String>,
}

fn main() {
    let task = std::env::args().nth(1).unwrap_or_default();
    let outcome = match task.as_str() {
        "check" => check(),
        "ci" => ci(),
        _ => Err(anyhow::anyhow!("usage: cargo xtask <check|ci>")),
    };
    if let Err(err) = outcome {
        eprintln!("xtask: {err:#}");
        std::process::exit(1);
    }
}

fn ci() -> Result<()> {
    run("cargo", &["fmt", "--all", "--", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // Mirrors .ci/run: docs with broken links are errors.
    let status = Command::new("cargo")
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .status()
        .context("running cargo doc")?;
    if !status.success() {
        bail!("cargo doc failed: {status}");
    }
    check()?;
    run("cargo", &["test", "--workspace"])
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("running {program}"))?;
    if !status.success() {
        bail!("{program} {} failed: {status}", args.join(" "));
    }
    Ok(())
}

fn check() -> Result<()> {
    let packages = workspace_packages()?;
    let mut problems = layer_violations(&packages);
    problems.extend(runtime_violations(&packages));
    problems.extend(mission_violations(&packages)?);
    problems.extend(book_include_violations(Path::new("book/src"))?);
    if problems.is_empty() {
        let lamina = packages
            .iter()
            .filter(|p| p.name.starts_with("lamina-"))
            .count();
        eprintln!(
            "xtask check: {lamina} Lamina crates follow the layer rule and state one mission; every book include resolves"
        );
        return Ok(());
    }
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    bail!("{} problem(s) found", problems.len())
}

fn workspace_packages() -> Result<Vec<Package>> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata")?;
    let packages = metadata["packages"]
        .as_array()
        .context("metadata without packages")?;
    packages
        .iter()
        .map(|p| {
            let manifest = p["manifest_path"]
                .as_str()
                .context("package without manifest")?;
            Ok(Package {
                name: p["name"]
                    .as_str()
                    .context("package without name")?
                    .to_string(),
                dir: Path::new(manifest)
                    .parent()
                    .context("manifest without folder")?
                    .to_path_buf(),
                description: p["description"].as_str().map(str::to_string),
                dependencies: p["dependencies"]
                    .as_array()
                    .context("package without dependencies")?
                    .iter()
                    .map(|d| Dependency {
                        name: d["name"].as_str().unwrap_or_default().to_string(),
                        kind: d["kind"].as_str().map(str::to_string),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Every dependency between Lamina crates that the layer table does not allow, including
/// dev-dependencies: a layer's tests do not reach into another layer either.
fn layer_violations(packages: &[Package]) -> Vec<String> {
    let rules: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    for package in packages.iter().filter(|p| p.name.starts_with("lamina-")) {
        let Some(allowed) = rules.get(package.name.as_str()) else {
            problems.push(format!(
                "{} is not placed in the layer table of xtask",
                package.name
            ));
            continue;
        };
        for dep in package
            .dependencies
            .iter()
            .filter(|d| d.name.starts_with("lamina-"))
        {
            if !allowed.contains(&"*") && !allowed.contains(&dep.name.as_str()) {
                problems.push(format!(
                    "{} depends on {}: the layer rule allows only [{}]",
                    package.name,
                    dep.name,
                    allowed.join(", ")
                ));
            }
        }
    }
    problems
}

/// tokio as a normal dependency of a crate that must run on any executor.
fn runtime_violations(packages: &[Package]) -> Vec<String> {
    packages
        .iter()
        .filter(|p| RUNTIME_AGNOSTIC.contains(&p.name.as_str()))
        .flat_map(|p| {
            p.dependencies
                .iter()
                .filter(|d| d.name == "tokio" && d.kind.is_none())
                .map(move |_| {
                    format!(
                        "{} depends on tokio outside its tests; use commonware-runtime",
                        p.name
                    )
                })
        })
        .collect()
}

/// The mission sentence must be the same in Cargo.toml, the first line of the crate root and
/// the README.
fn mission_violations(packages: &[Package]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for package in packages.iter().filter(|p| p.name.starts_with("lamina-")) {
        let Some(mission) = package.description.as_deref() else {
            problems.push(format!("{} has no description", package.name));
            continue;
        };
        let root = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|f| package.dir.join(f))
            .find(|p| p.exists());
        let first_line = match root {
            Some(path) => std::fs::read_to_string(&path)?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        };
        if first_line.trim_start_matches("//!").trim() != mission {
            problems.push(format!(
                "{}: first line of the crate root differs from its description",
                package.name
            ));
        }
        let readme = std::fs::read_to_string(package.dir.join("README.md")).unwrap_or_default();
        let paragraph = readme
            .split("\n\n")
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if paragraph != mission {
            problems.push(format!(
                "{}: README's first paragraph differs from its description",
                package.name
            ));
        }
    }
    Ok(problems)
}

/// Every `{{#include PATH}}` or `{{#include PATH:ANCHOR}}` in the book names a file that
/// exists, and an anchor that file marks with `ANCHOR: name` and `ANCHOR_END: name`, so the
/// book's snippets always come from sources CI compiles.
fn book_include_violations(dir: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("md") {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            for (line_no, line) in text.lines().enumerate() {
                let mut rest = line;
                while let Some(start) = rest.find("{{#include ") {
                    let after = &rest[start + "{{#include ".len()..];
                    let Some(end) = after.find("}}") else {
                        problems.push(format!(
                            "{}:{}: unclosed include",
                            path.display(),
                            line_no + 1
                        ));
                        break;
                    };
                    let target = after[..end].trim();
                    if let Some(problem) = check_include(&path, target) {
                        problems.push(format!("{}:{}: {problem}", path.display(), line_no + 1));
                    }
                    rest = &after[end..];
                }
            }
        }
    }
    Ok(problems)
}

/// Why the include `target` (written in `page`) does not resolve, if it does not.
fn check_include(page: &Path, target: &str) -> Option<String> {
    let (file, anchor) = match target.split_once(':') {
        Some((file, anchor)) => (file, Some(anchor)),
        None => (target, None),
    };
    let resolved = page.parent().unwrap_or(Path::new(".")).join(file);
    let Ok(text) = std::fs::read_to_string(&resolved) else {
        return Some(format!("includes {file}, which does not exist"));
    };
    // A line range (`file:10:20`) is not an anchor; named anchors are what the book uses.
    match anchor {
        Some(anchor) if !anchor.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
            let opens = text.contains(&format!("ANCHOR: {anchor}"));
            let closes = text.contains(&format!("ANCHOR_END: {anchor}"));
            (!opens || !closes).then(|| format!("{file} has no anchor {anchor}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, deps: &[(&str, Option<&str>)]) -> Package {
        Package {
            name: name.to_string(),
            dir: PathBuf::new(),
            description: None,
            dependencies: deps
                .iter()
                .map(|(n, k)| Dependency {
                    name: n.to_string(),
                    kind: k.map(str::to_string),
                })
                .collect(),
        }
    }

    #[test]
    fn layering_as_designed_passes() {
        let packages = vec![
            package("lamina-interop", &[("serde", None)]),
            package("lamina-data-layer", &[("lamina-interop", None)]),
            package("lamina-agreement", &[("lamina-interop", None)]),
            package(
                "lamina-app",
                &[("lamina-interop", None), ("lamina-agreement", None)],
            ),
            package(
                "lamina-node",
                &[("lamina-app", None), ("lamina-data-layer", None)],
            ),
        ];
        assert_eq!(layer_violations(&packages), Vec::<String>::new());
    }

    #[test]
    fn a_layer_depending_on_another_layer_is_caught() {
        let packages = vec![package(
            "lamina-data-layer",
            &[("lamina-interop", None), ("lamina-agreement", None)],
        )];
        let problems = layer_violations(&packages);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("lamina-data-layer depends on lamina-agreement"));
    }

    #[test]
    fn dev_dependencies_count_too() {
        let packages = vec![package(
            "lamina-incentive",
            &[("lamina-agreement", Some("dev"))],
        )];
        assert_eq!(layer_violations(&packages).len(), 1);
    }

    #[test]
    fn interop_may_depend_on_no_lamina_crate() {
        let packages = vec![package("lamina-interop", &[("lamina-data-layer", None)])];
        assert_eq!(layer_violations(&packages).len(), 1);
    }

    #[test]
    fn an_unplaced_crate_is_caught() {
        let packages = vec![package("lamina-oracle", &[])];
        assert_eq!(layer_violations(&packages).len(), 1);
    }

    #[test]
    fn tokio_outside_tests_is_caught_in_protocol_crates() {
        let packages = vec![
            package("lamina-agreement", &[("tokio", None)]),
            package("lamina-interop", &[("tokio", Some("dev"))]),
            package("lamina-app", &[("tokio", None)]),
        ];
        let problems = runtime_violations(&packages);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("lamina-agreement"));
    }

    #[test]
    fn book_includes_must_name_files_and_anchors_that_exist() {
        let dir = std::env::temp_dir().join(format!("xtask-book-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("code.rs"),
            "// ANCHOR: good\nfn f() {}\n// ANCHOR_END: good\n// ANCHOR: open\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("src/page.md"),
            "{{#include ../code.rs}}\n{{#include ../code.rs:good}}\n{{#include ../code.rs:3:4}}\n\
             {{#include ../code.rs:open}} {{#include ../code.rs:missing}}\n{{#include ../gone.rs}}\n",
        )
        .unwrap();
        let problems = book_include_violations(&dir.join("src")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].ends_with(":4: ../code.rs has no anchor open"));
        assert!(problems[1].ends_with(":4: ../code.rs has no anchor missing"));
        assert!(problems[2].ends_with(":5: includes ../gone.rs, which does not exist"));
    }
}
