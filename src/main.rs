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
        Command::Validate { paths } => return validate(&paths),
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

fn export_technical_file(
    config: Config,
    entity_ref: &str,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let db = cairn::app::open_database(&config)?;
    let readmodel = cairn::readmodel::ReadModel::new();
    readmodel.refresh(&db).context("cannot load the catalog")?;
    let catalog = cairn::app::build_catalog(&config, db.clone(), Box::new(|| {}))?;
    let crawler = cairn::ingest::crawler::Crawler::new(catalog, db.clone(), &config)?;
    let pack =
        cairn::compliance::RulePack::load(std::path::Path::new(&config.cairn.compliance.rule_pack))
            .map_err(|e| anyhow::anyhow!("the rule pack does not load: {e}"))?;
    let r = cairn::model::EntityRef::parse(entity_ref, None, "default")?.canonical();
    let snap = readmodel.snapshot();
    let doc = snap
        .get_by_ref(&r)
        .ok_or_else(|| anyhow::anyhow!("no entity {r} in the catalog"))?;
    let entity: serde_json::Value = serde_json::from_str(&doc.json)?;
    if entity["kind"] != "AIAgent" {
        anyhow::bail!("{r} is not an AI system (the rule pack applies to AIAgent entities)");
    }
    let ctx = cairn::api::compliance::Ctx {
        db: &db,
        crawler: &crawler,
        snap: snap.clone(),
        bulk: None,
    };
    let actor = cairn::model::audit::Actor::new(format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    ));
    let (zip, name) = cairn::api::compliance::technical_file_zip(&ctx, &pack, &entity, &r, &actor)?;
    let out = out.unwrap_or_else(|| PathBuf::from(name));
    std::fs::write(&out, &zip).with_context(|| format!("cannot write {}", out.display()))?;
    println!("{} ({} bytes)", out.display(), zip.len());
    Ok(())
}

fn audit_verify(config: Config) -> anyhow::Result<bool> {
    let db = cairn::app::open_database(&config)?;
    let started = std::time::Instant::now();
    let report = db.verify_audit()?;
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
