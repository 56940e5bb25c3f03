//! What Cairn knows about each built-in kind: accepted `apiVersion`s, typed spec fields, and the
//! relations each spec field produces (with the inverse the target gets).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    StringArray,
    Object,
    Array,
    Presence,
    Steps,
    /// One of the listed strings.
    OneOf(&'static [&'static str]),
    /// An array of objects that each need the listed string keys.
    Objects(&'static [&'static str]),
    /// A string array or an object (free-form classification).
    ArrayOrObject,
}

pub struct SpecField {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
}

pub struct KindRules {
    pub api_versions: &'static [&'static str],
    pub fields: &'static [SpecField],
    /// Spec keys not listed in `fields` are warned about (Cairn's own kinds).
    pub warn_unknown: bool,
}

const fn req(name: &'static str, ty: FieldType) -> SpecField {
    SpecField {
        name,
        ty,
        required: true,
    }
}
const fn opt(name: &'static str, ty: FieldType) -> SpecField {
    SpecField {
        name,
        ty,
        required: false,
    }
}

use FieldType::*;

const BACKSTAGE: &[&str] = &["backstage.io/v1alpha1", "backstage.io/v1beta1"];
const CAIRN: &[&str] = &["cairn.dev/v1alpha1"];
const LIFECYCLE: SpecField = req("lifecycle", String);
const OWNER_FIELD: SpecField = req("owner", String);

/// Every kind Cairn knows the spec of: Backstage's built-in kinds, Backstage's `AiResource`, and
/// Cairn's own.
pub const KNOWN_KINDS: &[&str] = &[
    "Component",
    "API",
    "Resource",
    "System",
    "Domain",
    "Group",
    "User",
    "Location",
    "Template",
    "AiResource",
    "Event",
    "DataProduct",
    "AIAgent",
    "Scorecard",
    "Campaign",
    "PermissionPolicy",
];

