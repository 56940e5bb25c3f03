//! The `cairn` command: `serve` (the default), `migrate`, `validate PATH…`, `ingest` and
//! `audit verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use cairn::app::commands;
use cairn::config::Config;

cairn::binary_allocator!();

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
    /// Write a compliance export.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// The EU AI Act technical file of an AI system, as a ZIP (what the API's technical-file
    /// endpoint returns).
    TechnicalFile {
        /// The entity ref, e.g. aiagent:default/credit-scorer.
        entity_ref: String,
        /// Where to write it; `technical-file-<ref>.zip` in the current directory by default.
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
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
        Command::Validate { paths } => match load(&cli.config) {
            Ok(config) => return validate(&config, &paths),
            Err(e) => Err(e),
        },
        Command::Serve => load(&cli.config).and_then(serve),
        Command::Migrate => {
            load(&cli.config).and_then(|c| cairn::app::open_database(&c).map(|_| ()))
        }
        Command::Ingest => load(&cli.config).and_then(ingest),
        Command::Export {
            command: ExportCommand::TechnicalFile { entity_ref, out },
        } => load(&cli.config).and_then(|c| export_technical_file(c, &entity_ref, out)),
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
    commands::init_logging(&config);
    Ok(config)
}

fn serve(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let app = cairn::app::Application::build(config).await?;
        app.stop_on_signals()?;
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn ingest(config: Config) -> anyhow::Result<()> {
    let count = commands::ingest(&config)?;
    println!("{count} entities stored");
    Ok(())
}

fn export_technical_file(
    config: Config,
    entity_ref: &str,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let (zip, name) = commands::export_technical_file(&config, entity_ref, &actor)?;
    let out = out.unwrap_or_else(|| PathBuf::from(name));
    std::fs::write(&out, &zip).with_context(|| format!("cannot write {}", out.display()))?;
    println!("{} ({} bytes)", out.display(), zip.len());
    Ok(())
}

fn audit_verify(config: Config) -> anyhow::Result<bool> {
    let started = std::time::Instant::now();
    let report = commands::verify_audit(&config)?;
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
fn validate(config: &Config, paths: &[PathBuf]) -> ExitCode {
    let found = commands::validate(config, paths);
    for p in &found.problems {
        println!("{p}");
    }
    if found.problems.is_empty() {
        eprintln!("{} entities valid", found.entities);
        ExitCode::SUCCESS
    } else {
        eprintln!("{} problem(s) found", found.problems.len());
        ExitCode::FAILURE
    }
}
