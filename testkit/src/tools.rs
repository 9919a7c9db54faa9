//! The external tools of the full test tier. A test that needs one calls [`require`]: when the
//! tool is missing it fails loudly, naming the tool and the command that installs it, instead of
//! passing without having checked anything.

use std::path::PathBuf;

/// The path of `tool` on `PATH`; panics naming it and `scripts/install-test-deps` when absent.
pub fn require(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{tool} is not installed, and the full-tier tests need it: run scripts/install-test-deps (scripts/test does)"
            )
        })
}
