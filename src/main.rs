//! The `cairn` command: `serve` (the default), `migrate`, `validate PATH…`, `ingest` and
//! `audit verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use cairn::config::Config;
use cairn::processing::{CatalogRules, RootLocation};

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "A Backstage-compatible catalog backend"
)]
struct Cli {
    /// Backstage-style app-config files, merged in order. Without any, the embedded default.
    #[arg(long = "config", short = 'c', global = true)]
    config: Vec<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Lint descriptor files (or directories of catalog-info.yaml) the way the server ingests them.
    Validate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Process every configured location once, store the result, and exit.
    Ingest,
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; exit 1 and name the first broken record if it does not hold.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Validate { paths } => return validate(&paths),
        Command::Serve => load(&cli.config).and_then(serve),
        Command::Migrate => {
            load(&cli.config).and_then(|c| cairn::app::open_database(&c).map(|_| ()))
        }
        Command::Ingest => load(&cli.config).and_then(ingest),
        Command::Audit {
            command: AuditCommand::Verify,
        } => match load(&cli.config).and_then(audit_verify) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(paths: &[PathBuf]) -> anyhow::Result<Config> {
    let config = Config::load(paths).context("cannot load configuration")?;
    cairn::telemetry::init(config.cairn.json_logs);
    Ok(config)
}

fn serve(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let app = cairn::app::Application::build(config).await?;
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn ingest(config: Config) -> anyhow::Result<()> {
    let db = cairn::app::open_database(&config)?;
    let catalog = cairn::app::build_catalog(&config, db, Box::new(|| {}))?;
    catalog.ingest_all()?;
    println!("{} entities stored", catalog.entity_count());
    Ok(())
}

fn audit_verify(config: Config) -> anyhow::Result<bool> {
    let db = cairn::app::open_database(&config)?;
    let started = std::time::Instant::now();
    let report = cairn::audit::verify(&db)?;
    match &report.first_broken {
        None => println!(
            "audit chain intact: {} records, last hash {} ({:.2?})",
            report.records,
            report.last_hash,
            started.elapsed()
        ),
        Some(b) => println!(
            "audit chain BROKEN at record {}: {} ({} records before it verified)",
            b.id, b.reason, report.records
        ),
    }
    Ok(report.ok)
}

/// Prints one `file:line: ref: field: message` line per problem; exits 1 if there are any.
fn validate(paths: &[PathBuf]) -> ExitCode {
    let mut problems = 0;
    let mut entities = 0;
    for p in paths {
        let abs = cairn::ingest::absolute_target("file", &p.to_string_lossy());
        if !std::path::Path::new(&abs).exists() {
            println!("{}:1: -: -: file does not exist", p.display());
            problems += 1;
            continue;
        }
        let result =
            cairn::ingest::process(&RootLocation::new("file", &abs), &CatalogRules::allow_all());
        entities += result.emitted.len() - 1;
        for r in result.reports() {
            println!("{r}");
            problems += 1;
        }
    }
    if problems > 0 {
        eprintln!("{problems} problem(s) found");
        ExitCode::FAILURE
    } else {
        eprintln!("{entities} entities valid");
        ExitCode::SUCCESS
    }
}
