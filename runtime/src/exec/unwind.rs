//! Turns a panic inside a future into an error value, so a panicking step
//! body fails its attempt and a panicking workflow body fails its run,
//! instead of leaving the run `running` with no task behind it.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that completes with `Err(message)` if polling `inner` panics.
pub(crate) struct CatchUnwind<F> {
    inner: Pin<Box<F>>,
}

/// Wraps `future` so a panic while polling it becomes `Err(message)`.
pub(crate) fn catch_unwind_future<F: Future>(future: F) -> CatchUnwind<F> {
    CatchUnwind {
        inner: Box::pin(future),
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The inner future is never polled again after a panic (this future
        // completes with the error), so no broken state can be observed.
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_owned());
    format!("panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_and_a_value_passes_through() {
        assert_eq!(catch_unwind_future(async { 5 }).await, Ok(5));
        let result = catch_unwind_future(async {
            panic!("boom {}", 7);
        })
        .await;
        assert_eq!(result, Err::<(), _>("panicked: boom 7".to_owned()));
    }
}
