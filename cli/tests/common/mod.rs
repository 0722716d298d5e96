//! Helpers shared by the `orderflow` binary's integration tests: run the binary, read its output.
#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses only some of the helpers"
)]
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// Runs the `orderflow` binary with `args` and waits for it.
pub(crate) fn orderflow<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::cargo_bin("orderflow")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The values of the report lines starting with `key` (an optional `:` after it), in order.
pub(crate) fn line_value(stdout: &str, key: &str) -> Vec<u64> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .filter_map(|v| v.trim().trim_start_matches(':').trim().parse().ok())
        .collect()
}
