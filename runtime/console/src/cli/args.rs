//! The command line as clap reads it: the options every command takes
//! (where the API is, `--json`) and each command's arguments. What the
//! commands do is in their own files.

use clap::{Args, Parser, Subcommand};

/// Operate durable's runs from the shell: list, inspect, trigger, cancel,
/// retry, pause, resume, send events, signal, follow a run, or serve the
/// console's API.
#[derive(Debug, Parser)]
#[command(name = "durable", version, after_help = super::EXIT_CODES)]
pub(crate) struct Cli {
    /// Where the API is.
    #[command(flatten)]
    pub(crate) target: Target,
    /// Print the API's JSON instead of tables (`runs list`: the array of
    /// runs; `runs watch`: one line of JSON per change).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the CLI finds the API: a database it opens itself, or a console
/// that is serving.
#[derive(Debug, Clone, Args)]
pub(crate) struct Target {
    /// The database: `sqlite://FILE` (e.g. `sqlite://durable.db`),
    /// `postgres://user@host/db`. The CLI opens it with no workflows of
    /// its own and executes no run.
    #[arg(long, global = true, env = "DURABLE_DATABASE_URL", value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// With a PostgreSQL `--database-url`: the schema that holds durable's
    /// tables, if the workers keep them in one (`postgres_schema`).
    #[arg(
        long,
        global = true,
        env = "DURABLE_POSTGRES_SCHEMA",
        value_name = "SCHEMA"
    )]
    pub(crate) schema: Option<String>,
    /// A serving console, e.g. `http://127.0.0.1:7777` (plain HTTP; the URL
    /// it printed, with its `?token=`, works as it is). Used instead of
    /// `--database-url` when both are given.
    #[arg(long, global = true, env = "DURABLE_API", value_name = "URL")]
    pub(crate) api: Option<String>,
    /// The console's token: sent to `--api`; for `durable console`, the
    /// token it requires (a random one otherwise).
    #[arg(
        long,
        global = true,
        env = "DURABLE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) token: Option<String>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the API on an address, with no workflow code: `durable console
    /// --database-url URL --bind 127.0.0.1:7777`. Stops on Ctrl-C.
    Console(ConsoleArgs),
    /// The commands that speak to the API.
    #[command(flatten)]
    Api(ApiCommand),
}

/// The commands that speak to the API.
#[derive(Debug, Subcommand)]
pub(crate) enum ApiCommand {
    /// The workflows: `list`, `show NAME`.
    #[command(subcommand)]
    Workflows(WorkflowsCommand),
    /// Runs: list, show, watch, cancel, retry, pause, resume (one, or in
    /// bulk by filter), fork.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Start a run of a workflow.
    Trigger(TriggerArgs),
    /// Events: `send NAME --data JSON`, `list`, `types`.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Send a signal to one run.
    Signal(SignalArgs),
}

/// `durable workflows ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum WorkflowsCommand {
    /// The workflows known to the database.
    List,
    /// One workflow: its input schema (and what else the API knows of it).
    Show {
        /// The workflow's name.
        name: String,
    },
}

/// `durable runs ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// A page of runs, newest first.
    List(ListArgs),
    /// One run: its fields, its steps and its children.
    Show {
        /// The run's id.
        id: String,
    },
    /// Follow a run until it ends, printing each change; the exit code
    /// says how it ended (0 completed, 1 otherwise).
    Watch(WatchArgs),
    /// Cancel a pending, running or suspended run, or every run a filter
    /// matches.
    Cancel(ActionArgs),
    /// Move a failed or timed-out run back to pending, or every run a
    /// filter matches.
    Retry(ActionArgs),
    /// Pause a pending, running or suspended run (it starts no further
    /// step until resumed), or every run a filter matches.
    Pause(ActionArgs),
    /// Resume a paused run, or every run a filter matches.
    Resume(ActionArgs),
    /// Start a new run from an ended run, keeping its journal before a
    /// step and running that step and every later one again.
    Fork(ForkArgs),
}

/// `durable runs fork`.
#[derive(Debug, Args)]
pub(crate) struct ForkArgs {
    /// The ended run's id.
    pub(crate) id: String,
    /// The step to run again from (as `runs show` lists it).
    #[arg(long, value_name = "STEP")]
    pub(crate) from_step: String,
    /// Another input for the new run: JSON, `@FILE` for a file's JSON, or
    /// `-` for stdin's (default: the source's input).
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub(crate) input: Option<String>,
}

/// The run filter's options, shared by `runs list` and the bulk actions.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct FilterArgs {
    /// Only runs of this workflow.
    #[arg(long)]
    pub(crate) workflow: Option<String>,
    /// Only runs with this status (repeat, or separate with commas):
    /// pending, running, suspended, completed, failed, cancelled,
    /// timed_out.
    #[arg(long, value_delimiter = ',')]
    pub(crate) status: Vec<String>,
    /// Only runs whose input, output or error contains this text (case
    /// sensitive).
    #[arg(long)]
    pub(crate) text: Option<String>,
    /// Only the children of this run.
    #[arg(long, value_name = "RUN")]
    pub(crate) parent: Option<String>,
    /// Only runs created at or after this time (ms since the epoch).
    #[arg(long, value_name = "MS")]
    pub(crate) created_from: Option<i64>,
    /// Only runs created before this time (ms since the epoch).
    #[arg(long, value_name = "MS")]
    pub(crate) created_until: Option<i64>,
    /// Only runs waiting for a version no live worker serves (pending,
    /// running or suspended, pinned to a version no worker with a recent
    /// heartbeat registers).
    #[arg(long)]
    pub(crate) unserved: bool,
    /// Only runs paused now (`runs pause`), not resumed yet.
    #[arg(long)]
    pub(crate) paused: bool,
    /// Only runs waiting (or that waited) in this queue (`#[workflow(queue
    /// = "..")]`, `invoke(..).queue(..)`; `default` when not declared).
    #[arg(long, value_name = "NAME")]
    pub(crate) queue: Option<String>,
}

