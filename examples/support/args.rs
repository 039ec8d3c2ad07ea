//! Reading the bench examples' command lines (`bench.rs`, `bench_live.rs`,
//! `bench_api.rs`): each takes a few `--flag value` pairs.

/// The value after `--flag` on the command line: `None` without the flag,
/// `Some(None)` when nothing follows it.
pub(crate) fn flag(name: &str) -> Option<Option<String>> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|arg| arg == name)
        .map(|index| args.get(index + 1).cloned())
}
