//! One scheduler for periodic work: cron expressions (the `cron` crate's syntax, seconds
//! first), random jitter, no overlapping runs of the same job, and a clean stop.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Every 15 minutes, the default crawl schedule.
pub const DEFAULT_SCHEDULE: &str = "0 */15 * * * *";

pub fn parse(expr: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(expr).map_err(|e| format!("invalid cron expression {expr:?}: {e}"))
}

/// Stops every job started with it when dropped or told to.
pub struct Scheduler {
    stop: watch::Sender<bool>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler {
    pub fn new() -> Self {
        Scheduler {
            stop: watch::channel(false).0,
        }
    }

    /// Runs `job` on a blocking thread at each time of `schedule`, plus up to `jitter`. A run
    /// that is still going when the next time comes makes that time be skipped.
    pub fn add(
        &self,
        name: String,
        schedule: cron::Schedule,
        jitter: Duration,
        job: Arc<dyn Fn() + Send + Sync>,
    ) {
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            loop {
                let Some(next) = schedule.upcoming(chrono::Utc).next() else {
                    return;
                };
                let wait =
                    (next - chrono::Utc::now()).to_std().unwrap_or_default() + random_up_to(jitter);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
                let job = job.clone();
                tracing::debug!(job = %name, "scheduled run");
                if let Err(e) = tokio::task::spawn_blocking(move || job()).await {
                    tracing::error!(job = %name, error = %e, "scheduled job panicked");
                }
            }
        });
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

fn random_up_to(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let r = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
    max.mul_f64(r)
}

/// A tenth of the schedule's period, at most a minute: spreads many sources over time.
pub fn default_jitter(schedule: &cron::Schedule) -> Duration {
    let mut times = schedule.upcoming(chrono::Utc);
    match (times.next(), times.next()) {
        (Some(a), Some(b)) => {
            ((b - a).to_std().unwrap_or_default() / 10).min(Duration::from_secs(60))
        }
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_parses_with_bounded_jitter() {
        let s = parse(DEFAULT_SCHEDULE).unwrap();
        assert_eq!(default_jitter(&s), Duration::from_secs(60));
        assert!(parse("every day").is_err());
    }
}
