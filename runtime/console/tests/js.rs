//! The console's JavaScript unit tests (`tests/js/*.test.mjs`: the layouts
//! of the timeline and the graph), run by `node --test` so that `cargo
//! test` runs them. Without node the test prints a notice and passes,
//! except in CI (`CI=true`), where it fails.

use std::path::Path;
use std::process::Command;

#[test]
fn the_layout_modules_pass_their_node_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let mut tests: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/js")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".test.mjs"))
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    tests.sort();
    assert!(!tests.is_empty(), "no JavaScript test in {}", dir.display());
    let output = match Command::new("node").arg("--test").args(&tests).output() {
        Ok(output) => output,
        Err(error) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "node is needed in CI for the console's JavaScript tests: {error}"
            );
            eprintln!(
                "notice: node is not installed ({error}); the console's JavaScript tests did not run"
            );
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node --test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A run that found no test passes too: make sure some ran.
    let passed = stdout
        .lines()
        .find_map(|line| line.strip_prefix("# pass "))
        .and_then(|count| count.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(passed >= 10, "node ran {passed} tests:\n{stdout}");
}
