//! Property tests of the event/wait protocol: seeded random interleavings
//! of sends, waits (with and without filters and lookbacks), timeouts and
//! engine restarts, over several runs, on a `ManualClock`. After every
//! action the engine is compared with a model of the contract, which it
//! must reach: every event sent after a wait was registered resumes it if
//! it matches; a wait gets only events its filter matches; a timeout yields
//! `None`, never before its deadline; a lookback takes the oldest matching
//! event of its window that no earlier wait of its run took; nothing is
//! lost across a restart. A failure names the seed (rerun one with
//! `DURABLE_PROPERTY_SEED=<seed>`) and the action.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use durable::prelude::*;
use durable::{Clock, ManualClock, StepStatus};

const START_MS: i64 = 1_700_000_000_000;
const LOOKBACK_MS: i64 = 3_600_000;
const CASES: u64 = 12;
const ACTIONS: usize = 14;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct WaitSpec {
    key: Option<u32>,
    lookback: bool,
    timeout_ms: u64,
}

#[workflow]
async fn protocol_waits(
    ctx: Ctx,
    event: String,
    waits: Vec<WaitSpec>,
) -> Result<Vec<Option<u32>>, Error> {
    let mut got = Vec::new();
    for (index, spec) in waits.iter().enumerate() {
        let mut wait = ctx
            .wait_for_event::<serde_json::Value>(("w", index), event.as_str())
            .timeout(Duration::from_millis(spec.timeout_ms));
        if let Some(key) = spec.key {
            wait = wait.matching(json!({ "key": key }));
        }
        if spec.lookback {
            wait = wait.lookback("1h");
        }
        let data = wait.await?;
        got.push(data.and_then(|data| data["n"].as_u64()).map(|n| n as u32));
    }
    Ok(got)
}

/// SplitMix64: a small seeded generator, so a failing case can be rerun.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

struct SentEvent {
    n: u32,
    key: u32,
    at: i64,
}

/// What the contract says one run does.
struct ModelRun {
    waits: Vec<WaitSpec>,
    got: Vec<Option<u32>>,
    taken: HashSet<u32>,
    /// The timeout of the wait it is on.
    deadline: i64,
}

impl ModelRun {
    fn matches(spec: &WaitSpec, event: &SentEvent) -> bool {
        spec.key.is_none_or(|key| key == event.key)
    }

    fn take(&mut self, n: Option<u32>) {
        self.got.push(n);
        if let Some(n) = n {
            self.taken.insert(n);
        }
    }

    /// Goes on from its current wait at `now`: lookbacks may be satisfied
    /// at once; the first wait that is not is registered.
    fn go_on(&mut self, now: i64, events: &[SentEvent]) {
        while let Some(spec) = self.waits.get(self.got.len()).cloned() {
            let earlier = spec.lookback.then(|| {
                events.iter().find(|event| {
                    event.at >= now - LOOKBACK_MS
                        && Self::matches(&spec, event)
                        && !self.taken.contains(&event.n)
                })
            });
            match earlier.flatten() {
                Some(event) => self.take(Some(event.n)),
                None => {
                    self.deadline = now + spec.timeout_ms as i64;
                    return;
                }
            }
        }
    }

    fn sent(&mut self, event: &SentEvent, now: i64, events: &[SentEvent]) {
        if let Some(spec) = self.waits.get(self.got.len())
            && Self::matches(spec, event)
        {
            self.take(Some(event.n));
            self.go_on(now, events);
        }
    }

    fn clock_moved(&mut self, now: i64, events: &[SentEvent]) {
        if self.got.len() < self.waits.len() && self.deadline <= now {
            self.take(None);
            self.go_on(now, events);
        }
    }

    /// The steps the engine should show: `(status, event n)` per wait.
    fn expected(&self) -> Vec<(StepStatus, Option<u32>)> {
        let mut steps: Vec<_> = self
            .got
            .iter()
            .map(|n| (StepStatus::Completed, *n))
            .collect();
        if self.got.len() < self.waits.len() {
            steps.push((StepStatus::Waiting, None));
        }
        steps
    }
}

async fn actual(engine: &Engine, id: RunId) -> Vec<(StepStatus, Option<u32>)> {
    engine
        .run_handle::<Vec<Option<u32>>>(id)
        .steps()
        .await
        .expect("steps")
        .into_iter()
        .map(|step| {
            let n = step
                .output
                .as_ref()
                .and_then(|output| output["data"]["n"].as_u64())
                .map(|n| n as u32);
            (step.status, n)
        })
        .collect()
}

