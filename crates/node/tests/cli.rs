//! The `lamina` binary, run as a process.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use lamina_interop::messages::CATALOGUE;

fn lamina(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lamina"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn catalogue_json_lists_every_message() {
    let output = lamina(&["catalogue", "--output", "json"]);
    assert!(output.status.success());
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = CATALOGUE.iter().map(|e| e.name).collect();
    assert_eq!(names, expected);
    assert_eq!(rows[0]["kind"], "command");
}

#[test]
fn catalogue_table_has_a_row_per_message() {
    let output = lamina(&["catalogue"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), CATALOGUE.len() + 1);
    assert!(text
        .lines()
        .any(|l| l.starts_with("CommitBlock") && l.contains("data-layer")));
}

#[test]
fn unknown_command_fails_with_usage() {
    let output = lamina(&["frobnicate"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
}
