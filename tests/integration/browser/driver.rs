//! The browser driver of `tests/browser/drive.mjs` (puppeteer-core on Debian's Chromium): one
//! command per run, its JSON answer back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

/// Chromium, Node.js and the driver's packages (`npm ci` in `tests/browser`), when all are there.
pub struct Driver {
    browser: PathBuf,
    script: PathBuf,
}

/// The driver; `None` (the test skips) only outside CI, which must have it all (`.ci/run`
/// installs it).
pub fn driver() -> Option<Driver> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let browser = super::chromium();
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    let packages = dir
        .join("node_modules/puppeteer-core/package.json")
        .exists()
        && dir.join("node_modules/axe-core/axe.min.js").exists();
    match browser {
        Some(browser) if node && packages => Some(Driver {
            browser,
            script: dir.join("drive.mjs"),
        }),
        browser => {
            let missing = format!(
                "browser test driver incomplete: chromium {}, node {}, npm packages {} \
                 (apt-get install chromium; cd tests/browser && npm ci)",
                browser.is_some(),
                node,
                packages
            );
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install it (.ci/run does): {missing}"
            );
            eprintln!("skipped: {missing}");
            None
        }
    }
}

impl Driver {
    /// Runs `command` with `args` and returns its JSON answer; a failed run fails the test.
    pub async fn run(&self, command: &str, args: Value) -> Value {
        let mut cmd = Command::new("node");
        cmd.arg(&self.script)
            .arg(command)
            .arg(args.to_string())
            .env("CHROMIUM", &self.browser)
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("the browser driver finished in time")
            .expect("node runs");
        assert!(
            out.status.success(),
            "drive.mjs {command} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
            panic!(
                "drive.mjs {command} printed no JSON ({err}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}