/// Waits (in real time, up to 20 s) until every run shows what the model
/// expects.
async fn reach_model(engine: &Engine, runs: &[(RunId, ModelRun)], context: &str) {
    let started = Instant::now();
    for (id, model) in runs {
        loop {
            let steps = actual(engine, *id).await;
            let expected = model.expected();
            if steps == expected {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{context}: run {id} shows {steps:?}, the contract says {expected:?} \
                 (waits {:?})",
                model.waits
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn start(db: &durable_tests::TestDb, clock: &ManualClock) -> Engine {
    db.builder()
        .clock(clock.clone())
        .keep_in_memory_below("1ms")
        .register(ProtocolWaits)
        .start()
        .await
        .expect("the engine starts")
}

async fn one_case(db: &durable_tests::TestDb, clock: &ManualClock, seed: u64) -> Engine {
    let mut rng = Rng(seed);
    let mut engine = start(db, clock).await;
    let event_name = format!("protocol.{seed}");
    let mut events: Vec<SentEvent> = Vec::new();
    let mut runs: Vec<(RunId, ModelRun)> = Vec::new();
    for action in 0..ACTIONS {
        let now = clock.now_ms();
        let what = rng.below(10);
        let context = format!("seed {seed}, action {action} ({what})");
        match what {
            // A new run with one to four waits.
            0 | 1 if runs.len() < 4 => {
                let waits: Vec<WaitSpec> = (0..1 + rng.below(4))
                    .map(|_| WaitSpec {
                        key: (rng.below(2) == 0).then(|| rng.below(2) as u32),
                        lookback: rng.below(2) == 0,
                        timeout_ms: 100 + rng.below(1_900),
                    })
                    .collect();
                let run = ProtocolWaits::trigger(&engine, event_name.clone(), waits.clone())
                    .await
                    .expect("trigger");
                let mut model = ModelRun {
                    waits,
                    got: Vec::new(),
                    taken: HashSet::new(),
                    deadline: 0,
                };
                model.go_on(now, &events);
                runs.push((run.id(), model));
            }
            // Time passes: a little, past some timeouts, or past the lookback.
            2..=4 => {
                let step = match rng.below(4) {
                    0 => rng.below(50),
                    1 | 2 => rng.below(2_500),
                    _ => LOOKBACK_MS as u64 / 2 + rng.below(LOOKBACK_MS as u64),
                };
                clock.advance(Duration::from_millis(step));
                let now = clock.now_ms();
                for (_, model) in &mut runs {
                    model.clock_moved(now, &events);
                }
            }
            // A restart: the next action comes before the new engine settled.
            5 => {
                engine.shutdown().await;
                engine = start(db, clock).await;
                continue;
            }
            // An event, with or without a key some waits filter on.
            _ => {
                let event = SentEvent {
                    n: events.len() as u32,
                    key: rng.below(2) as u32,
                    at: now,
                };
                engine
                    .send_event(&event_name, json!({ "key": event.key, "n": event.n }))
                    .await
                    .expect("send");
                for (_, model) in &mut runs {
                    model.sent(&event, now, &events);
                }
                events.push(event);
            }
        }
        reach_model(&engine, &runs, &context).await;
    }
    // Every wait ends: past the longest timeout, each run completes with
    // what the model took.
    for round in 0..5 {
        clock.advance(Duration::from_millis(2_000));
        let now = clock.now_ms();
        for (_, model) in &mut runs {
            model.clock_moved(now, &events);
        }
        reach_model(&engine, &runs, &format!("seed {seed}, final round {round}")).await;
    }
    for (id, model) in &runs {
        let result = engine
            .run_handle::<Vec<Option<u32>>>(*id)
            .result()
            .await
            .expect("result");
        assert_eq!(result, model.got, "seed {seed}: run {id}");
        let taken: Vec<u32> = result.iter().flatten().copied().collect();
        let unique: HashSet<u32> = taken.iter().copied().collect();
        assert_eq!(
            unique.len(),
            taken.len(),
            "seed {seed}: an event taken twice"
        );
    }
    engine
}

#[tokio::test]
async fn random_interleavings_of_sends_waits_and_timeouts_keep_the_contract() {
    let db = test_db!();
    let clock = ManualClock::new(START_MS);
    let seeds: Vec<u64> = match std::env::var("DURABLE_PROPERTY_SEED") {
        Ok(seed) => vec![seed.parse().expect("DURABLE_PROPERTY_SEED is a number")],
        // PostgreSQL restarts and wakes take longer: fewer cases there.
        Err(_) => {
            let cases = match db {
                durable_tests::TestDb::Postgres { .. } => CASES / 4,
                durable_tests::TestDb::Sqlite { .. } => CASES,
            };
            (0..cases).map(|case| 0x5eed_0000 + case).collect()
        }
    };
    for seed in seeds {
        let engine = one_case(&db, &clock, seed).await;
        engine.shutdown().await;
    }
}
