//! The scaffolder's `${{ }}` dialect: any template text against a small context; the fuel and
//! output limits must stop every runaway.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = cairn::scaffolder::render::environment(false, false, false);
    let ctx = serde_json::json!({"parameters": {"name": "svc", "tags": ["a", "b"], "n": 3},
                                 "steps": {"s": {"output": {"x": 1}}}});
    let _ = cairn::scaffolder::render::render_str(&env, text, &ctx);
    let _ = cairn::scaffolder::render::render_leaf(&env, text, &ctx);
});
