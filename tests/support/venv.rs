//! The virtualenv with the official Python SDKs pinned in `conformance/requirements.txt`,
//! created on first use in `target/conformance-venv` from PyPI, guarded by a lock so
//! parallel test binaries build it once. The conformance checks and the gateway's SDK
//! tests share it. A test that needs it fails when it cannot be built: a check that
//! silently skips proves nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The repository's root: the first directory up from this crate's that holds
/// `conformance/` (the library's own, or the workspace root for the gateway's tests).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("conformance/requirements.txt").is_file())
        .expect("conformance/requirements.txt in this crate's directory or above")
        .to_owned()
}

/// The virtualenv's Python (with the pinned official SDKs), creating the virtualenv
/// first if needed.
pub fn python() -> PathBuf {
    let root = root();
    let venv = root.join("target/conformance-venv");
    let python = venv.join("bin/python");
    let requirements = root.join("conformance/requirements.txt");
    let stamp = venv.join("requirements.stamp");
    let wanted = std::fs::read_to_string(&requirements).expect("conformance/requirements.txt");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return python;
    }
    let lock = root.join("target/conformance-venv.lock");
    std::fs::create_dir_all(root.join("target")).unwrap();
    let started = Instant::now();
    while std::fs::create_dir(&lock).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "waited 10 minutes for {} (remove it if no test is running)",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(200));
        if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
            return python;
        }
    }
    let result = (|| {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements))?;
        std::fs::write(&stamp, &wanted).map_err(|e| e.to_string())
    })();
    let _ = std::fs::remove_dir(&lock);
    if let Err(e) = result {
        panic!("could not build the conformance environment from PyPI: {e}");
    }
    python
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
