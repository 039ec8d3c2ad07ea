//! Opening a store: where the engine keeps its runs, read from the builder
//! or a database URL, and the backend that serves it. The one file that
//! names both backends; each exists only with its cargo feature (`sqlite`,
//! the default, and `postgres`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::model::error::Error;
use crate::store::Store;
#[cfg(feature = "postgres")]
use crate::store::postgres::PostgresStore;
#[cfg(feature = "sqlite")]
use crate::store::sqlite::{Durability, SqliteLocation, SqliteStore};

/// How long a claim holds a run before another worker may take it, unless
/// the engine renews it (the default of `EngineBuilder::lease`).
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// Where the engine keeps its runs.
#[derive(Debug, Clone)]
pub(crate) enum StoreLocation {
    /// A SQLite file.
    #[cfg_attr(
        not(feature = "sqlite"),
        allow(dead_code, reason = "only the SQLite backend reads it")
    )]
    SqliteFile(PathBuf),
    /// An in-memory SQLite database.
    SqliteMemory,
    /// A PostgreSQL database, optionally in a schema of its own.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "only the PostgreSQL backend reads it")
    )]
    Postgres {
        /// The server's URL.
        url: String,
        /// The schema that holds the tables (created if missing).
        schema: Option<String>,
    },
}

/// How the store is opened besides its location.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenOptions {
    /// What a SQLite commit guarantees.
    #[cfg(feature = "sqlite")]
    pub(crate) durability: Durability,
    /// How long a claim holds a run on a shared database.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(
            dead_code,
            reason = "only the PostgreSQL backend has leases that expire"
        )
    )]
    pub(crate) lease: Duration,
    /// Opened for a client (`EngineBuilder::client`): a SQLite file another
    /// engine holds is opened read-only instead of refused.
    #[cfg_attr(
        not(feature = "sqlite"),
        allow(dead_code, reason = "only a SQLite file belongs to one engine")
    )]
    pub(crate) client: bool,
}

/// The feature a location needs, when this build lacks it.
fn missing_feature(location: &StoreLocation) -> Option<&'static str> {
    match location {
        StoreLocation::SqliteFile(_) | StoreLocation::SqliteMemory => {
            (!cfg!(feature = "sqlite")).then_some("sqlite")
        }
        StoreLocation::Postgres { .. } => (!cfg!(feature = "postgres")).then_some("postgres"),
    }
}

/// Opens (and migrates) the store at `location`.
///
/// # Errors
///
/// [`Error::Config`] when this build of durable lacks the location's
/// backend (its cargo feature is off); the backend's errors otherwise.
pub(crate) async fn open(
    location: &StoreLocation,
    options: OpenOptions,
) -> Result<Arc<dyn Store>, Error> {
    if let Some(feature) = missing_feature(location) {
        return Err(Error::Config(format!(
            "this build of durable has no {feature} backend: enable durable's `{feature}` cargo feature"
        )));
    }
    match location {
        #[cfg(feature = "sqlite")]
        StoreLocation::SqliteFile(path) => {
            let location = SqliteLocation::File(path.clone());
            Ok(Arc::new(if options.client {
                SqliteStore::open_client(&location, options.durability).await?
            } else {
                SqliteStore::open(&location, options.durability).await?
            }))
        }
        #[cfg(feature = "sqlite")]
        StoreLocation::SqliteMemory => Ok(Arc::new(
            SqliteStore::open(&SqliteLocation::Memory, options.durability).await?,
        )),
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres { url, schema } => Ok(Arc::new(
            PostgresStore::open(url, schema.as_deref(), options.lease).await?,
        )),
        #[allow(
            unreachable_patterns,
            reason = "reached only when a backend's feature is off, and refused above"
        )]
        _ => unreachable!("a location whose backend is compiled out was refused above"),
    }
}

/// Reads a database URL: `postgres://...` or `postgresql://...`,
/// `sqlite::memory:` (or `sqlite://:memory:`), or a SQLite file as
/// `sqlite://path/to/file.db`, `sqlite:///absolute/path.db` or
/// `sqlite:file.db`. The error names the scheme, never the whole URL (it
/// may hold a password).
pub(crate) fn parse_url(url: &str) -> Result<StoreLocation, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(StoreLocation::Postgres {
            url: url.to_owned(),
            schema: None,
        });
    }
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(StoreLocation::SqliteMemory);
    }
    match url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Some("") => Err(format!(
            "the database URL {url:?} names no file: use sqlite://FILE, or sqlite::memory: for an in-memory database"
        )),
        Some(path) if path.contains('?') => Err(format!(
            "the SQLite database URL {url:?} has query parameters, which durable does not read: use sqlite://FILE"
        )),
        Some(path) => Ok(StoreLocation::SqliteFile(PathBuf::from(path))),
        None => {
            // Only the scheme: the rest may hold a password.
            let scheme = url
                .split_once(':')
                .map(|(scheme, _)| scheme)
                .filter(|scheme| {
                    !scheme.is_empty()
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                });
            Err(match scheme {
                Some(scheme) => format!(
                    "unsupported database URL scheme `{scheme}`: use postgres://..., sqlite://FILE or sqlite::memory:"
                ),
                None => "the database URL has no scheme: use postgres://..., sqlite://FILE or sqlite::memory:".to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert!(matches!(
            parse_url("postgresql://u@h/db"),
            Ok(StoreLocation::Postgres { schema: None, .. })
        ));
        assert!(matches!(
            parse_url("sqlite::memory:"),
            Ok(StoreLocation::SqliteMemory)
        ));
        assert!(matches!(
            parse_url("sqlite:///tmp/x.db"),
            Ok(StoreLocation::SqliteFile(path)) if path == std::path::Path::new("/tmp/x.db")
        ));
        let error = parse_url("mysql://app:secret@db/app").unwrap_err();
        assert!(
            error.contains("`mysql`") && !error.contains("secret"),
            "{error}"
        );
        assert!(
            parse_url("sqlite://")
                .unwrap_err()
                .contains("names no file")
        );
        assert!(
            parse_url("sqlite://x.db?mode=rwc")
                .unwrap_err()
                .contains("query")
        );
        assert!(parse_url("no scheme").unwrap_err().contains("no scheme"));
    }

    #[tokio::test]
    async fn a_backend_compiled_out_is_refused_by_name() {
        let options = OpenOptions {
            #[cfg(feature = "sqlite")]
            durability: Durability::Normal,
            lease: DEFAULT_LEASE,
            client: false,
        };
        let location = if cfg!(feature = "postgres") {
            StoreLocation::SqliteMemory
        } else {
            StoreLocation::Postgres {
                url: "postgres://127.0.0.1:1/none".into(),
                schema: None,
            }
        };
        let result = open(&location, options).await.map(|_| ());
        if cfg!(all(feature = "sqlite", feature = "postgres")) {
            // Both compiled in: the in-memory database opens.
            assert!(result.is_ok(), "{result:?}");
        } else {
            let message = match result {
                Err(Error::Config(message)) => message,
                other => panic!("expected a configuration error, got {other:?}"),
            };
            assert!(message.contains("cargo feature"), "{message}");
        }
    }
}
