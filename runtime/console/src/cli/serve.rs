//! `durable console`: the API served on an address, on an engine of no
//! workflow code, until Ctrl-C or SIGTERM.

use std::io::Write;

use super::Exit;
use super::args::{ConsoleArgs, Target};
use super::client::CliError;
use super::connect;

/// Serves the console on `--bind` until the process is told to stop.
pub(crate) async fn serve(target: &Target, options: &ConsoleArgs) -> Result<Exit, CliError> {
    if target.api.is_some() {
        return Err(CliError::Usage(
            "durable console serves a database: give it --database-url, not --api".into(),
        ));
    }
    let engine = connect::open_engine(target).await?;
    let mut console = crate::Console::new(&engine).read_only(options.read_only);
    if let Some(token) = &target.token {
        console = console.token(token.clone());
    }
    for host in &options.allow_host {
        console = console.allow_host(host.clone());
    }
    let serving = match console.bind(options.bind.as_str()).await {
        Ok(serving) => serving,
        Err(error) => {
            engine.shutdown().await;
            return Err(CliError::Serve(error));
        }
    };
    let mode = if options.read_only {
        " (read-only)"
    } else {
        ""
    };
    // One line a script (or a test) reads to learn the port and the token.
    println!("durable console serving at {}{mode}", serving.url());
    let _ = std::io::stdout().flush();
    stopped().await;
    let result = serving.shutdown().await;
    engine.shutdown().await;
    result.map_err(CliError::Serve)?;
    Ok(Exit::Ok)
}

/// Returns on Ctrl-C, or on SIGTERM (a service manager's stop).
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    // Without a handler, the process ends by the signal's default action.
    let _ = tokio::signal::ctrl_c().await;
}
