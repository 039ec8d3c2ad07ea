//! Property tests of replay and timing through the whole engine: random
//! programs of steps, sleeps and flaky (retried) steps, each run once without
//! a crash and once crashed at random points (the engine shut down and
//! started again on the same database), while a `ManualClock` jumps forward
//! by random amounts. Invariants: no step body runs again once its result is
//! committed; the crashed run's output equals the uncrashed run's; no sleep
//! ends before its wake time; no retry starts before its back-off (less its
//! jitter) has passed.
//!
//! The programs come from a seeded generator: a failure names its seed and
//! program, and the same seed replays the same program (the crash points
//! fall where real-time scheduling puts them).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use durable::prelude::*;
use durable::{Clock, Engine, ManualClock, RunStatus};
use durable_tests::TestDb;

const START_MS: i64 = 1_700_000_000_000;
/// Programs per test; each runs twice (uncrashed, crashed).
const CASES: u64 = 6;
/// Crashes per crashed run, at most.
const MAX_CRASHES: u32 = 4;

/// One operation of a random program.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
enum Op {
    /// A step whose body returns `id` and a token unique to the execution.
    Step(u32),
    /// A durable sleep of this many ms (short ones wait in memory, long
    /// ones suspend the run).
    Sleep(u64),
    /// A step that fails its first `failures` attempts (retryable).
    Flaky { id: u32, failures: u32 },
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Program {
    /// Which [`Case`] the run reports to.
    key: u64,
    ops: Vec<Op>,
}

/// What the bodies of one run saw.
struct Case {
    clock: ManualClock,
    /// Incremented at every crash: which engine executes now.
    generation: u32,
    /// Every body execution that returned: (step name, generation, token).
    executions: Vec<(String, u32, u64)>,
    /// When each (step, attempt) of a flaky step failed.
    failed_at: BTreeMap<(String, u32), i64>,
    /// Broken timing rules, in words.
    violations: Vec<String>,
}

static CASES_SEEN: Mutex<BTreeMap<u64, Case>> = Mutex::new(BTreeMap::new());
static TOKENS: AtomicU64 = AtomicU64::new(1);
static KEYS: AtomicU64 = AtomicU64::new(1);

fn with_case<T>(key: u64, f: impl FnOnce(&mut Case) -> T) -> T {
    let mut cases = CASES_SEEN.lock().unwrap();
    f(cases.get_mut(&key).expect("the case is registered"))
}

/// Notes an execution of `name`'s body; returns its token.
fn executed(key: u64, name: &str) -> u64 {
    let token = TOKENS.fetch_add(1, Ordering::SeqCst);
    with_case(key, |case| {
        let generation = case.generation;
        case.executions.push((name.to_owned(), generation, token));
    });
    token
}

/// The policy of flaky steps: jittered exponential back-off.
fn flaky_policy() -> Retry {
    Retry::exponential(4, "1s").max_delay("3s")
}

/// The jitter the policy uses (`Retry`'s default).
const JITTER: f64 = 0.2;

#[workflow]
async fn random_program(ctx: Ctx, program: Program) -> Result<Vec<(u32, u64)>, Error> {
    let key = program.key;
    let mut outputs = Vec::new();
    for (index, op) in program.ops.iter().enumerate() {
        match *op {
            Op::Step(id) => {
                let name = format!("s[{index}]");
                let output = ctx
                    .run(("s", index), async || {
                        Ok::<_, StepError>((id, executed(key, &name)))
                    })
                    .await?;
                outputs.push(output);
            }
            Op::Sleep(ms) => {
                let before = ctx.now(("t", index)).await?;
                ctx.sleep(("z", index), ms).await?;
                let before = before
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64;
                with_case(key, |case| {
                    let now = case.clock.now_ms();
                    let due = before + ms as i64;
                    if now < due {
                        case.violations
                            .push(format!("sleep z[{index}] ended at {now}, due at {due}"));
                    }
                });
            }
            Op::Flaky { id, failures } => {
                let name = format!("f[{index}]");
                let output = ctx
                    .step(("f", index))
                    .retry(flaky_policy())
                    .run_with_attempt(async |attempt| {
                        let now = with_case(key, |case| {
                            let now = case.clock.now_ms();
                            let previous = case.failed_at.get(&(name.clone(), attempt - 1));
                            if let Some(failed) = previous {
                                let backoff = flaky_policy().delay_after(attempt - 1);
                                let earliest =
                                    failed + (backoff.as_millis() as f64 * (1.0 - JITTER)) as i64;
                                if now < earliest {
                                    case.violations.push(format!(
                                        "{name} attempt {attempt} started at {now}, \
                                         before {earliest} (failed at {failed})"
                                    ));
                                }
                            }
                            now
                        });
                        if attempt <= failures {
                            with_case(key, |case| {
                                case.failed_at.insert((name.clone(), attempt), now)
                            });
                            return Err(StepError::retryable(format!("attempt {attempt} fails")));
                        }
                        Ok((id, executed(key, &name)))
                    })
                    .await?;
                outputs.push(output);
            }
        }
    }
    Ok(outputs)
}

/// A xorshift generator: the tests replay from a seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn random_ops(rng: &mut Rng) -> Vec<Op> {
    const SLEEPS: [u64; 6] = [0, 40, 700, 1_500, 30_000, 7_200_000];
    (0..1 + rng.below(10))
        .map(|_| match rng.below(6) {
            0..=2 => Op::Step(rng.below(1_000) as u32),
            3..=4 => Op::Sleep(SLEEPS[rng.below(SLEEPS.len() as u64) as usize]),
            _ => Op::Flaky {
                id: rng.below(1_000) as u32,
                failures: rng.below(4) as u32,
            },
        })
        .collect()
}

