//! Runs the Node compatibility suite (tests/compat) with the real `@backstage/catalog-client`
//! and Tech Insights client against a real Cairn serving `catalog-examples/` and `scorecards/`.

use std::process::Command;

use crate::support::{repo_root, spawn_with, Options};

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Tokens bound to two example agents (the coding agent lists Cairn's MCP server among its tools,
/// the support assistant does not) and to a person.
const CODING_AGENT_TOKEN: &str = "compat-coding-agent-token-1";
const DENIED_AGENT_TOKEN: &str = "compat-support-agent-token-1";
const AGENT_TOKENS: &str = "backend:\n  auth:\n    externalAccess:\n      - {type: static, options: {token: compat-coding-agent-token-1, subject: 'aiagent:default/coding-agent'}}\n      - {type: static, options: {token: compat-support-agent-token-1, subject: 'aiagent:default/support-assistant'}}\n      - {type: static, options: {token: compat-person-token-000001, subject: 'user:default/elena.vasquez'}}\n";
/// The guest sign-in (as `user:default/guest`, in team-orders) and the permission framework:
/// everyone may do everything but a signed-in user may not unregister locations nor refresh
/// payments-service.
const SIGN_IN: &str = "auth:\n  environment: development\n  providers:\n    guest: {userEntityRef: 'user:default/guest'}\npermission:\n  enabled: true\n";
const COMPAT_POLICY: &str = r#"apiVersion: cairn.dev/v1alpha1
kind: PermissionPolicy
metadata: {name: compat}
spec:
  rules:
    - {permissions: "*", decision: allow, who: anyone}
    - {permissions: catalog.location.delete, decision: deny, who: users}
    - {permissions: catalog.entity.refresh, decision: deny, who: users, resource: {metadata.name: payments-service}}
"#;
/// Every suite calls as this person (a token is optional while writes are open).
const PERSON_TOKEN: &str = "compat-person-token-000001";

#[tokio::test(flavor = "multi_thread")]
async fn backstage_catalog_client_works_against_cairn() {
    if !have("node") || !have("npm") {
        crate::support::unavailable("node and npm are needed for the compatibility suite");
        return;
    }
    let repos = tempfile::tempdir().unwrap();
    let policy = repos.path().join("policy.yaml");
    std::fs::write(&policy, COMPAT_POLICY).unwrap();
    let app = spawn_with(
        &[],
        Options {
            catalog_target: Some(repo_root().join("catalog-examples/all.yaml")),
            extra_targets: vec![
                repo_root().join("scorecards/all.yaml"),
                repo_root().join("templates/all.yaml"),
                policy,
            ],
            extra_config: format!(
                "scaffolder:\n  publish:\n    hosts:\n      - {{host: local, root: {}}}\n{AGENT_TOKENS}{SIGN_IN}",
                repos.path().display()
            ),
            ..Default::default()
        },
    )
    .await;
    let evaluated = app
        .eventually(10, || async {
            app.get_cairn("/scorecards").await.1["items"]
                .as_array()
                .is_some_and(|i| i.len() >= 4)
        })
        .await;
    assert!(evaluated, "the built-in scorecards were not evaluated");
    let dir = repo_root().join("tests/compat");
    let url = app.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        let installed = [
            "@backstage-community/plugin-tech-insights-common",
            "@modelcontextprotocol/sdk",
            "@backstage/plugin-permission-common",
            "@backstage/plugin-catalog-common",
        ]
        .iter()
        .all(|p| dir.join("node_modules").join(p).exists());
        if !installed {
            let ci = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(
                ci.status.success(),
                "npm ci failed: {}",
                String::from_utf8_lossy(&ci.stderr)
            );
        }
        Command::new("npm")
            .arg("test")
            .env("CAIRN_URL", url)
            .env("CAIRN_TOKEN", PERSON_TOKEN)
            .env("CAIRN_CODING_AGENT_TOKEN", CODING_AGENT_TOKEN)
            .env("CAIRN_DENIED_AGENT_TOKEN", DENIED_AGENT_TOKEN)
            .current_dir(&dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "compat suite failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
