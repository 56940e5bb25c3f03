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
}

pub struct SpecField {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
}

pub struct KindRules {
    pub api_versions: &'static [&'static str],
    pub fields: &'static [SpecField],
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

/// The spec rules for a kind, or `None` for kinds Cairn does not know (those only get envelope
/// validation). Kind matching is case-sensitive, as in Backstage.
pub fn spec_rules(kind: &str) -> Option<&'static KindRules> {
    static COMPONENT: KindRules = KindRules {
        api_versions: BACKSTAGE,
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
        ],
    };
    static API: KindRules = KindRules {
        api_versions: BACKSTAGE,
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
        fields: &[
            req("owner", String),
            opt("domain", String),
            opt("type", String),
        ],
    };
    static DOMAIN: KindRules = KindRules {
        api_versions: BACKSTAGE,
        fields: &[
            req("owner", String),
            opt("subdomainOf", String),
            opt("type", String),
        ],
    };
    static GROUP: KindRules = KindRules {
        api_versions: BACKSTAGE,
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
        fields: &[req("memberOf", StringArray), opt("profile", Object)],
    };
    static LOCATION: KindRules = KindRules {
        api_versions: BACKSTAGE,
        fields: &[
            opt("type", String),
            opt("target", String),
            opt("targets", StringArray),
            opt("presence", Presence),
        ],
    };
    static TEMPLATE: KindRules = KindRules {
        api_versions: &["scaffolder.backstage.io/v1beta3"],
        fields: &[
            req("type", String),
            req("steps", Steps),
            opt("owner", String),
            opt("parameters", Array),
            opt("output", Object),
        ],
    };
    Some(match kind {
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

/// One spec field that yields relations: `self --forward--> target`, `target --reverse--> self`.
pub struct RelationField {
    pub field: &'static str,
    pub default_kind: Option<&'static str>,
    pub forward: &'static str,
    pub reverse: &'static str,
}

const fn rel(
    field: &'static str,
    default_kind: Option<&'static str>,
    forward: &'static str,
    reverse: &'static str,
) -> RelationField {
    RelationField {
        field,
        default_kind,
        forward,
        reverse,
    }
}

/// The relation table of Backstage's `BuiltinKindsEntityProcessor` (and the scaffolder module
/// for Template owners).
pub fn relation_fields(kind: &str) -> &'static [RelationField] {
    const OWNED: RelationField = rel("owner", Some("Group"), "ownedBy", "ownerOf");
    const SYSTEM: RelationField = rel("system", Some("System"), "partOf", "hasPart");
    const DEPENDS: RelationField = rel("dependsOn", None, "dependsOn", "dependencyOf");
    const DEPENDENCY: RelationField = rel("dependencyOf", None, "dependencyOf", "dependsOn");
    static COMPONENT: [RelationField; 7] = [
        OWNED,
        rel("subcomponentOf", Some("Component"), "partOf", "hasPart"),
        rel("providesApis", Some("API"), "providesApi", "apiProvidedBy"),
        rel("consumesApis", Some("API"), "consumesApi", "apiConsumedBy"),
        DEPENDS,
        DEPENDENCY,
        SYSTEM,
    ];
    static API: [RelationField; 2] = [OWNED, SYSTEM];
    static RESOURCE: [RelationField; 4] = [OWNED, DEPENDS, DEPENDENCY, SYSTEM];
    static SYSTEMS: [RelationField; 2] =
        [OWNED, rel("domain", Some("Domain"), "partOf", "hasPart")];
    static DOMAIN: [RelationField; 2] = [
        OWNED,
        rel("subdomainOf", Some("Domain"), "partOf", "hasPart"),
    ];
    static GROUP: [RelationField; 3] = [
        rel("parent", Some("Group"), "childOf", "parentOf"),
        rel("children", Some("Group"), "parentOf", "childOf"),
        rel("members", Some("User"), "hasMember", "memberOf"),
    ];
    static USER: [RelationField; 1] = [rel("memberOf", Some("Group"), "memberOf", "hasMember")];
    static TEMPLATE: [RelationField; 1] = [OWNED];
    match kind {
        "Component" => &COMPONENT,
        "API" => &API,
        "Resource" => &RESOURCE,
        "System" => &SYSTEMS,
        "Domain" => &DOMAIN,
        "Group" => &GROUP,
        "User" => &USER,
        "Template" => &TEMPLATE,
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
