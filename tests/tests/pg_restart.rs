//! PostgreSQL restarted while runs are in flight: the engine's connections
//! break, its writes are retried, its LISTEN connection reconnects, and
//! every run completes. Restarts the machine's server with `pg_ctlcluster`,
//! so it lives in a test binary of its own (test binaries run one at a
//! time). Needs `DURABLE_TEST_POSTGRES_URL` and `pg_ctlcluster`; skips with a
//! notice without them.

use std::process::Command;
use std::time::{Duration, Instant};

use durable::prelude::*;
use durable_tests::TestDb;

#[workflow(name = "through-a-restart")]
async fn through_a_restart(ctx: Ctx, index: u32) -> Result<u32, Error> {
    let mut total = 0;
    for step in 0..5u32 {
        total += ctx
            .run(("work", step), async || {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<_, StepError>(index + step)
            })
            .await?;
    }
    Ok(total)
}

/// The cluster to restart (`pg_ctlcluster <version> main`), if there is one.
fn cluster_version() -> Option<String> {
    let versions = std::fs::read_dir("/etc/postgresql").ok()?;
    let version = versions.flatten().next()?.file_name().into_string().ok()?;
    Command::new("pg_ctlcluster").arg("--help").output().ok()?;
    Some(version)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_run_completes_across_a_server_restart() {
    let Some(db) = TestDb::postgres("restart") else {
        return;
    };
    let Some(version) = cluster_version() else {
        println!("skipped: no pg_ctlcluster on this machine to restart PostgreSQL");
        return;
    };
    let engine = db
        .builder()
        .lease("2s")
        .register(ThroughARestart)
        .start()
        .await
        .unwrap();
    let mut runs = Vec::new();
    for index in 0..100 {
        runs.push(ThroughARestart::trigger(&engine, index).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let finished = db
        .count("SELECT COUNT(*) FROM wf_instance WHERE status = 'completed'")
        .await;
    assert!(
        finished < 100,
        "every run finished before the restart: the test proves nothing"
    );
    let status = Command::new("pg_ctlcluster")
        .args([
            "--skip-systemctl-redirect",
            &version,
            "main",
            "restart",
            "-m",
            "fast",
        ])
        .status()
        .expect("run pg_ctlcluster");
    assert!(status.success(), "restarting PostgreSQL failed");
    let started = Instant::now();
    for (index, run) in runs.iter().enumerate() {
        let expected = 5 * index as u32 + 10;
        let result = tokio::time::timeout(Duration::from_secs(90), run.result()).await;
        assert_eq!(
            result.expect("the run did not finish").unwrap(),
            expected,
            "run {index}"
        );
    }
    println!(
        "{finished} of 100 runs had completed before the restart; the rest completed {:?} after it",
        started.elapsed()
    );
}