/// The spec rules for a kind, or `None` for kinds Cairn does not know (those only get envelope
/// validation). Kind matching is case-sensitive, as in Backstage.
pub fn spec_rules(kind: &str) -> Option<&'static KindRules> {
    static COMPONENT: KindRules = KindRules {
        api_versions: BACKSTAGE,
        warn_unknown: false,
        fields: &[
            req("type", String),
            req("lifecycle", String),
            req("owner", String),
            opt("system", String),
            opt("subcomponentOf", String),
            opt("providesApis", StringArray),
            opt("consumesApis", StringArray),
            opt("dependsOn", StringArray),
            opt("dependencyOf", StringArray),
            opt("producesEvents", StringArray),
            opt("consumesEvents", StringArray),
            opt("consumesDataProducts", StringArray),
        ],
    };
    static API: KindRules = KindRules {
        api_versions: BACKSTAGE,
        warn_unknown: false,
        fields: &[
            req("type", String),
            req("lifecycle", String),
            req("owner", String),
            req("definition", String),
            opt("system", String),
        ],
    };
    static RESOURCE: KindRules = KindRules {
        api_versions: BACKSTAGE,
        warn_unknown: false,
        fields: &[
            req("type", String),
            req("owner", String),
            opt("system", String),
            opt("dependsOn", StringArray),
            opt("dependencyOf", StringArray),
        ],
    };
    static SYSTEM: KindRules = KindRules {
        api_versions: BACKSTAGE,
        warn_unknown: false,
        fields: &[
            req("owner", String),
            opt("domain", String),
            opt("type", String),
        ],
    };
    static DOMAIN: KindRules = KindRules {
        api_versions: BACKSTAGE,
        warn_unknown: false,
        fields: &[
            req("owner", String),
            opt("subdomainOf", String),
            opt("type", String),
        ],
    };
    static GROUP: KindRules = KindRules {
        api_versions: BACKSTAGE,
        warn_unknown: false,
        fields: &[
            req("type", String),
            req("children", StringArray),
            opt("profile", Object),
            opt("parent", String),
            opt("members", StringArray),
        ],
    };
    static USER: KindRules = KindRules {
        api_versions: BACKSTAGE,
        warn_unknown: false,
        fields: &[req("memberOf", StringArray), opt("profile", Object)],
    };
    static LOCATION: KindRules = KindRules {
        api_versions: BACKSTAGE,
        warn_unknown: false,
        fields: &[
            opt("type", String),
            opt("target", String),
            opt("targets", StringArray),
            opt("presence", Presence),
        ],
    };
    static TEMPLATE: KindRules = KindRules {
        api_versions: &["scaffolder.backstage.io/v1beta3"],
        warn_unknown: false,
        fields: &[
            req("type", String),
            req("steps", Steps),
            opt("owner", String),
            opt("parameters", Array),
            opt("output", Object),
        ],
    };
    static EVENT: KindRules = KindRules {
        api_versions: CAIRN,
        warn_unknown: true,
        fields: &[
            req(
                "type",
                OneOf(&[
                    "domain-event",
                    "integration-event",
                    "cdc",
                    "command",
                    "notification",
                ]),
            ),
            LIFECYCLE,
            OWNER_FIELD,
            opt("system", String),
            opt("version", String),
            opt("transport", Object),
            opt("schema", Object),
            opt("classification", StringArray),
            opt("api", String),
        ],
    };
    static DATA_PRODUCT: KindRules = KindRules {
        api_versions: CAIRN,
        warn_unknown: true,
        fields: &[
            req(
                "type",
                OneOf(&["source-aligned", "aggregate", "consumer-aligned"]),
            ),
            LIFECYCLE,
            OWNER_FIELD,
            opt("domain", String),
            opt("system", String),
            opt("inputs", StringArray),
            opt("outputPorts", Objects(&["name", "ref"])),
            opt("classification", ArrayOrObject),
            opt("sla", Object),
            opt("descriptor", Object),
            opt("producesEvents", StringArray),
            opt("consumesEvents", StringArray),
        ],
    };
    static AI_AGENT: KindRules = KindRules {
        api_versions: CAIRN,
        warn_unknown: true,
        fields: &[
            req(
                "type",
                OneOf(&[
                    "agent",
                    "assistant",
                    "model-service",
                    "classifier",
                    "pipeline",
                ]),
            ),
            LIFECYCLE,
            OWNER_FIELD,
            opt("system", String),
            opt("purpose", String),
            opt("provider", Object),
            opt(
                "autonomy",
                OneOf(&[
                    "none",
                    "human-in-the-loop",
                    "human-on-the-loop",
                    "autonomous",
                ]),
            ),
            opt("models", Objects(&["ref"])),
            opt("tools", StringArray),
            opt("dataSources", StringArray),
            opt("consumesDataProducts", StringArray),
            opt("producesEvents", StringArray),
            opt("consumesEvents", StringArray),
            opt("humanOversight", Object),
            opt("deployment", Object),
            opt("logging", Object),
            opt("aiAct", Object),
        ],
    };
    static AI_RESOURCE: KindRules = KindRules {
        api_versions: BACKSTAGE,
        warn_unknown: false,
        fields: &[
            req("type", String),
            LIFECYCLE,
            OWNER_FIELD,
            opt("system", String),
            opt("dependsOn", StringArray),
            opt("skills", StringArray),
            opt("plugins", StringArray),
        ],
    };
    static SCORECARD: KindRules = KindRules {
        api_versions: CAIRN,
        warn_unknown: true,
        fields: &[
            req("filter", ArrayOrObject),
            req("levels", StringArray),
            req("checks", Objects(&["id", "name", "level"])),
            opt("owner", String),
            opt("schedule", String),
            // entity or filter: checked in governance.rs
            opt("exemptions", Objects(&["reason", "approver", "expires"])),
        ],
    };
    static CAMPAIGN: KindRules = KindRules {
        api_versions: CAIRN,
        warn_unknown: true,
        fields: &[
            req("scorecard", String),
            req("targetLevel", String),
            req("deadline", String),
            opt("filter", ArrayOrObject),
            opt("owner", String),
        ],
    };
    static PERMISSION_POLICY: KindRules = KindRules {
        api_versions: CAIRN,
        warn_unknown: true,
        fields: &[req("rules", Objects(&[])), opt("owner", String)],
    };
    Some(match kind {
        "PermissionPolicy" => &PERMISSION_POLICY,
        "Campaign" => &CAMPAIGN,
        "Scorecard" => &SCORECARD,
        "Event" => &EVENT,
        "DataProduct" => &DATA_PRODUCT,
        "AIAgent" => &AI_AGENT,
        "AiResource" => &AI_RESOURCE,
        "Component" => &COMPONENT,
        "API" => &API,
        "Resource" => &RESOURCE,
        "System" => &SYSTEM,
        "Domain" => &DOMAIN,
        "Group" => &GROUP,
        "User" => &USER,
        "Location" => &LOCATION,
        "Template" => &TEMPLATE,
        _ => return None,
    })
}

