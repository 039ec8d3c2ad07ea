//! Runs the trybuild cases: everything in `cases/pass` must compile (and
//! run), everything in `cases/fail` must fail with exactly its `.stderr`.
//! After a deliberate change of a message, regenerate the files with
//! `TRYBUILD=overwrite cargo test -p durable-ui-tests` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("cases/pass/*.rs");
    cases.compile_fail("cases/fail/*.rs");
}
