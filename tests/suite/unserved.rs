//! Runs waiting for a version nobody serves: after a deploy that drops a
//! version, its runs in flight are counted per workflow and version and
//! listed ([`Engine::unserved_runs`], [`RunFilter::unserved`]) until an
//! engine that registers that version starts again.

use durable::prelude::*;
use durable::{RunFilter, UnservedRuns};
use durable_tests::wait_for_status;

/// Version 1: a long nap, so its runs stay in flight.
#[workflow(name = "unserved-ship", version = 1)]
async fn ship_v1(ctx: Ctx) -> Result<(), Error> {
    ctx.sleep("nap", "1h").await
}

/// Version 2: a step before the nap.
#[workflow(name = "unserved-ship", version = 2)]
async fn ship_v2(ctx: Ctx) -> Result<(), Error> {
    ctx.run("label", async || Ok::<_, StepError>(1)).await?;
    ctx.sleep("nap", "1h").await
}

/// The ids of the unserved runs `engine` lists, newest first, two a page.
async fn unserved_ids(engine: &Engine) -> Vec<RunId> {
    let mut filter = RunFilter::new().unserved().limit(2).unwrap();
    let mut ids = Vec::new();
    loop {
        let page = engine.list_runs(&filter).await.unwrap();
        ids.extend(page.runs.iter().map(|run| run.id));
        match page.next {
            Some(next) => filter = filter.after(next),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn runs_of_a_version_nobody_serves_are_listed_until_an_engine_serves_it() {
    let db = test_db!();
    // Engine A registers version 1, starts three runs, and stops.
    let a = db.builder().register(ShipV1).start().await.unwrap();
    let mut v1 = Vec::new();
    for _ in 0..3 {
        let run = ShipV1::trigger(&a).await.unwrap();
        wait_for_status(&run, RunStatus::Suspended).await;
        v1.push(run.id());
    }
    assert_eq!(a.unserved_runs().await.unwrap(), [], "A serves version 1");
    assert_eq!(unserved_ids(&a).await, []);
    a.shutdown().await;

    // Engine B registers version 2 alone: the three runs wait for nobody.
    let b = db.builder().register(ShipV2).start().await.unwrap();
    let new = ShipV2::trigger(&b).await.unwrap();
    wait_for_status(&new, RunStatus::Suspended).await;
    assert_eq!(
        b.unserved_runs().await.unwrap(),
        [UnservedRuns {
            workflow: "unserved-ship".into(),
            version: Some("v1".into()),
            queue: "default".into(),
            runs: 3,
        }]
    );
    let newest_first: Vec<RunId> = v1.iter().rev().copied().collect();
    assert_eq!(unserved_ids(&b).await, newest_first);
    let of_ship = RunFilter::new().workflow("unserved-ship").unserved();
    assert_eq!(b.list_runs(&of_ship).await.unwrap().runs.len(), 3);
    b.shutdown().await;

    // An engine with version 1 (beside version 2) starts again: nothing
    // waits for a worker.
    let c = db
        .builder()
        .register(ShipV1)
        .register(ShipV2)
        .start()
        .await
        .unwrap();
    assert_eq!(c.unserved_runs().await.unwrap(), []);
    assert_eq!(unserved_ids(&c).await, []);
    for id in &v1 {
        let run = c.run_handle::<()>(*id);
        assert_eq!(run.status().await.unwrap(), RunStatus::Suspended);
    }
    c.shutdown().await;
}