/// Relations a spec field yields for one kind of target: `self --forward--> target` and
/// `target --reverse--> self` for each pair.
pub struct Target {
    /// Lowercase kind of the target, or `*` for any kind.
    pub kind: &'static str,
    pub pairs: &'static [(&'static str, &'static str)],
}

/// One spec field that yields relations.
pub struct RelationField {
    /// Path under `spec`, dot-separated; a segment ending in `[]` iterates an array.
    pub path: &'static str,
    pub default_kind: Option<&'static str>,
    /// Allowed target kinds and their relations; a ref of another kind is an error.
    pub targets: &'static [Target],
}

macro_rules! targets {
    ($($kind:literal => [$(($f:literal, $r:literal)),*]),* $(,)?) => {
        &[$(Target { kind: $kind, pairs: &[$(($f, $r)),*] }),*]
    };
}

macro_rules! field {
    ($path:literal, $default:expr, $($t:tt)*) => {
        RelationField { path: $path, default_kind: $default, targets: targets!($($t)*) }
    };
}

const OWNER: RelationField = field!("owner", Some("Group"), "*" => [("ownedBy", "ownerOf")]);
const SYSTEM: RelationField = field!("system", Some("System"), "*" => [("partOf", "hasPart")]);
const DEPENDS: RelationField = field!("dependsOn", None, "*" => [("dependsOn", "dependencyOf")]);
const DEPENDENCY: RelationField =
    field!("dependencyOf", None, "*" => [("dependencyOf", "dependsOn")]);
const PRODUCES: RelationField =
    field!("producesEvents", Some("Event"), "event" => [("producesEvent", "eventProducedBy")]);
const CONSUMES: RelationField =
    field!("consumesEvents", Some("Event"), "event" => [("consumesEvent", "eventConsumedBy")]);
const CONSUMES_DP: RelationField = field!("consumesDataProducts", Some("DataProduct"),
    "dataproduct" => [("consumesDataProduct", "dataProductConsumedBy")],
    "resource" => [("dependsOn", "dependencyOf")]);

