//! The handlebars registry for every page and report Cairn renders. Templates are embedded in
//! the binary; values are escaped by handlebars.

use handlebars::Handlebars;
use once_cell::sync::Lazy;
use serde::Serialize;

static REGISTRY: Lazy<Handlebars<'static>> = Lazy::new(|| {
    let mut h = Handlebars::new();
    h.set_strict_mode(false);
    for (name, text) in [
        ("layout", include_str!("pages/layout.hbs")),
        ("scorecards", include_str!("pages/scorecards.hbs")),
        ("entity", include_str!("pages/entity.hbs")),
        ("compliance", include_str!("pages/compliance.hbs")),
        (
            "compliance-entity",
            include_str!("pages/compliance-entity.hbs"),
        ),
        (
            "technical-file.html",
            include_str!("reports/technical-file.html.hbs"),
        ),
    ] {
        h.register_template_string(name, text)
            .expect("embedded template is valid");
    }
    h
});

/// Renders an embedded page inside the layout.
pub fn page(name: &str, title: &str, data: &impl Serialize) -> Result<String, String> {
    let body = REGISTRY.render(name, data).map_err(|e| e.to_string())?;
    REGISTRY
        .render("layout", &serde_json::json!({"title": title, "body": body}))
        .map_err(|e| e.to_string())
}

/// Markdown reports: the same engine without HTML escaping.
static MARKDOWN: Lazy<Handlebars<'static>> = Lazy::new(|| {
    let mut h = Handlebars::new();
    h.set_strict_mode(false);
    h.register_escape_fn(handlebars::no_escape);
    h.register_template_string(
        "technical-file.md",
        include_str!("reports/technical-file.md.hbs"),
    )
    .expect("embedded template is valid");
    h
});

/// Renders an embedded report (`name.html` escaped, `name.md` not).
pub fn report(name: &str, data: &impl Serialize) -> Result<String, String> {
    let registry = if name.ends_with(".md") {
        &MARKDOWN
    } else {
        &REGISTRY
    };
    registry.render(name, data).map_err(|e| e.to_string())
}

/// An SVG badge: a grey label and a coloured value, sized to their text.
pub fn badge(label: &str, value: &str, colour: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let (label, value) = (escape(label), escape(value));
    let (lw, vw) = (
        label.chars().count() * 7 + 10,
        value.chars().count() * 7 + 10,
    );
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{colour}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g></svg>"##,
        w = lw + vw,
        lx = lw / 2,
        vx = lw + vw / 2,
    )
}
