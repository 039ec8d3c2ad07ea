//! Fan-out: many branches of one run at once (`map`, `for_each`, `batch`,
//! `parallel`), each branch in its own step scope, with a concurrency limit
//! and an error mode.
//!
//! Branch `i` of a fan-out named `charge-all` records its steps as
//! `charge-all[i]/<step>`, so the same step names can be used in every branch
//! and a replay matches each branch's steps to its own journal entries,
//! whatever order the branches finish in.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::{Ctx, StepName};
use crate::core::replay::StepStart;
use crate::model::error::Error;
use crate::model::sync::BoxFuture;
use crate::model::workflow::StepKind;

/// How a fan-out treats a failed branch: [`FailFast`] or [`AllSettled`].
pub trait ErrorMode: sealed::Sealed + Send {
    /// What the fan-out returns for branch outputs of type `T`.
    type Output<T>;
    /// Whether the first failure cancels the unfinished branches.
    const FAIL_FAST: bool;
    /// Builds the output from every branch's result, in input order.
    fn collect<T>(results: Vec<Result<T, Error>>) -> Self::Output<T>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::FailFast {}
    impl Sealed for super::AllSettled {}
}

/// The first failing branch fails the fan-out; the unfinished branches are
/// cancelled (dropped at their next await; steps they completed stay
/// recorded). Returns `Result<Vec<T>, Error>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailFast;

/// Every branch runs to its end; returns `Vec<Result<T, Error>>`, one result
/// per branch in input order.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllSettled;

impl ErrorMode for FailFast {
    type Output<T> = Result<Vec<T>, Error>;
    const FAIL_FAST: bool = true;
    fn collect<T>(results: Vec<Result<T, Error>>) -> Self::Output<T> {
        results.into_iter().collect()
    }
}

impl ErrorMode for AllSettled {
    type Output<T> = Vec<Result<T, Error>>;
    const FAIL_FAST: bool = false;
    fn collect<T>(results: Vec<Result<T, Error>>) -> Self::Output<T> {
        results
    }
}

/// The options of a fan-out: how many branches run at once (default 16) and
/// the error mode (default [`FailFast`]).
///
/// ```
/// use durable::FanOut;
/// let options = FanOut::new().concurrency(8).all_settled();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FanOut<M = FailFast> {
    concurrency: usize,
    mode: PhantomData<M>,
}

impl Default for FanOut<FailFast> {
    fn default() -> Self {
        FanOut::new()
    }
}

impl FanOut<FailFast> {
    /// 16 branches at once, fail-fast.
    pub fn new() -> Self {
        FanOut {
            concurrency: 16,
            mode: PhantomData,
        }
    }
}

impl<M: ErrorMode> FanOut<M> {
    /// Runs at most `branches` at once (at least 1).
    pub fn concurrency(mut self, branches: usize) -> Self {
        self.concurrency = branches.max(1);
        self
    }

    /// Runs every branch to its end and returns every outcome.
    pub fn all_settled(self) -> FanOut<AllSettled> {
        FanOut {
            concurrency: self.concurrency,
            mode: PhantomData,
        }
    }

    /// Stops at the first failure (the default).
    pub fn fail_fast(self) -> FanOut<FailFast> {
        FanOut {
            concurrency: self.concurrency,
            mode: PhantomData,
        }
    }
}

/// One branch of [`Ctx::parallel`]: build it with [`branch`].
pub type Branch<'a, T> = Box<dyn FnOnce(Ctx) -> BoxFuture<'a, Result<T, Error>> + Send + 'a>;

/// Wraps an async closure taking the branch's context as a [`Branch`].
pub fn branch<'a, T, F, Fut>(body: F) -> Branch<'a, T>
where
    F: FnOnce(Ctx) -> Fut + Send + 'a,
    Fut: Future<Output = Result<T, Error>> + Send + 'a,
{
    Box::new(move |ctx| Box::pin(body(ctx)))
}