/// The relation table: Backstage's `BuiltinKindsEntityProcessor` (plus the scaffolder module
/// for Template owners), Backstage's `AiResource`, and Cairn's governance kinds.
pub fn relation_fields(kind: &str) -> &'static [RelationField] {
    static COMPONENT: [RelationField; 10] = [
        OWNER,
        field!("subcomponentOf", Some("Component"), "*" => [("partOf", "hasPart")]),
        field!("providesApis", Some("API"), "*" => [("providesApi", "apiProvidedBy")]),
        field!("consumesApis", Some("API"), "*" => [("consumesApi", "apiConsumedBy")]),
        DEPENDS,
        DEPENDENCY,
        SYSTEM,
        PRODUCES,
        CONSUMES,
        CONSUMES_DP,
    ];
    static API: [RelationField; 2] = [OWNER, SYSTEM];
    static RESOURCE: [RelationField; 4] = [OWNER, DEPENDS, DEPENDENCY, SYSTEM];
    static SYSTEMS: [RelationField; 2] = [
        OWNER,
        field!("domain", Some("Domain"), "*" => [("partOf", "hasPart")]),
    ];
    static DOMAIN: [RelationField; 2] = [
        OWNER,
        field!("subdomainOf", Some("Domain"), "*" => [("partOf", "hasPart")]),
    ];
    static GROUP: [RelationField; 3] = [
        field!("parent", Some("Group"), "*" => [("childOf", "parentOf")]),
        field!("children", Some("Group"), "*" => [("parentOf", "childOf")]),
        field!("members", Some("User"), "*" => [("hasMember", "memberOf")]),
    ];
    static USER: [RelationField; 1] =
        [field!("memberOf", Some("Group"), "*" => [("memberOf", "hasMember")])];
    static TEMPLATE: [RelationField; 1] = [OWNER];
    static EVENT: [RelationField; 3] = [
        OWNER,
        SYSTEM,
        field!("api", Some("API"), "api" => [("describedByApi", "describesEvent")]),
    ];
    static DATA_PRODUCT: [RelationField; 7] = [
        OWNER,
        SYSTEM,
        field!("domain", Some("Domain"), "domain" => [("partOf", "hasPart")]),
        field!("inputs", Some("DataProduct"),
            "dataproduct" => [("consumesDataProduct", "dataProductConsumedBy")],
            "resource" => [("dependsOn", "dependencyOf")],
            "event" => [("consumesEvent", "eventConsumedBy")]),
        field!("outputPorts[].ref", None,
            "api" => [("hasOutputPort", "outputPortOf"), ("providesApi", "apiProvidedBy")],
            "event" => [("hasOutputPort", "outputPortOf")],
            "resource" => [("hasOutputPort", "outputPortOf")]),
        PRODUCES,
        CONSUMES,
    ];
    static AI_AGENT: [RelationField; 10] = [
        OWNER,
        SYSTEM,
        field!("tools", Some("API"), "api" => [("consumesApi", "apiConsumedBy")]),
        field!("dataSources", Some("DataProduct"),
            "dataproduct" => [("consumesDataProduct", "dataProductConsumedBy")],
            "resource" => [("dependsOn", "dependencyOf")]),
        CONSUMES_DP,
        field!("models[].ref", Some("Resource"),
            "resource" => [("usesModel", "modelUsedBy")],
            "api" => [("usesModel", "modelUsedBy")],
            "component" => [("usesModel", "modelUsedBy")]),
        PRODUCES,
        CONSUMES,
        field!("humanOversight.owner", Some("Group"), "group" => [("overseenBy", "oversees")], "user" => [("overseenBy", "oversees")]),
        field!("logging.sink", Some("Resource"), "resource" => [("logsTo", "receivesLogsFrom")]),
    ];
    static AI_RESOURCE: [RelationField; 5] = [
        OWNER,
        SYSTEM,
        field!("dependsOn", Some("AiResource"), "*" => [("dependsOn", "dependencyOf")]),
        field!("skills", Some("AiResource"), "*" => [("hasPart", "partOf")]),
        field!("plugins", Some("AiResource"), "*" => [("hasPart", "partOf")]),
    ];
    static SCORECARD: [RelationField; 1] = [OWNER];
    static CAMPAIGN: [RelationField; 1] = [OWNER];
    static PERMISSION_POLICY: [RelationField; 1] = [OWNER];
    match kind {
        "PermissionPolicy" => &PERMISSION_POLICY,
        "Campaign" => &CAMPAIGN,
        "Scorecard" => &SCORECARD,
        "Component" => &COMPONENT,
        "API" => &API,
        "Resource" => &RESOURCE,
        "System" => &SYSTEMS,
        "Domain" => &DOMAIN,
        "Group" => &GROUP,
        "User" => &USER,
        "Template" => &TEMPLATE,
        "Event" => &EVENT,
        "DataProduct" => &DATA_PRODUCT,
        "AIAgent" => &AI_AGENT,
        "AiResource" => &AI_RESOURCE,
        _ => &[],
    }
}

/// Spec arrays of refs that Backstage sorts before storing.
pub const SORTED_REF_ARRAYS: &[&str] = &[
    "providesApis",
    "consumesApis",
    "dependsOn",
    "dependencyOf",
    "memberOf",
    "children",
    "members",
];
