//! What the process tests share: a dev node, the `lamina` binary, the book's scripts.

#![allow(clippy::unwrap_used, dead_code)]

use std::process::Command;

pub(crate) fn lamina(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn json(args: &[&str]) -> serde_json::Value {
    let output = lamina(args);
    assert!(
        output.status.success(),
        "lamina {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A running `lamina node`, stopped with SIGTERM when dropped.
pub(crate) struct Node {
    pub(crate) child: std::process::Child,
    pub(crate) rpc: String,
    pub(crate) metrics: String,
}

pub(crate) fn free_port() -> u16 {
    lamina_node::ports::unused().unwrap()
}

impl Node {
    pub(crate) fn start(base: &std::path::Path) -> Node {
        Node::start_with(base, &[])
    }

    pub(crate) fn start_with(base: &std::path::Path, extra: &[&str]) -> Node {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_lamina"))
            .args(["node", "--dev", "--output", "json"])
            .args(extra)
            .arg("--rpc-port")
            .arg(free_port().to_string())
            .arg("--metrics-port")
            .arg(free_port().to_string())
            .arg("--base-path")
            .arg(base)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The endpoints arrive as one JSON object once the node serves.
        let stdout = child.stdout.take().unwrap();
        let mut text = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            text.push_str(&line.unwrap());
            if text.trim_end().ends_with('}') {
                break;
            }
        }
        let endpoints: serde_json::Value = serde_json::from_str(&text).unwrap();
        Node {
            child,
            rpc: endpoints["rpc"].as_str().unwrap().to_string(),
            metrics: endpoints["metrics"].as_str().unwrap().to_string(),
        }
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bash` running the book's script `name` (under `book/src/`), with this build's `lamina`
/// first on the path.
pub(crate) fn book_session(name: &str) -> Command {
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_lamina"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg(format!(
            "{}/../../book/src/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .env("PATH", path);
    command
}

/// Runs `command`, fails the test with its output unless it succeeds; its standard output.
pub(crate) fn stdout_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}
