//! Small std helpers every layer uses: the boxed future of object-safe
//! traits, and a mutex lock that survives poisoning.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};

/// A boxed, sendable future, as the object-safe traits of this crate return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Locks `mutex`, using a poisoned one as is.
///
/// Every critical section in this crate is a single map or field
/// operation: a panic cannot leave the data half-updated, so a poisoned
/// lock holds consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The system's time in ms since the epoch, for records that are not part
/// of a run's timing (when a schema migration was applied); everything a
/// run's timing depends on comes through the engine's clock.
pub(crate) fn system_now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
