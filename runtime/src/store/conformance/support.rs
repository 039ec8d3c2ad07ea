//! What the conformance drivers need: scratch directories for SQLite files,
//! and a PostgreSQL server with a fresh schema per case.

#[cfg(feature = "sqlite")]
use std::path::PathBuf;

/// The environment variable naming the PostgreSQL server for the tests.
#[cfg(feature = "postgres")]
const POSTGRES_URL_VAR: &str = "DURABLE_TEST_POSTGRES_URL";

/// A directory removed when dropped.
#[cfg(feature = "sqlite")]
pub(super) struct Scratch {
    path: PathBuf,
}

#[cfg(feature = "sqlite")]
impl Scratch {
    /// A fresh, empty directory under the system's temp directory.
    pub(super) fn new(label: &str) -> Self {
        let unique = format!(
            "durable-store-{label}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Scratch { path }
    }

    /// A path inside the directory.
    pub(super) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

#[cfg(feature = "sqlite")]
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The PostgreSQL URL for the tests, or `None` (with a printed notice) when
/// `DURABLE_TEST_POSTGRES_URL` is not set: the case then passes without
/// running, so `cargo test` works on a laptop without PostgreSQL (`.ci/run`
/// sets it).
#[cfg(feature = "postgres")]
pub(super) fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipped: set {POSTGRES_URL_VAR} to run the PostgreSQL conformance cases");
            None
        }
    }
}

/// A schema name unique to one case, `t_<label>_<12 hex digits>` (the
/// pattern `.ci/run` drops old schemas by).
#[cfg(feature = "postgres")]
pub(super) fn unique_schema(label: &str) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "t_{}_{}",
        label.chars().take(30).collect::<String>(),
        &suffix[..12]
    )
    .to_lowercase()
}