async fn start(db: &TestDb, clock: &ManualClock) -> Engine {
    db.builder()
        .clock(clock.clone())
        .register(RandomProgram)
        .start()
        .await
        .expect("the engine starts")
}

/// The names of the run's steps whose result is committed now.
async fn committed(db: &TestDb, id: durable::RunId, ops: &[Op]) -> Vec<String> {
    let mut names = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        let name = match op {
            Op::Step(_) => format!("s[{index}]"),
            Op::Flaky { .. } => format!("f[{index}]"),
            Op::Sleep(_) => continue,
        };
        let sql = format!(
            "SELECT COUNT(*) FROM wf_step \
             WHERE instance_id = '{id}' AND name = '{name}' AND status = 'completed'"
        );
        if db.count(&sql).await > 0 {
            names.push(name);
        }
    }
    names
}

/// Runs `ops` to completion on a fresh case, jumping the clock at random and,
/// if `crash`, shutting the engine down and starting a new one at random
/// points. Returns the output and the case's record.
async fn drive(
    db: &TestDb,
    ops: &[Op],
    crash: bool,
    rng: &mut Rng,
) -> (Vec<(u32, u64)>, Case, BTreeMap<String, u32>) {
    let key = KEYS.fetch_add(1, Ordering::SeqCst);
    let clock = ManualClock::new(START_MS);
    CASES_SEEN.lock().unwrap().insert(
        key,
        Case {
            clock: clock.clone(),
            generation: 0,
            executions: Vec::new(),
            failed_at: BTreeMap::new(),
            violations: Vec::new(),
        },
    );
    let mut engine = start(db, &clock).await;
    let program = Program {
        key,
        ops: ops.to_vec(),
    };
    let id = RandomProgram::trigger(&engine, program).await.unwrap().id();
    // Step name → the generation after whose crash its result was seen
    // committed.
    let mut committed_by: BTreeMap<String, u32> = BTreeMap::new();
    let mut crashes = 0;
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not finish: {ops:?}"
        );
        let run = engine.run_handle::<Vec<(u32, u64)>>(id);
        match run.status().await.unwrap() {
            RunStatus::Completed => {
                let output = run.result().await.unwrap();
                engine.shutdown().await;
                let case = CASES_SEEN.lock().unwrap().remove(&key).unwrap();
                return (output, case, committed_by);
            }
            RunStatus::Pending | RunStatus::Running | RunStatus::Suspended => {}
            other => panic!("the run ended {other}: {ops:?}"),
        }
        let dice = rng.below(10);
        if crash && crashes < MAX_CRASHES && dice < 2 {
            if rng.below(3) > 0 {
                // Wake the run and crash while it executes: a few polls in,
                // inside a body, between a body and its commit, or in a write.
                clock.advance(Duration::from_millis(rng.below(2_000)));
                for _ in 0..rng.below(40) {
                    tokio::task::yield_now().await;
                }
            }
            engine.shutdown().await;
            drop(engine);
            let generation = with_case(key, |case| case.generation);
            for name in committed(db, id, ops).await {
                committed_by.entry(name).or_insert(generation);
            }
            with_case(key, |case| case.generation += 1);
            engine = start(db, &clock).await;
            crashes += 1;
            continue;
        }
        match dice {
            2..=5 => clock.advance(Duration::from_millis(rng.below(2_000))),
            6 => clock.advance(Duration::from_secs(3 * 3_600)),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(1 + rng.below(3))).await;
    }
}

#[tokio::test]
async fn random_programs_survive_crashes_and_clock_jumps() {
    let db = test_db!();
    for seed in 1..=CASES {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let ops = random_ops(&mut rng);
        let context = format!("seed {seed}, program {ops:?}");

        let (expected, uncrashed, _) = drive(&db, &ops, false, &mut rng).await;
        assert_eq!(uncrashed.violations, Vec::<String>::new(), "{context}");
        // Without a crash every body that returned ran once. Not on a
        // shared database: there a clock jump past the lease lets the engine
        // claim its own run again while the first execution still runs a
        // body (allowed: a body runs at least once).
        let single_engine = matches!(db, TestDb::Sqlite { .. });
        let mut names: Vec<&str> = uncrashed
            .executions
            .iter()
            .map(|(name, ..)| name.as_str())
            .collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        if single_engine {
            assert_eq!(names.len(), before, "a body ran twice: {context}");
        }

        let (output, crashed, committed_by) = drive(&db, &ops, true, &mut rng).await;
        assert_eq!(crashed.violations, Vec::<String>::new(), "{context}");
        let ids = |output: &[(u32, u64)]| output.iter().map(|(id, _)| *id).collect::<Vec<_>>();
        assert_eq!(ids(&output), ids(&expected), "{context}");
        for (name, generation, _) in &crashed.executions {
            if let Some(committed) = committed_by.get(name) {
                assert!(
                    generation <= committed,
                    "{name} ran in generation {generation}, after its result was \
                     committed in generation {committed}: {context}"
                );
            }
        }
        // Each output is that of the step's last execution: the result
        // committed is the one the run went on with.
        for (_, token) in &output {
            let (name, ..) = crashed
                .executions
                .iter()
                .find(|(_, _, t)| t == token)
                .expect("the output comes from an execution");
            let last = crashed
                .executions
                .iter()
                .rfind(|(n, ..)| n == name)
                .map(|(.., t)| *t);
            assert_eq!(last, Some(*token), "{name}: {context}");
        }
    }
}
