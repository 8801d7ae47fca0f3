//! Runs `conformance/check.py` (the official SDKs' own types) over wire-format bodies.
//!
//! The Python environment ([`super::venv`]) is created on first use in
//! `target/conformance-venv` from the pinned `conformance/requirements.txt` (PyPI). A
//! test that needs it fails when it cannot be built: a conformance check that silently
//! skips proves nothing.
//!
//! The checks run with the `conformance` feature (so with `--all-features`). Without it
//! (`cargo test` on a machine with no network) the tests that exist only for them are
//! ignored, with the reason shown, and wire tests that also check conformance run their
//! own assertions only.

use std::io::Write;
use std::process::{Command, Stdio};

use super::venv::{python, root};

use serde_json::{Value, json};

/// One body to check: which provider's SDK, which kind of body (as named in
/// `conformance/checks_<provider>.py`), and the JSON itself.
pub struct Item {
    pub provider: &'static str,
    pub kind: &'static str,
    pub body: Value,
}

/// Checks every item, returning one verdict per item (the SDK's complaint on failure).
pub fn check(items: &[Item]) -> Vec<Result<(), String>> {
    let python = python();
    let input: Vec<Value> = items
        .iter()
        .map(|i| json!({"provider": i.provider, "kind": i.kind, "body": i.body}))
        .collect();
    let root = root();
    let mut child = Command::new(&python)
        .arg(root.join("conformance/check.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the conformance checker");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_vec(&input).unwrap().as_slice())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "conformance checker crashed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<Value> = serde_json::from_slice(&output.stdout).expect("checker output");
    assert_eq!(verdicts.len(), items.len());
    verdicts
        .into_iter()
        .map(|v| {
            if v["ok"] == Value::Bool(true) {
                Ok(())
            } else {
                Err(v["error"].as_str().unwrap_or("?").to_owned())
            }
        })
        .collect()
}

/// Asserts every item conforms, naming each one that does not; without the
/// `conformance` feature, checks nothing.
pub fn assert_conforms(items: &[Item]) {
    if !cfg!(feature = "conformance") {
        return;
    }
    let failures: Vec<String> = check(items)
        .into_iter()
        .zip(items)
        .filter_map(|(verdict, item)| {
            verdict.err().map(|e| {
                format!(
                    "{}/{}: {e}\n  body: {}",
                    item.provider, item.kind, item.body
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "non-conforming bodies:\n{}",
        failures.join("\n")
    );
}

/// Asserts the checker rejects every item (negative tests: proof the check can fail).
pub fn assert_rejected(items: &[Item]) {
    for (verdict, item) in check(items).into_iter().zip(items) {
        assert!(
            verdict.is_err(),
            "{}/{} accepted a body the real API would reject: {}",
            item.provider,
            item.kind,
            item.body
        );
    }
}
