//! The writer lease's holder: who holds it (host, process, run), and whether a holder on this
//! host is a process that no longer runs (its own earlier run, killed), whose lease a new process
//! takes at once instead of waiting for it to expire.

/// This process's holder id: `host/pid/run`.
pub fn holder_id() -> String {
    format!("{}/{}/{}", host(), std::process::id(), uuid::Uuid::new_v4())
}

/// Whether `holder` was a process on this host that has ended. Holders on other hosts, and
/// ids in another form, are never taken for dead: their lease expires as usual.
pub fn holder_is_dead(holder: &str) -> bool {
    let mut parts = holder.splitn(3, '/');
    let (Some(h), Some(pid), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    h == host() && pid != std::process::id() && !process_runs(pid)
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Whether a process with this pid runs; where `/proc` is missing, assume it does.
fn process_runs(pid: u32) -> bool {
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_ended_process_on_this_host_is_dead() {
        let me = holder_id();
        assert!(!holder_is_dead(&me), "this process runs");
        let (host, _) = me.split_once('/').unwrap();
        assert!(holder_is_dead(&format!("{host}/{}/x", u32::MAX - 7)));
        assert!(!holder_is_dead(&format!("elsewhere/{}/x", u32::MAX - 7)));
        assert!(!holder_is_dead("a-uuid-from-an-older-version"));
    }
}
