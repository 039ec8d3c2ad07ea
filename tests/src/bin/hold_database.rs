//! A second process for the SQLite lock tests: starts an engine on a
//! database file, says so, and holds the file until its stdin closes (or it
//! is killed).
//!
//! ```text
//! hold_database <database>
//! ```
//!
//! Prints `started` when the engine runs, or `refused <error>` when it could
//! not start, then exits 0 at end of input, after a shutdown.

use std::io::{BufRead, Write};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: hold_database <database>"))?;
    let engine = match durable::Engine::builder().sqlite_file(&path).start().await {
        Ok(engine) => engine,
        Err(error) => {
            println!("refused {error}");
            return Ok(());
        }
    };
    println!("started");
    std::io::stdout().flush()?;
    // Read to the end of input: the parent closes it to let the file go.
    tokio::task::spawn_blocking(|| std::io::stdin().lock().lines().count()).await?;
    engine.shutdown().await;
    Ok(())
}