/// `durable runs list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The filter.
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// How many runs (1 to 200; the API's default is 50).
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// The page after this cursor (the `next` a previous page printed).
    #[arg(long, value_name = "CURSOR")]
    pub(crate) after: Option<String>,
}

/// `durable runs watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// The run's id.
    pub(crate) id: String,
    /// Accepted, and ignored, for scripts written when the watch read the
    /// run at this interval: it follows the run's event stream now.
    #[arg(long, default_value = "200ms", hide = true)]
    pub(crate) interval: String,
}

/// `durable runs cancel|retry|pause|resume`: one run by id, or every run of
/// a filter.
#[derive(Debug, Args)]
pub(crate) struct ActionArgs {
    /// The run's id; without it, the filter's options choose the runs.
    pub(crate) id: Option<String>,
    /// The filter of a bulk action.
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// With a filter: count the runs it matches, change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// `durable trigger`.
#[derive(Debug, Args)]
pub(crate) struct TriggerArgs {
    /// The workflow's name.
    pub(crate) workflow: String,
    /// The input: JSON, `@FILE` for a file's JSON, or `-` for stdin's
    /// (default `null`).
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub(crate) input: Option<String>,
    /// A key that makes the trigger idempotent: the same key and input
    /// answer with the first run.
    #[arg(long, value_name = "KEY")]
    pub(crate) idempotency_key: Option<String>,
    /// Start after this long (`10m`, `2h`).
    #[arg(long, value_name = "DURATION", conflicts_with = "start_at")]
    pub(crate) delay: Option<String>,
    /// Start at this time (ms since the epoch).
    #[arg(long, value_name = "MS")]
    pub(crate) start_at: Option<u64>,
    /// Follow the run until it ends, then print its output (or its error);
    /// the exit code says how it ended (0 completed, 1 otherwise).
    #[arg(long)]
    pub(crate) wait: bool,
    /// Accepted with `--wait`, and ignored, for scripts written when the
    /// wait read the run at this interval: it follows the run's event
    /// stream now.
    #[arg(long, default_value = "200ms", requires = "wait", hide = true)]
    pub(crate) interval: String,
}

/// `durable events ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
    /// Send an event to every run waiting for it.
    Send {
        /// The event's name.
        name: String,
        /// Its data: JSON, `@FILE` or `-` (default `null`).
        #[arg(long, value_name = "JSON|@FILE|-")]
        data: Option<String>,
    },
    /// The typed events of the catalog, each with its schema's fields:
    /// events of these names must fit their schema.
    Types,
    /// The newest events and signals, with the runs they woke.
    List {
        /// Only events of this name.
        #[arg(long)]
        name: Option<String>,
        /// How many (1 to 200).
        #[arg(long)]
        limit: Option<usize>,
    },
}

/// `durable signal RUN NAME`.
#[derive(Debug, Args)]
pub(crate) struct SignalArgs {
    /// The run's id.
    pub(crate) run: String,
    /// The signal's name.
    pub(crate) name: String,
    /// Its data: JSON, `@FILE` or `-` (default `null`).
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub(crate) data: Option<String>,
}

/// `durable console`.
#[derive(Debug, Args)]
pub(crate) struct ConsoleArgs {
    /// The address to serve on; one that is not loopback needs `--token`.
    /// Port 0 lets the system choose (the printed URL says which).
    #[arg(long, default_value = "127.0.0.1:7777", value_name = "ADDR")]
    pub(crate) bind: String,
    /// Refuse every action; reads still answer.
    #[arg(long)]
    pub(crate) read_only: bool,
    /// Accept requests whose `Host` is this name too (repeatable), e.g. the
    /// name a proxy forwards.
    #[arg(long, value_name = "HOST")]
    pub(crate) allow_host: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn statuses_split_on_commas_and_repeat() {
        let cli = Cli::try_parse_from([
            "durable",
            "runs",
            "list",
            "--status",
            "failed,timed_out",
            "--status",
            "cancelled",
        ])
        .unwrap();
        let Command::Api(ApiCommand::Runs(RunsCommand::List(list))) = cli.command else {
            panic!("not runs list");
        };
        assert_eq!(list.filter.status, ["failed", "timed_out", "cancelled"]);
    }

    #[test]
    fn usage_errors_exit_2() {
        for args in [
            &["durable", "runs", "frobnicate"][..],
            &[
                "durable",
                "trigger",
                "w",
                "--delay",
                "1m",
                "--start-at",
                "5",
            ],
            &["durable", "trigger", "w", "--interval", "1s"],
        ] {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }
}
