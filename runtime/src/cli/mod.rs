//! The generated binary's command line: `start`, `run`, `status`, `list`,
//! `history`, `signal`, `retry`, `cancel`, `simulate`.

pub mod health;
pub mod listen;
#[cfg(test)]
mod listen_tests;
pub mod operator;
mod preflight;

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;

use crate::clock::{Clock, SystemClock};
use crate::engine::{Engine, RecordError, RunOptions};
use crate::events::EventFeed;
use crate::flow::{ConnectionDef, Flow};
use crate::store::{IssueRow, IssueState, SqliteOptions, SqliteStore, Store, is_postgres_url};
use crate::value::FieldError;

#[derive(Debug, Parser)]
#[command(version, about = "A durable billing flow compiled by flowc.", long_about = None)]
struct Cli {
    /// The store: a SQLite file (default: `<flow>.flowc.db` in the current
    /// directory), or a PostgreSQL URL (`postgres://user@host/db`) that several
    /// replicas of this binary share.
    #[arg(long, global = true, env = "FLOWC_STORE", value_name = "PATH|URL")]
    store: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log filter (tracing's env-filter syntax), e.g. `info` or `flowc_runtime=debug`.
    #[arg(long, global = true, env = "FLOWC_LOG", default_value = "info")]
    log: String,
    /// Allow calls on the flow's `mode: live` connections (real money). Without
    /// it, `run` refuses to work a flow that has one.
    #[arg(long, global = true)]
    live: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum InputFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start issues: one JSON record, or every record of a CSV or JSON-lines file.
    ///
    /// Every record is validated against the flow's data schema first. A file with
    /// an invalid record starts nothing, unless --skip-invalid.
    Start {
        /// One record as a JSON object, e.g. '{"delivery_id": "D-1", "total": "1200 JPY"}'.
        #[arg(conflicts_with = "file", required_unless_present = "file")]
        record: Option<String>,
        /// A CSV file (header row = data item names) or a JSON-lines file.
        #[arg(long, short)]
        file: Option<PathBuf>,
        /// The file's format (default: from its extension: .csv, else JSON lines).
        #[arg(long, value_enum)]
        format: Option<InputFormat>,
        /// Start the valid records of a file and report the invalid ones.
        #[arg(long)]
        skip_invalid: bool,
    },
    /// Work: run due steps, timers, retries and polls.
    Run {
        /// Run what is due now and exit (for cron).
        #[arg(long)]
        once: bool,
        /// Listen for webhooks, signals, events and new records on this address (e.g.
        /// 127.0.0.1:8080). Webhooks are checked by their provider's signature; the
        /// operator's routes need `Authorization: Bearer $FLOWC_OPERATOR_TOKEN` (or
        /// the token in the file FLOWC_OPERATOR_TOKEN_FILE names) and are refused
        /// without one.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Issues worked on at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Show one issue: state, step, error, data and its side effects.
    Status {
        /// The issue id (a unique prefix is enough).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List issues.
    List {
        /// Only issues in this state.
        #[arg(long, value_parser = parse_state)]
        state: Option<IssueState>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// The route an issue took, with times.
    History {
        /// The issue id (a unique prefix is enough).
        id: String,
    },
    /// Send a signal to an issue (a person's step).
    Signal {
        /// The issue id (a unique prefix is enough).
        id: String,
        /// The signal's name, as in the flow's `wait: { signal: NAME }`.
        name: String,
        /// The signal's data as a JSON object.
        #[arg(long)]
        data: Option<String>,
    },
    /// Run a failed issue again from the step it failed in (same idempotency keys).
    Retry {
        /// The issue id (a unique prefix is enough).
        id: String,
    },
    /// Cancel an issue.
    Cancel {
        /// The issue id (a unique prefix is enough).
        id: String,
    },
    /// Run a scenario on a virtual clock and check its expectations (exit 1 when one fails).
    /// In memory, or with `--store postgres://…` in a schema of its own there,
    /// dropped at the end.
    Simulate {
        /// The scenario file (YAML or JSON).
        #[arg(long)]
        scenario: PathBuf,
    },
}

fn parse_state(s: &str) -> Result<IssueState, String> {
    IssueState::parse(s).ok_or_else(|| {
        let all: Vec<&str> = IssueState::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown state `{s}` (one of: {})", all.join(", "))
    })
}

/// The entry point of a generated binary: `fn main() { flowc_runtime::cli::main_typed::<MyFlow>() }`.
/// Registers the flow behind a trait object and runs [`main_erased`], so that
/// the CLI and the engine are compiled once, in this crate (see [`crate::erased`]).
pub fn main_typed<F: Flow>() {
    static_flow::<F>();
    main_erased()
}

fn static_flow<F: Flow>() {
    static TYPED_FLOW: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    TYPED_FLOW.get_or_init(|| {
        let flow: &'static crate::erased::Typed<F> = Box::leak(Box::default());
        if let Err(e) = crate::erased::register(flow) {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    });
}

/// The CLI of the registered flow: one instantiation shared by every generated binary.
pub fn main_erased() {
    main::<crate::erased::Erased>()
}

/// The CLI of a typed flow, compiled for that flow (tests and hand-written flows).
pub fn main<F: Flow>() {
    std::process::exit(run::<F>(std::env::args_os()));
}

/// Runs the CLI with these arguments; returns the exit code (0 ok, 1 a failure
/// such as invalid records or a failed expectation, 2 usage or IO errors).
pub fn run<F: Flow>(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> i32 {
    let cmd = <Cli as clap::CommandFactory>::command().name(F::name());
    let cli = match cmd
        .try_get_matches_from(args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    init_logs(cli.log_format, &cli.log);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 2;
        }
    };
    rt.block_on(dispatch::<F>(cli))
}

fn init_logs(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = log_colours(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().try_init(),
    };
}

/// Whether text logs get colours: only on a terminal, and not with `NO_COLOR`
/// set (no-color.org); a log file or journald gets plain text.
fn log_colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The default store file of a flow: one file per flow.
pub fn default_store_path(flow: &str) -> PathBuf {
    PathBuf::from(format!("{flow}.flowc.db"))
}

async fn open_store<F: Flow>(path: Option<&Path>) -> Result<Arc<dyn Store>, String> {
    if let Some(url) = path.and_then(Path::to_str).filter(|p| is_postgres_url(p)) {
        return crate::store::open(url, F::name())
            .await
            .map_err(|e| e.to_string());
    }
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_store_path(F::name()));
    SqliteStore::open(SqliteOptions::new(&path, F::name()))
        .map(|s| Arc::new(s) as Arc<dyn Store>)
        .map_err(|e| e.to_string())
}

async fn dispatch<F: Flow>(cli: Cli) -> i32 {
    if let Command::Simulate { scenario } = &cli.command {
        // On PostgreSQL in a throwaway schema; a SQLite file is never written
        // by a simulation (its store is in memory).
        let pg = cli
            .store
            .as_deref()
            .and_then(Path::to_str)
            .filter(|s| is_postgres_url(s));
        return crate::scenario::simulate_file::<F>(scenario, pg).await;
    }
    let store = match open_store::<F>(cli.store.as_deref()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let engine = Engine::<F>::new(store.clone(), Arc::new(SystemClock));
    engine.runtime().http.allow_live(cli.live);
    if matches!(cli.command, Command::Run { .. })
        && let Err(e) = check_live(F::connections(), cli.live)
    {
        eprintln!("error: {e}");
        return 2;
    }
    if matches!(cli.command, Command::Run { .. }) {
        let missing = preflight::missing_credentials(F::connections());
        if !missing.is_empty() {
            for m in &missing {
                eprintln!("error: {m}");
            }
            eprintln!(
                "error: `run` needs every credential of the flow's connections; none of its issues was touched"
            );
        }
        // On SQLite one process writes the batch files; replicas on
        // PostgreSQL must all write them into one outbox.
        let on_pg = cli
            .store
            .as_deref()
            .and_then(Path::to_str)
            .is_some_and(is_postgres_url);
        let unshared = if on_pg {
            let batch: Vec<(&str, PathBuf)> = F::batch_steps()
                .iter()
                .map(|(_, _, c)| (*c, crate::action::outbox_dir(c)))
                .collect();
            preflight::unshared_outboxes(store.as_ref(), &batch).await
        } else {
            Vec::new()
        };
        for u in &unshared {
            eprintln!("error: {u}");
        }
        if !missing.is_empty() || !unshared.is_empty() {
            return 2;
        }
    }
    let r = match cli.command {
        Command::Start {
            record,
            file,
            format,
            skip_invalid,
        } => match (record, file) {
            (Some(json), _) => start_one(&engine, &json).await,
            (None, Some(path)) => start_file(&engine, &path, format, skip_invalid).await,
            (None, None) => Err((2, "give a JSON record or --file".into())),
        },
        Command::Run {
            once,
            listen,
            concurrency,
        } => run_worker(&engine, once, listen, concurrency).await,
        Command::Status { id, json } => status(&engine, &id, json).await,
        Command::List { state, limit } => list(&engine, state, limit).await,
        Command::History { id } => history(&engine, &id).await,
        Command::Signal { id, name, data } => signal(&engine, &id, &name, data.as_deref()).await,
        Command::Retry { id } => retry(&engine, &id).await,
        Command::Cancel { id } => cancel(&engine, &id).await,
        Command::Simulate { .. } => Ok(()),
    };
    match r {
        Ok(()) => 0,
        Err((code, msg)) => {
            if !msg.is_empty() {
                eprintln!("error: {msg}");
            }
            code
        }
    }
}

type CliResult = Result<(), (i32, String)>;

/// Live connections move real money: without `--live`, a flow that has one is
/// not worked on at all (the action layer refuses each call too).
fn check_live(connections: &[ConnectionDef], live: bool) -> Result<(), String> {
    let names: Vec<String> = connections
        .iter()
        .filter(|c| c.mode == "live")
        .map(|c| format!("`{}`", c.name))
        .collect();
    if live || names.is_empty() {
        return Ok(());
    }
    Err(format!(
        "connection {} is in live mode (real money); run with --live to call it",
        names.join(", ")
    ))
}

async fn resolve<F: Flow>(engine: &Engine<F>, id: &str) -> Result<String, (i32, String)> {
    match engine.store().resolve_id(id).await {
        Ok(Some(full)) => Ok(full),
        Ok(None) => Err((1, format!("no issue `{id}` (or the prefix is not unique)"))),
        Err(e) => Err((2, e.to_string())),
    }
}

async fn start_one<F: Flow>(engine: &Engine<F>, json: &str) -> CliResult {
    let v: Value =
        serde_json::from_str(json).map_err(|e| (1, format!("the record is not JSON: {e}")))?;
    let v = Engine::<F>::validate(&v)
        .map_err(|errors| (1, RecordError { row: 1, errors }.to_string()))?;
    let ids = engine
        .start_validated(vec![v])
        .await
        .map_err(|e| (2, e.to_string()))?;
    println!("{}", ids[0]);
    Ok(())
}

/// A record of an input file: its 1-based number, and the validated record or why not.
type NumberedRecord = (usize, Result<Value, Vec<FieldError>>);

/// Reads the records of a file.
fn read_records<F: Flow>(
    path: &Path,
    format: Option<InputFormat>,
) -> Result<Vec<NumberedRecord>, String> {
    let format = format.unwrap_or_else(|| {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            InputFormat::Csv
        } else {
            InputFormat::Jsonl
        }
    });
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let schema = F::schema();
    let mut out = Vec::new();
    match format {
        InputFormat::Csv => {
            let mut rdr = csv::ReaderBuilder::new()
                .trim(csv::Trim::Headers)
                .from_reader(file);
            let headers = rdr
                .headers()
                .map_err(|e| format!("{}: {e}", path.display()))?
                .clone();
            for (i, rec) in rdr.records().enumerate() {
                let row = i + 1;
                let r = match rec {
                    Ok(rec) => schema
                        .validate_strings(headers.iter().zip(rec.iter()))
                        .and_then(|v| Engine::<F>::validate(&v)),
                    Err(e) => Err(vec![FieldError {
                        field: String::new(),
                        message: format!("bad CSV: {e}"),
                    }]),
                };
                out.push((row, r));
            }
        }
        InputFormat::Jsonl => {
            let mut row = 0;
            for line in std::io::BufReader::new(file).lines() {
                let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
                if line.trim().is_empty() {
                    continue;
                }
                row += 1;
                let r = serde_json::from_str::<Value>(&line)
                    .map_err(|e| {
                        vec![FieldError {
                            field: String::new(),
                            message: format!("not JSON: {e}"),
                        }]
                    })
                    .and_then(|v| Engine::<F>::validate(&v));
                out.push((row, r));
            }
        }
    }
    Ok(out)
}

fn progress(len: usize, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

async fn start_file<F: Flow>(
    engine: &Engine<F>,
    path: &Path,
    format: Option<InputFormat>,
    skip_invalid: bool,
) -> CliResult {
    let records = read_records::<F>(path, format).map_err(|e| (2, e))?;
    let total = records.len();
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for (row, r) in records {
        match r {
            Ok(v) => valid.push(v),
            Err(errors) => invalid.push(RecordError { row, errors }),
        }
    }
    for e in &invalid {
        eprintln!("rejected: {e}");
    }
    if !invalid.is_empty() && !skip_invalid {
        return Err((
            1,
            format!(
                "no issue started: {} of {total} records are invalid (fix them, or use --skip-invalid to start the {} valid ones)",
                invalid.len(),
                valid.len()
            ),
        ));
    }
    let pb = progress(valid.len(), "starting");
    let mut started = 0;
    let mut it = valid.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<Value> = it.by_ref().take(1000).collect();
        let n = chunk.len();
        engine
            .start_validated(chunk)
            .await
            .map_err(|e| (2, e.to_string()))?;
        started += n;
        pb.inc(n as u64);
    }
    pb.finish_and_clear();
    println!(
        "started {started} issues ({} invalid records skipped)",
        invalid.len()
    );
    Ok(())
}

/// How long `run` lets the issues in flight go on after SIGTERM (seconds;
/// default 20) before it stops them where they are and exits.
const STOP_SECS_ENV: &str = "FLOWC_STOP_SECS";

async fn run_worker<F: Flow>(
    engine: &Engine<F>,
    once: bool,
    listen: Option<SocketAddr>,
    concurrency: usize,
) -> CliResult {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let feed = Arc::new(EventFeed::new(engine.clone()));
    if !feed.is_empty() {
        let clock = engine.runtime().clock.clone();
        if once {
            feed.poll_due(clock.now()).await;
        } else {
            let (feed, mut stop) = (feed.clone(), rx.clone());
            tokio::spawn(async move { feed_loop(&feed, clock.as_ref(), &mut stop).await });
        }
    }
    crate::schedule::start_worker(engine, once, rx.clone())
        .await
        .map_err(|e| (2, e))?;
    if let Some(addr) = listen {
        let auth = operator::OperatorAuth::from_env().map_err(|e| (2, e))?;
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| (2, format!("cannot listen on {addr}: {e}")))?;
        if auth.is_configured() {
            tracing::info!(%addr, "listening for webhooks, and for records, signals and events with the operator token");
        } else {
            tracing::warn!(
                %addr,
                "listening for webhooks only: no operator token ({} or {}), so records, signals, events and status are refused (403)",
                operator::TOKEN_ENV,
                operator::TOKEN_FILE_ENV
            );
        }
        let app = listen::router(feed.clone(), auth);
        let mut stop = rx.clone();
        tokio::spawn(async move {
            let _ = axum::serve(crate::http::nodelay(l), app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|v| *v).await;
                })
                .await;
        });
    }
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing the steps in flight");
        let _ = tx.send(true);
    });
    let mut opts = RunOptions {
        concurrency,
        once,
        ..RunOptions::default()
    };
    if let Some(secs) = std::env::var(STOP_SECS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
    {
        opts.stop_within = std::time::Duration::from_secs_f64(secs);
    }
    tracing::info!(flow = F::name(), once, concurrency, "worker started");
    let runs = engine
        .run(opts, Some(rx))
        .await
        .map_err(|e| (2, e.to_string()))?;
    // Leases back to the other replicas now, not when they expire.
    if let Err(e) = engine.store().shutdown().await {
        tracing::warn!(error = %e, "giving the store's leases back failed; they expire");
    }
    tracing::info!(runs, "worker stopped");
    Ok(())
}

