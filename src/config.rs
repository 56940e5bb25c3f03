//! Configuration in Backstage's `app-config.yaml` shape. Files merge in order (later wins),
//! `${VAR}` is substituted in string values, `CAIRN_A__B__C` environment variables override
//! `a.b.c`, unknown keys are ignored (they belong to other plugins) and a wrong type in a key
//! Cairn reads is a startup error naming the key.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::model::catalog_rules::{AllowRule, CatalogRules, OrphanStrategy};

/// The repository's own `app-config.yaml`, used when no `--config` is given.
pub const EMBEDDED_DEFAULT: &str = include_str!("../app-config.yaml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {0}: {1}")]
    Read(String, String),
    #[error("config file {0} is not valid YAML: {1}")]
    Yaml(String, String),
    #[error("invalid config at {0}: {1}")]
    Type(String, String),
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    pub backend: Backend,
    pub catalog: Catalog,
    pub cairn: Cairn,
    /// Backstage Tech Insights settings; `factChecker.checks` are evaluated by Cairn.
    pub tech_insights: TechInsights,
    pub scaffolder: Scaffolder,
    /// The MCP server for AI agents (`/api/mcp-actions/v1`), as Backstage's `mcpActions`.
    pub mcp_actions: McpActions,
    /// Sign-in, as Backstage's `auth` section: the providers Cairn serves itself and the lifetime
    /// of the user tokens it issues.
    pub auth: SignIn,
    /// Backstage's `permission` section: with `enabled`, the `PermissionPolicy` entities decide.
    pub permission: PermissionConfig,
    /// Backstage's `techdocs` section: Cairn serves sites built elsewhere (`builder: external`)
    /// from the local publisher's directory.
    pub techdocs: TechDocs,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TechDocs {
    pub publisher: TechDocsPublisher,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TechDocsPublisher {
    pub local: TechDocsLocal,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct TechDocsLocal {
    /// Where the built sites are: `<namespace>/<kind>/<name>/index.html` (lowercase), as
    /// `techdocs-cli publish --publisher-type local` or `techdocs.publisher.local` writes them.
    /// `<cairn.dataDir>/techdocs` when absent.
    pub publish_directory: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PermissionConfig {
    pub enabled: bool,
}

/// `auth`: Backstage's sign-in settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SignIn {
    /// `development` lets the guest provider sign people in; anything else (the default) keeps it
    /// off unless it says `dangerouslyAllowOutsideDevelopment`.
    pub environment: String,
    pub providers: Providers,
    /// How long an issued user token lasts (Backstage's `backstageTokenExpiration`).
    pub backstage_token_expiration: Option<Value>,
    /// User tokens issued by other Backstage auth backends (a Node Backstage whose sign-in stays
    /// there), verified against their JWKS.
    pub external_issuers: Vec<ExternalIssuer>,
}

impl Default for SignIn {
    fn default() -> Self {
        SignIn {
            environment: "production".into(),
            providers: Providers::default(),
            backstage_token_expiration: None,
            external_issuers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Providers {
    pub guest: Option<GuestProvider>,
}

/// `auth.providers.guest`: signs anyone in as one configured user, for development.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GuestProvider {
    pub user_entity_ref: String,
    /// Used when the user is not in the catalog; otherwise its memberships count.
    pub ownership_entity_refs: Vec<String>,
    pub dangerously_allow_outside_development: bool,
}

impl Default for GuestProvider {
    fn default() -> Self {
        GuestProvider {
            user_entity_ref: "user:development/guest".into(),
            ownership_entity_refs: Vec::new(),
            dangerously_allow_outside_development: false,
        }
    }
}

/// A Backstage auth backend whose user tokens Cairn accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalIssuer {
    /// The `iss` its tokens carry (its `…/api/auth` base URL).
    pub issuer: String,
    /// Where its keys are published (`…/api/auth/.well-known/jwks.json`).
    pub jwks_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct McpActions {
    /// `serverInfo.name` in the `initialize` answer.
    pub name: String,
    pub description: Option<String>,
    /// Tool names carry their plugin (`catalog_get_catalog_entity`), as Backstage's default.
    pub namespaced_tool_names: bool,
    /// At most this many `tools/call`s per agent in any window of `perSeconds`.
    pub agent_rate_limit: RateLimit,
    /// More servers at `/api/mcp-actions/v1/<key>`, each offering a subset of the tools.
    pub servers: std::collections::BTreeMap<String, McpServer>,
}

/// A named MCP server: its `serverInfo` and which tools it offers.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct McpServer {
    pub name: String,
    pub description: Option<String>,
    pub filter: ToolFilter,
}

/// Tools offered: those matching any `include` rule (all when there is none) and no `exclude` rule.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ToolFilter {
    pub include: Vec<ToolRule>,
    pub exclude: Vec<ToolRule>,
}

/// Matches a tool whose id (`catalog:get-catalog-entity`) fits the glob `id` and whose
/// attributes equal every one given.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct ToolRule {
    pub id: Option<String>,
    pub attributes: ToolAttributes,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct ToolAttributes {
    pub destructive: Option<bool>,
    pub read_only: Option<bool>,
    pub idempotent: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RateLimit {
    pub calls: u32,
    pub per_seconds: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            calls: 600,
            per_seconds: 60,
        }
    }
}

impl Default for McpActions {
    fn default() -> Self {
        McpActions {
            name: "cairn".into(),
            description: None,
            namespaced_tool_names: true,
            agent_rate_limit: RateLimit::default(),
            servers: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct TechInsights {
    pub fact_checker: FactChecker,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct FactChecker {
    pub checks: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Backend {
    pub base_url: String,
    pub listen: Listen,
    pub database: Database,
    pub cors: Option<Cors>,
    pub auth: Auth,
    pub reading: Reading,
}

/// `backend.reading`: the hosts registered `url` locations may be read from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Reading {
    pub allow: Vec<ReadingAllow>,
}

/// One `backend.reading.allow` entry: `host` (`git.example.com`, `host:port` or
/// `*.example.com`) and optional path prefixes.
#[derive(Debug, Clone, Deserialize)]
pub struct ReadingAllow {
    pub host: String,
    #[serde(default)]
    pub paths: Option<Vec<String>>,
}

impl Default for Backend {
    fn default() -> Self {
        Backend {
            base_url: "http://127.0.0.1:7007".into(),
            listen: Listen::default(),
            database: Database::default(),
            cors: None,
            auth: Auth::default(),
            reading: Reading::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Listen {
    pub host: String,
    pub port: u16,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            host: "127.0.0.1".into(),
            port: 7007,
        }
    }
}

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Obj {
            host: Option<String>,
            #[serde(default, deserialize_with = "port")]
            port: Option<u16>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Obj(Obj),
            Text(String),
        }
        let mut out = Listen::default();
        match Raw::deserialize(d)? {
            Raw::Obj(o) => {
                if let Some(h) = o.host {
                    out.host = h;
                }
                if let Some(p) = o.port {
                    out.port = p;
                }
            }
            Raw::Text(s) => {
                let (host, port) = s.rsplit_once(':').unwrap_or(("", s.as_str()));
                if !host.is_empty() {
                    out.host = host.into();
                }
                out.port = port
                    .parse()
                    .map_err(|_| serde::de::Error::custom(format!("invalid listen address {s}")))?;
            }
        }
        Ok(out)
    }
}

fn port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum P {
        N(u16),
        S(String),
    }
    match Option::<P>::deserialize(d)? {
        None => Ok(None),
        Some(P::N(n)) => Ok(Some(n)),
        Some(P::S(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected a port number, got {s:?}"))),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Database {
    pub client: String,
    pub connection: Option<Value>,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            client: "better-sqlite3".into(),
            connection: Some(Value::String("./cairn-data/catalog.sqlite".into())),
        }
    }
}

impl Database {
    /// The storage URL: a SQLite path (or `:memory:`) or a PostgreSQL URL.
    pub fn url(&self) -> Result<String, ConfigError> {
        let bad = |m: &str| ConfigError::Type("backend.database".into(), m.into());
        match self.client.as_str() {
            "better-sqlite3" | "sqlite3" => match &self.connection {
                None => Ok(":memory:".into()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Object(o)) => {
                    if let Some(f) = o.get("filename").and_then(Value::as_str) {
                        Ok(f.to_string())
                    } else if let Some(d) = o.get("directory").and_then(Value::as_str) {
                        Ok(format!("{}/cairn.sqlite", d.trim_end_matches('/')))
                    } else {
                        Err(bad(
                            "connection must be a file path, ':memory:' or {filename}",
                        ))
                    }
                }
                Some(_) => Err(bad("connection must be a string or an object")),
            },
            "pg" => match &self.connection {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Object(o)) => {
                    let get = |k: &str| {
                        o.get(k).map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string())
                        })
                    };
                    let host = get("host").unwrap_or_else(|| "127.0.0.1".into());
                    let port = get("port").unwrap_or_else(|| "5432".into());
                    let user = get("user").unwrap_or_else(|| "postgres".into());
                    let db = get("database").unwrap_or_else(|| "cairn".into());
                    let auth = match get("password") {
                        Some(p) => format!("{user}:{p}"),
                        None => user,
                    };
                    Ok(format!("postgres://{auth}@{host}:{port}/{db}"))
                }
                _ => Err(bad(
                    "connection for client pg must be a connection string or an object",
                )),
            },
            other => Err(bad(&format!(
                "unsupported client {other:?}; use better-sqlite3, sqlite3 or pg"
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Cors {
    pub origin: Option<Value>,
    pub methods: Option<Vec<String>>,
    pub credentials: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Auth {
    pub external_access: Vec<ExternalAccess>,
    pub dangerously_disable_default_auth_policy: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalAccess {
    #[serde(rename = "type")]
    pub access_type: String,
    pub options: ExternalAccessOptions,
    #[serde(default)]
    pub access_restrictions: Vec<AccessRestriction>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExternalAccessOptions {
    pub token: String,
    pub subject: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRestriction {
    pub plugin: String,
    #[serde(default)]
    pub permission: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Catalog {
    pub locations: Vec<LocationConfig>,
    pub rules: Option<Vec<RuleConfig>>,
    pub processing_interval: Option<Value>,
    pub orphan_strategy: OrphanStrategyConfig,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            locations: vec![],
            rules: None,
            processing_interval: None,
            orphan_strategy: OrphanStrategyConfig::Delete,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OrphanStrategyConfig {
    Keep,
    #[default]
    Delete,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LocationConfig {
    #[serde(rename = "type")]
    pub loc_type: String,
    pub target: String,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RuleConfig {
    pub allow: Vec<AllowEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AllowEntry {
    Kind(String),
    Typed {
        kind: String,
        #[serde(rename = "spec.type")]
        spec_type: Option<String>,
    },
}

/// Where `publish:git` may push, from `scaffolder.publish.hosts`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishHost {
    /// The host part of `repoUrl` (`local?owner=o&repo=r`).
    pub host: String,
    /// A directory holding bare repositories `<owner>/<repo>.git`, created when missing.
    #[serde(default)]
    pub root: Option<String>,
    /// Or a remote: `https://git.example.com/{owner}/{repo}.git` (the repository must exist).
    #[serde(default)]
    pub url: Option<String>,
    /// The environment variable holding the token for `url`.
    #[serde(default)]
    pub token_env: Option<String>,
}

/// `scaffolder:`: how templates run and where they may publish.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Scaffolder {
    /// Tasks run at once.
    pub concurrent_tasks_limit: usize,
    pub publish: Publish,
}

impl Default for Scaffolder {
    fn default() -> Self {
        Scaffolder {
            concurrent_tasks_limit: 2,
            publish: Publish::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Publish {
    pub hosts: Vec<PublishHost>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Cairn {
    pub auth: CairnAuth,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Descriptor files larger than this are refused (an `InputError` on the location).
    pub max_descriptor_bytes: usize,
    /// Watch local `file` locations and re-ingest on change.
    pub watch: bool,
    /// Log as JSON lines.
    pub json_logs: bool,
    /// Where Cairn keeps its Git mirrors.
    pub data_dir: String,
    pub sources: Sources,
    /// How long the writer lease lasts without renewal (several replicas on PostgreSQL).
    pub lease_seconds: u64,
    pub compliance: Compliance,
    /// Webhook subscriptions to the change feed.
    pub webhooks: Vec<Webhook>,
}

/// `cairn.webhooks[]`: where to POST the change feed's events.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Webhook {
    /// Unique: the key of its delivery position.
    pub name: String,
    pub url: String,
    /// Signs each body (HMAC-SHA256, header `X-Cairn-Signature-256`).
    #[serde(default)]
    pub secret: Option<String>,
    /// Event types (`dev.cairn.entity.added`, …); all when empty.
    #[serde(default)]
    pub types: Vec<String>,
    /// Entity kinds; all when empty.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Entity filters in the catalog's `filter=` syntax (ORed).
    #[serde(default)]
    pub filter: Vec<String>,
    #[serde(default = "Webhook::default_max_attempts")]
    pub max_attempts: u32,
    /// The wait before the second attempt, doubling for each further one (up to 5 minutes).
    #[serde(default = "Webhook::default_retry_base_millis")]
    pub retry_base_millis: u64,
    #[serde(default = "Webhook::default_timeout_seconds")]
    pub timeout_seconds: u64,
}

impl Webhook {
    fn default_max_attempts() -> u32 {
        8
    }
    fn default_retry_base_millis() -> u64 {
        1000
    }
    fn default_timeout_seconds() -> u64 {
        10
    }
}

/// `cairn.compliance`: the EU AI Act rule pack.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Compliance {
    /// The rule pack file (re-read when it changes).
    pub rule_pack: String,
}

impl Default for Compliance {
    fn default() -> Self {
        Compliance {
            rule_pack: "./scorecards/eu-ai-act/rule-pack.yaml".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Sources {
    pub git: Vec<GitSource>,
    /// Allow `file://` repositories (self-hosted and test use).
    pub allow_local: bool,
    /// When non-empty, `file://` repositories must live under one of these directories.
    pub local_roots: Vec<String>,
    /// Repositories crawled at once.
    pub concurrency: usize,
    pub connect_timeout_seconds: u64,
    /// Longest a single fetch may take.
    pub fetch_timeout_seconds: u64,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            git: vec![],
            allow_local: true,
            local_roots: vec![],
            concurrency: 8,
            connect_timeout_seconds: 10,
            fetch_timeout_seconds: 120,
        }
    }
}

/// One entry of `cairn.sources.git`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    pub id: String,
    pub url: Option<String>,
    pub urls: Option<Vec<String>>,
    pub urls_file: Option<String>,
    pub branch: Option<String>,
    #[serde(default = "default_paths")]
    pub paths: Vec<String>,
    /// `cron` crate syntax (seconds first); every 15 minutes with jitter when absent.
    pub schedule: Option<String>,
    /// Name of the environment variable holding the credential.
    pub token_env: Option<String>,
}

fn default_paths() -> Vec<String> {
    vec!["**/catalog-info.yaml".into()]
}

impl GitSource {
    /// Every repository URL of the source.
    pub fn repository_urls(&self) -> Result<Vec<String>, ConfigError> {
        let field = |f: &str| format!("cairn.sources.git[{}].{f}", self.id);
        let mut out = Vec::new();
        if let Some(u) = &self.url {
            out.push(u.clone());
        }
        if let Some(list) = &self.urls {
            out.extend(list.iter().cloned());
        }
        if let Some(file) = &self.urls_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| ConfigError::Type(field("urlsFile"), format!("{file}: {e}")))?;
            out.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned),
            );
        }
        if out.is_empty() {
            return Err(ConfigError::Type(
                field("url"),
                "a git source needs url, urls or urlsFile".into(),
            ));
        }
        Ok(out)
    }
}

impl Default for Cairn {
    fn default() -> Self {
        Cairn {
            auth: CairnAuth::default(),
            max_body_bytes: 1024 * 1024,
            max_descriptor_bytes: crate::model::catalog_rules::DEFAULT_MAX_DESCRIPTOR_BYTES,
            watch: true,
            json_logs: false,
            data_dir: "./cairn-data".into(),
            sources: Sources::default(),
            lease_seconds: 30,
            compliance: Compliance::default(),
            webhooks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct CairnAuth {
    pub protect_reads: bool,
}

fn to_allow(rules: &[RuleConfig]) -> Vec<AllowRule> {
    rules
        .iter()
        .flat_map(|r| r.allow.iter())
        .map(|a| match a {
            AllowEntry::Kind(k) => AllowRule {
                kind: k.clone(),
                spec_type: None,
            },
            AllowEntry::Typed { kind, spec_type } => AllowRule {
                kind: kind.clone(),
                spec_type: spec_type.clone(),
            },
        })
        .collect()
}

impl Config {
    /// Loads and merges the given files (or the embedded default when there are none), then
    /// applies `CAIRN_…` environment overrides.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Config, ConfigError> {
        let mut texts = Vec::new();
        if paths.is_empty() {
            texts.push((
                "app-config.yaml (embedded)".to_string(),
                EMBEDDED_DEFAULT.to_string(),
            ));
        }
        for p in paths {
            let p = p.as_ref();
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError::Read(p.display().to_string(), e.to_string()))?;
            texts.push((p.display().to_string(), text));
        }
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::from_texts(&texts, &env)
    }

    pub fn from_texts(
        texts: &[(String, String)],
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut merged = Value::Object(Map::new());
        for (name, text) in texts {
            let v: Value = serde_yaml::from_str::<Option<Value>>(text)
                .map_err(|e| ConfigError::Yaml(name.clone(), e.to_string()))?
                .unwrap_or(Value::Null);
            let v = substitute(v, env);
            merge(&mut merged, v);
        }
        for (k, v) in env {
            if let Some(path) = k.strip_prefix("CAIRN_") {
                if path.contains("__") {
                    override_path(&mut merged, path, v);
                }
            }
        }
        let de = merged;
        serde_path_to_error::deserialize(de)
            .map_err(|e| ConfigError::Type(e.path().to_string(), e.inner().to_string()))
    }

    pub fn database_url(&self) -> Result<String, ConfigError> {
        self.backend.database.url()
    }

    pub fn orphan_strategy(&self) -> OrphanStrategy {
        match self.catalog.orphan_strategy {
            OrphanStrategyConfig::Keep => OrphanStrategy::Keep,
            OrphanStrategyConfig::Delete => OrphanStrategy::Delete,
        }
    }

    /// The global catalog rules (Backstage's default allows Component, API and Location).
    pub fn catalog_rules(&self) -> CatalogRules {
        let rules = match &self.catalog.rules {
            None => CatalogRules::backstage_default(),
            Some(r) => CatalogRules::new(to_allow(r)),
        };
        rules.with_max_descriptor_bytes(self.cairn.max_descriptor_bytes)
    }

    pub fn location_rules(&self, loc: &LocationConfig) -> CatalogRules {
        self.catalog_rules().extended(&to_allow(&loc.rules))
    }

    /// The directory TechDocs sites are served from.
    pub fn techdocs_directory(&self) -> std::path::PathBuf {
        match &self.techdocs.publisher.local.publish_directory {
            Some(dir) => dir.into(),
            None => std::path::Path::new(&self.cairn.data_dir).join("techdocs"),
        }
    }

    pub fn processing_interval(&self) -> Result<Option<Duration>, ConfigError> {
        match &self.catalog.processing_interval {
            None => Ok(Some(Duration::from_secs(100))),
            Some(Value::Bool(false)) => Ok(None),
            Some(v) => duration("catalog.processingInterval", v).map(Some),
        }
    }

    /// How long a user token Cairn issues lasts: `auth.backstageTokenExpiration`, one hour by
    /// default, clamped to Backstage's bounds (10 minutes to 24 hours).
    pub fn user_token_lifetime(&self) -> Result<Duration, ConfigError> {
        let lifetime = match &self.auth.backstage_token_expiration {
            None => Duration::from_secs(3600),
            Some(v) => duration("auth.backstageTokenExpiration", v)?,
        };
        Ok(lifetime.clamp(Duration::from_secs(600), Duration::from_secs(86_400)))
    }
}

/// A Backstage duration: `{minutes: 10, seconds: 30}` or ISO 8601 (`PT1H`).
fn duration(key: &str, v: &Value) -> Result<Duration, ConfigError> {
    let bad = |m: String| ConfigError::Type(key.into(), m);
    match v {
        Value::Object(o) => {
            let mut secs = 0f64;
            for (unit, v) in o {
                let n = v
                    .as_f64()
                    .ok_or_else(|| bad(format!("{unit} must be a number")))?;
                secs += n * match unit.as_str() {
                    "milliseconds" => 0.001,
                    "seconds" => 1.0,
                    "minutes" => 60.0,
                    "hours" => 3600.0,
                    "days" => 86400.0,
                    other => return Err(bad(format!("unknown unit {other}"))),
                };
            }
            Ok(Duration::from_secs_f64(secs.max(0.1)))
        }
        Value::String(s) => {
            parse_iso_duration(s).ok_or_else(|| bad(format!("invalid duration {s}")))
        }
        other => Err(bad(format!("expected a duration object, got {other}"))),
    }
}

fn parse_iso_duration(s: &str) -> Option<Duration> {
    let rest = s.strip_prefix("PT")?;
    let mut secs = 0f64;
    let mut num = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'H' | 'M' | 'S' => {
                let n: f64 = num.parse().ok()?;
                num.clear();
                secs += n * match c {
                    'H' => 3600.0,
                    'M' => 60.0,
                    _ => 1.0,
                };
            }
            _ => return None,
        }
    }
    Some(Duration::from_secs_f64(secs))
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => {
            if !o.is_null() {
                *b = o;
            }
        }
    }
}

/// `${VAR}` substitution; `$${` escapes. A value whose variable is unset is dropped, as in Backstage.
fn substitute(v: Value, env: &[(String, String)]) -> Value {
    match v {
        Value::String(s) => match substitute_str(&s, env) {
            Some(s) => Value::String(s),
            None => Value::Null,
        },
        Value::Array(a) => Value::Array(a.into_iter().map(|v| substitute(v, env)).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, substitute(v, env)))
                .filter(|(_, v)| !v.is_null())
                .collect(),
        ),
        other => other,
    }
}

fn substitute_str(s: &str, env: &[(String, String)]) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if i > 0 && rest.as_bytes()[i - 1] == b'$' {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}')? + i;
        let name = rest[i + 2..end].trim();
        let value = env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())?;
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn override_path(root: &mut Value, path: &str, value: &str) {
    let segments: Vec<&str> = path.split("__").collect();
    let mut cur = root;
    for (i, seg) in segments.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur.as_object_mut().expect("object");
        let key = obj
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&seg.replace('_', "")))
            .cloned()
            .unwrap_or_else(|| camel(seg));
        if i == segments.len() - 1 {
            let parsed: Value =
                serde_yaml::from_str(value).unwrap_or(Value::String(value.to_string()));
            obj.insert(key, parsed);
            return;
        }
        cur = obj.entry(key).or_insert_with(|| Value::Object(Map::new()));
    }
}

fn camel(seg: &str) -> String {
    let mut out = String::new();
    for (i, part) in seg.split('_').filter(|p| !p.is_empty()).enumerate() {
        let lower = part.to_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut c = lower.chars();
            if let Some(f) = c.next() {
                out.push(f.to_ascii_uppercase());
                out.extend(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(texts: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let texts: Vec<_> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("c{i}.yaml"), t.to_string()))
            .collect();
        let env: Vec<_> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_texts(&texts, &env)
    }

    #[test]
    fn files_merge_in_order_and_env_substitutes() {
        let c = load(
            &[
                "backend:\n  listen: {port: 7007}\n  baseUrl: ${BASE}\n",
                "backend:\n  listen:\n    host: 0.0.0.0\n",
            ],
            &[("BASE", "http://x:1")],
        )
        .unwrap();
        assert_eq!(c.backend.listen.port, 7007);
        assert_eq!(c.backend.listen.host, "0.0.0.0");
        assert_eq!(c.backend.base_url, "http://x:1");
    }

    #[test]
    fn cairn_env_overrides_nested_keys() {
        let c = load(
            &["catalog:\n  orphanStrategy: delete\n"],
            &[
                ("CAIRN_CATALOG__ORPHAN_STRATEGY", "keep"),
                ("CAIRN_BACKEND__LISTEN__PORT", "9001"),
            ],
        )
        .unwrap();
        assert_eq!(c.catalog.orphan_strategy, OrphanStrategyConfig::Keep);
        assert_eq!(c.backend.listen.port, 9001);
    }

    #[test]
    fn wrong_type_in_a_known_key_names_the_key() {
        let e = load(&["backend:\n  listen:\n    port: [1]\n"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("backend.listen"), "{e}");
        let e = load(&["catalog:\n  orphanStrategy: sometimes\n"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("catalog.orphanStrategy"), "{e}");
    }

    #[test]
    fn unknown_keys_are_ignored_and_the_embedded_default_loads() {
        assert!(load(
            &["techdocs:\n  builder: local\nbackend:\n  other: 1\n"],
            &[]
        )
        .is_ok());
        let c = load(&[EMBEDDED_DEFAULT], &[]).unwrap();
        assert!(!c.catalog.locations.is_empty());
    }

    #[test]
    fn database_clients_map_to_urls() {
        let c = load(&["backend:\n  database:\n    client: pg\n    connection: {host: db, user: u, password: p, database: d}\n"], &[]).unwrap();
        assert_eq!(c.database_url().unwrap(), "postgres://u:p@db:5432/d");
        let c = load(
            &["backend:\n  database:\n    client: better-sqlite3\n    connection: ':memory:'\n"],
            &[],
        )
        .unwrap();
        assert_eq!(c.database_url().unwrap(), ":memory:");
    }
}