impl Ctx {
    /// Runs `body` for every item, at most `options.concurrency` at once, and
    /// returns the outputs in input order. Branch `i` gets a context whose
    /// steps are recorded as `name[i]/<step>`, so step names inside the body
    /// need only be unique within one branch.
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # use durable::FanOut;
    /// # async fn f(ctx: Ctx, ids: Vec<u32>) -> Result<(), Error> {
    /// let totals: Vec<u32> = ctx
    ///     .map("price-all", ids, FanOut::new().concurrency(8), async |ctx, id| {
    ///         ctx.run("price", async || Ok::<_, StepError>(id * 100)).await
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// With [`FailFast`], the first branch error; with [`AllSettled`] each
    /// branch's result is returned.
    pub async fn map<I, T, F, Fut, M>(
        &self,
        name: impl Into<StepName>,
        items: impl IntoIterator<Item = I>,
        options: FanOut<M>,
        body: F,
    ) -> M::Output<T>
    where
        F: Fn(Ctx, I) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send,
        M: ErrorMode,
    {
        let name = self.begin_fan_out(name, StepKind::Map).await;
        let branches = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| body(self.branch_ctx(&name, index), item));
        drive::<T, M, _>(branches, options.concurrency).await
    }

    /// [`map`](Ctx::map) for bodies without an output.
    ///
    /// # Errors
    ///
    /// As for [`map`](Ctx::map).
    pub async fn for_each<I, F, Fut, M>(
        &self,
        name: impl Into<StepName>,
        items: impl IntoIterator<Item = I>,
        options: FanOut<M>,
        body: F,
    ) -> M::Output<()>
    where
        F: Fn(Ctx, I) -> Fut,
        Fut: Future<Output = Result<(), Error>> + Send,
        M: ErrorMode,
    {
        let name = self.begin_fan_out(name, StepKind::ForEach).await;
        let branches = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| body(self.branch_ctx(&name, index), item));
        drive::<(), M, _>(branches, options.concurrency).await
    }

    /// Splits `items` into chunks of `chunk_size` (at least 1) and runs
    /// `body` once per chunk, as branches `name[0]`, `name[1]`, ...; outputs
    /// come in chunk order.
    ///
    /// # Errors
    ///
    /// As for [`map`](Ctx::map).
    pub async fn batch<I, T, F, Fut, M>(
        &self,
        name: impl Into<StepName>,
        items: Vec<I>,
        chunk_size: usize,
        options: FanOut<M>,
        body: F,
    ) -> M::Output<T>
    where
        F: Fn(Ctx, Vec<I>) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send,
        M: ErrorMode,
    {
        let name = self.begin_fan_out(name, StepKind::Batch).await;
        let chunk_size = chunk_size.max(1);
        let mut chunks = Vec::new();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            chunks.push(items.by_ref().take(chunk_size).collect::<Vec<_>>());
        }
        let branches = chunks
            .into_iter()
            .enumerate()
            .map(|(index, chunk)| body(self.branch_ctx(&name, index), chunk));
        drive::<T, M, _>(branches, options.concurrency).await
    }

    /// Runs different branches at once, as `name[0]`, `name[1]`, ...
    ///
    /// ```no_run
    /// # use durable::prelude::*;
    /// # use durable::{FanOut, branch};
    /// # async fn f(ctx: Ctx) -> Result<(), Error> {
    /// let [email, sms]: [String; 2] = ctx
    ///     .parallel("notify", FanOut::new(), vec![
    ///         branch(async |ctx: Ctx| ctx.run("email", async || Ok::<_, StepError>("sent".to_string())).await),
    ///         branch(async |ctx: Ctx| ctx.run("sms", async || Ok::<_, StepError>("sent".to_string())).await),
    ///     ])
    ///     .await?
    ///     .try_into()
    ///     .unwrap();
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`map`](Ctx::map).
    pub async fn parallel<'a, T, M>(
        &self,
        name: impl Into<StepName>,
        options: FanOut<M>,
        branches: Vec<Branch<'a, T>>,
    ) -> M::Output<T>
    where
        M: ErrorMode,
    {
        let name = self.begin_fan_out(name, StepKind::Parallel).await;
        let mut futures = Vec::with_capacity(branches.len());
        for (index, body) in branches.into_iter().enumerate() {
            futures.push(body(self.branch_ctx(&name, index)));
        }
        drive::<T, M, _>(futures.into_iter(), options.concurrency).await
    }

    /// Claims the fan-out's name in the journal (a duplicate or a changed
    /// kind ends the run) and returns its full name.
    async fn begin_fan_out(&self, name: impl Into<StepName>, kind: StepKind) -> StepName {
        let name = self.full_name(name);
        // The fan-out itself writes no record: its branches' steps do.
        let _: StepStart = self.reach(name.as_str(), kind).await;
        name
    }

    fn branch_ctx(&self, name: &StepName, index: usize) -> Ctx {
        self.scoped(&StepName::from(format!("{}[{index}]", name.as_str())))
    }
}

/// Polls the branches, at most `concurrency` at once, and collects their
/// results in input order.
async fn drive<T, M: ErrorMode, F: Future<Output = Result<T, Error>>>(
    branches: impl Iterator<Item = F>,
    concurrency: usize,
) -> M::Output<T> {
    let mut waiting = branches.enumerate();
    let mut running = FuturesUnordered::new();
    let mut results: Vec<Option<Result<T, Error>>> = Vec::new();
    loop {
        while running.len() < concurrency.max(1) {
            let Some((index, future)) = waiting.next() else {
                break;
            };
            running.push(Indexed {
                index,
                future: Box::pin(future),
            });
        }
        let Some((index, result)) = running.next().await else {
            break;
        };
        if M::FAIL_FAST
            && let Err(error) = result
        {
            // Dropping `running` cancels the unfinished branches.
            return M::collect(vec![Err(error)]);
        }
        if results.len() <= index {
            results.resize_with(index + 1, || None);
        }
        results[index] = Some(result);
    }
    M::collect(results.into_iter().flatten().collect())
}

/// A branch's future tagged with its position.
struct Indexed<F> {
    index: usize,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Indexed<F> {
    type Output = (usize, F::Output);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index;
        self.future.as_mut().poll(cx).map(|output| (index, output))
    }
}