/// Polls the flow's event feeds when they are due, on the runtime's clock, until shutdown.
async fn feed_loop<F: Flow>(
    feed: &EventFeed<F>,
    clock: &dyn Clock,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) {
    loop {
        feed.poll_due(clock.now()).await;
        // Look again at least every minute: waits begin and end meanwhile.
        let cap = crate::clock::add(clock.now(), std::time::Duration::from_secs(60));
        let until = feed.next_due().map_or(cap, |t| t.min(cap));
        tokio::select! {
            _ = clock.sleep_until(until) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn issue_json(row: &IssueRow) -> Value {
    serde_json::json!({
        "id": row.id, "state": row.state, "step": row.step, "error": row.error,
        "wake_at": row.wake_at.map(|t| t.to_string()), "created_at": row.created_at.to_string(),
        "updated_at": row.updated_at.to_string(), "data": row.data,
    })
}

async fn status<F: Flow>(engine: &Engine<F>, id: &str, json: bool) -> CliResult {
    let id = resolve(engine, id).await?;
    let store = engine.store();
    let row = store
        .load(&id)
        .await
        .map_err(|e| (2, e.to_string()))?
        .ok_or((1, format!("no issue {id}")))?;
    let ledger = store.ledger(&id).await.map_err(|e| (2, e.to_string()))?;
    if json {
        let mut v = issue_json(&row);
        v["effects"] = serde_json::to_value(&ledger).unwrap_or(Value::Null);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    println!("issue    {}", row.id);
    println!("state    {}", row.state);
    println!("step     {}", row.step);
    if let Some(e) = &row.error {
        println!("error    {e}");
    }
    if let Some(w) = row.wake_at.filter(|_| !row.state.is_terminal()) {
        println!("next     {w}");
    }
    println!("started  {}", row.created_at);
    println!("updated  {}", row.updated_at);
    println!(
        "data     {}",
        serde_json::to_string_pretty(&row.data)
            .unwrap_or_default()
            .replace('\n', "\n         ")
    );
    for l in ledger {
        println!(
            "effect   {} #{} {} ({} attempt{}) key {}",
            l.step,
            l.iteration,
            l.status,
            l.attempts,
            if l.attempts == 1 { "" } else { "s" },
            l.key
        );
    }
    Ok(())
}

async fn list<F: Flow>(engine: &Engine<F>, state: Option<IssueState>, limit: usize) -> CliResult {
    let rows = engine
        .store()
        .list(state, limit)
        .await
        .map_err(|e| (2, e.to_string()))?;
    println!(
        "{:<36}  {:<9}  {:<20}  {:<27}  ERROR",
        "ID", "STATE", "STEP", "UPDATED"
    );
    for r in &rows {
        println!(
            "{:<36}  {:<9}  {:<20}  {:<27}  {}",
            r.id,
            r.state.as_str(),
            r.step,
            r.updated_at.to_string(),
            r.error.as_deref().unwrap_or("")
        );
    }
    let counts = engine
        .store()
        .counts()
        .await
        .map_err(|e| (2, e.to_string()))?;
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    eprintln!("{} shown; {}", rows.len(), summary.join(", "));
    for line in crate::schedule::status_lines(engine)
        .await
        .map_err(|e| (2, e))?
    {
        eprintln!("{line}");
    }
    Ok(())
}

async fn history<F: Flow>(engine: &Engine<F>, id: &str) -> CliResult {
    let id = resolve(engine, id).await?;
    let h = engine
        .store()
        .history(&id)
        .await
        .map_err(|e| (2, e.to_string()))?;
    for e in h {
        println!(
            "{:<27}  {:<20}  {:<10}  {}",
            e.at.to_string(),
            e.step,
            e.event,
            e.detail
        );
    }
    Ok(())
}

async fn signal<F: Flow>(
    engine: &Engine<F>,
    id: &str,
    name: &str,
    data: Option<&str>,
) -> CliResult {
    let id = resolve(engine, id).await?;
    let data: Value = match data {
        Some(d) => serde_json::from_str(d).map_err(|e| (1, format!("--data is not JSON: {e}")))?,
        None => Value::Object(Default::default()),
    };
    match engine.signal(&id, name, data).await {
        Ok(true) => {
            println!("{id}: signal `{name}` recorded");
            Ok(())
        }
        Ok(false) => Err((1, format!("{id} has ended; the signal was not recorded"))),
        Err(crate::engine::StartError::Invalid(e)) => Err((1, format!("signal data: {e}"))),
        Err(e) => Err((2, e.to_string())),
    }
}

async fn retry<F: Flow>(engine: &Engine<F>, id: &str) -> CliResult {
    let id = resolve(engine, id).await?;
    match engine.store().retry(&id, jiff::Timestamp::now()).await {
        Ok(true) => {
            println!("{id}: running again (the worker picks it up)");
            Ok(())
        }
        Ok(false) => Err((
            1,
            format!("{id} has not failed; only a failed issue can be retried"),
        )),
        Err(e) => Err((2, e.to_string())),
    }
}

async fn cancel<F: Flow>(engine: &Engine<F>, id: &str) -> CliResult {
    let id = resolve(engine, id).await?;
    match engine.store().cancel(&id, jiff::Timestamp::now()).await {
        Ok(true) => {
            println!("{id}: cancelled");
            Ok(())
        }
        Ok(false) => Err((1, format!("{id} has already ended"))),
        Err(e) => Err((2, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_connections_need_the_live_flag() {
        let conn = |name, mode| ConnectionDef {
            name,
            provider: "stripe",
            mode,
            base_url: "",
            credentials: &[],
        };
        let test = [conn("stripe", "test")];
        assert_eq!(check_live(&test, false), Ok(()));
        let both = [conn("stripe", "test"), conn("stripe_jp", "live")];
        let e = check_live(&both, false).unwrap_err();
        assert!(e.contains("`stripe_jp`") && e.contains("--live"), "{e}");
        assert!(!e.contains("`stripe`,"), "{e}");
        assert_eq!(check_live(&both, true), Ok(()));
        let cli = Cli::try_parse_from(["f", "run", "--once", "--live"]).unwrap();
        assert!(cli.live);
        let cli = Cli::try_parse_from(["f", "--live", "status", "x"]).unwrap();
        assert!(cli.live);
    }

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(log_colours(true, None));
        assert!(log_colours(true, Some(OsStr::new(""))));
        assert!(!log_colours(true, Some(OsStr::new("1"))));
        // A file, a pipe, journald: never escape codes.
        assert!(!log_colours(false, None));
        assert!(!log_colours(false, Some(OsStr::new("1"))));
    }
}
