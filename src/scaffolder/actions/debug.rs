//! `debug:log` and `debug:wait`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{str_in, walk, ActionContext, MAX_WAIT};

pub(super) fn debug_log(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    (ctx.log)(serde_json::to_string(&ctx.input).unwrap_or_default());
    if let Some(m) = str_in(&ctx.input, "message") {
        (ctx.log)(m.to_string());
    }
    let list = &ctx.input["listWorkspace"];
    if list.as_bool() == Some(true) || list.is_string() {
        for (rel, path) in walk(ctx.workspace)? {
            if list.as_str() == Some("with-contents") {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "(binary)".into());
                (ctx.log)(format!("{rel}:\n{text}"));
            } else {
                (ctx.log)(rel);
            }
        }
    }
    Ok(())
}

pub(super) fn debug_wait(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    let n = |k: &str| ctx.input[k].as_f64().unwrap_or(0.0).max(0.0);
    let total = n("minutes") * 60.0 + n("seconds") + n("milliseconds") / 1000.0;
    if total > MAX_WAIT.as_secs_f64() {
        return Err(format!(
            "Waiting duration is longer than the maximum threshold of {} minutes",
            MAX_WAIT.as_secs() / 60
        ));
    }
    let until = Instant::now() + Duration::from_secs_f64(total);
    while Instant::now() < until {
        if ctx.cancelled.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
    Ok(())
}
