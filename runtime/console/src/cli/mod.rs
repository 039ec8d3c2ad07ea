//! The `durable` command line: the console's HTTP API from the shell, over
//! a database URL or a running console, as human tables or as the API's
//! JSON.
//!
//! Every command is one or more requests to the API of
//! [`Console`](crate::Console), so the CLI and the API cannot disagree:
//! with `--api URL` they go over HTTP to a console that is serving (the
//! `?token=` of the URL it printed, or `--token`); with `--database-url
//! URL` the CLI opens an engine on the database (a client engine)
//! and sends them to a console router built in this process, through no
//! socket (`cli/connect.rs`). `durable console` serves that router on an
//! address.
//!
//! ```text
//! durable runs list --database-url sqlite://durable.db --status failed
//! durable runs show 0190e0a4-... --api http://127.0.0.1:7777 --token s3cret
//! durable trigger order-fulfillment --input @order.json --wait
//! durable console --database-url postgres://localhost/app --bind 127.0.0.1:7777
//! ```
//!
//! The exit codes are [`Exit`]'s.

mod args;
mod client;
mod connect;
mod events;
mod input;
mod runs;
mod serve;
mod show;
mod sse;
mod table;
mod watch;
mod workflows;

use std::process::ExitCode;

use clap::Parser;

use self::args::{ApiCommand, Cli, Command};
use self::client::{Api, CliError};

/// What the process's exit code says. `durable --help` lists them too.
///
/// ```
/// use durable_console::cli::Exit;
/// assert_eq!(Exit::NotFound.code(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// 0: done; for `--wait` and `runs watch`, the run completed.
    Ok,
    /// 1: the run that `--wait` or `runs watch` followed failed, was
    /// cancelled or timed out.
    RunFailed,
    /// 2: the command line is wrong (an unknown option, JSON that does not
    /// parse, a file that cannot be read, neither `--database-url` nor
    /// `--api`), or the API refused its arguments as malformed (400).
    Usage,
    /// 3: no such run, workflow, step or value (404).
    NotFound,
    /// 4: refused: the token is missing or wrong (401), the console is
    /// read-only or refuses the origin (403), the run is in a status that
    /// does not allow the action (409), the input does not fit the
    /// workflow's schema or is too large (413, 422); for a bulk action,
    /// the action failed on at least one run.
    Refused,
    /// 5: cannot reach the console or the database, or the server failed
    /// (5xx).
    Unavailable,
}

impl Exit {
    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::RunFailed => 1,
            Exit::Usage => 2,
            Exit::NotFound => 3,
            Exit::Refused => 4,
            Exit::Unavailable => 5,
        }
    }
}

/// The text `durable --help` ends with.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  done (for --wait and `runs watch`: the run completed)
  1  the run followed by --wait or `runs watch` failed, was cancelled or timed out
  2  usage error: wrong arguments, JSON that does not parse, an unreadable file,
     no --database-url or --api; or the API refused the arguments (400)
  3  not found: no such run, workflow, step or value (404)
  4  refused: missing or wrong token (401), read-only console or foreign origin (403),
     a run in the wrong status (409), an input that does not fit or is too large
     (413, 422); a bulk action that failed on at least one run
  5  cannot reach the console or the database, or the server failed (5xx)

Environment: DURABLE_DATABASE_URL, DURABLE_POSTGRES_SCHEMA, DURABLE_API, DURABLE_TOKEN.";

/// Runs the `durable` command with the process's arguments and answers
/// with its exit code; what it prints goes to stdout, errors to stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // `--help` and `--version` are "errors" that exit 0.
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("durable: cannot start the async runtime: {error}");
            return ExitCode::from(Exit::Unavailable.code());
        }
    };
    let exit = runtime.block_on(run(cli)).unwrap_or_else(|error| {
        eprintln!("durable: {error}");
        error.exit()
    });
    ExitCode::from(exit.code())
}

/// Runs one parsed command.
async fn run(cli: Cli) -> Result<Exit, CliError> {
    let command = match &cli.command {
        Command::Console(options) => return serve::serve(&cli.target, options).await,
        Command::Api(command) => command,
    };
    let api = Api::connect(&cli.target).await?;
    let json = cli.json;
    let exit = match command {
        ApiCommand::Workflows(command) => workflows::run(&api, command, json).await,
        ApiCommand::Runs(command) => runs::run(&api, command, json).await,
        ApiCommand::Trigger(command) => runs::trigger(&api, command, json).await,
        ApiCommand::Events(command) => events::run(&api, command, json).await,
        ApiCommand::Signal(command) => events::signal(&api, command, json).await,
    };
    api.close().await;
    exit
}
