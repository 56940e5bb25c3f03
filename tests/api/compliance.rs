//! EU AI Act: the questionnaire, a what-if classification, and an AI system's obligations with
//! the evidence found and what is missing.

use serde_json::{json, Value};

use crate::support::root_location;

const AGENT: &str = r#"apiVersion: cairn.dev/v1alpha1
kind: AIAgent
metadata:
  name: credit-scorer
  annotations:
    cairn.dev/risk-register: ./docs/risk-register.md
  links:
    - {url: "https://docs.example/ifu", title: Instructions, type: instructions-for-use}
spec:
  type: assistant
  lifecycle: production
  owner: team-a
  purpose: Scores the creditworthiness of small businesses
  humanOversight: {owner: group:default/team-a}
  aiAct:
    role: provider
    answers: {S1: true, S2: false, S3: true, P1: false, P2: false, P3: false, P4: false, P5: false, P6: false, P7: false, P8: false, P9: false,
              H1: false, H3: "5b", H4: [], H5: false, T1: true, T2: false, T3: false, T4: false, T5: false, G1: false}
---
apiVersion: cairn.dev/v1alpha1
kind: AIAgent
metadata: {name: half-answered}
spec: {type: assistant, lifecycle: experimental, owner: team-a, aiAct: {role: deployer, answers: {S1: true}}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc}
spec: {type: service, lifecycle: production, owner: team-a}
"#;

fn obligation<'a>(result: &'a Value, id: &str) -> &'a Value {
    result["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .unwrap_or_else(|| panic!("no obligation {id}: {result}"))
}

#[tokio::test]
async fn classification_obligations_evidence_and_attestations() {
    let app = crate::support::spawn_with(
        &[
            ("all.yaml", &root_location(&["ai.yaml"])),
            ("ai.yaml", AGENT),
        ],
        crate::support::Options {
            extra_targets: vec![
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/all.yaml")
            ],
            ..Default::default()
        },
    )
    .await;

    let (status, q) = app.get_cairn("/compliance/ai-act/questionnaire").await;
    assert_eq!(status, 200);
    assert_eq!(
        q["properties"]["answers"]["properties"]["P6"]["x-cite"],
        "Art. 5(1)(f)"
    );

    let (status, what_if) = app
        .post_cairn(
            "/compliance/ai-act/classify",
            json!({"role": "deployer", "answers": {"S1": false}}),
        )
        .await;
    assert_eq!(status, 200, "{what_if}");
    assert_eq!(what_if["tier"], "out-of-scope");
    let (status, bad) = app
        .post_cairn(
            "/compliance/ai-act/classify",
            json!({"role": "provider", "answers": {"T1": "yes"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("answers.T1"),
        "{bad}"
    );

    let (status, r) = app
        .get_cairn("/compliance/ai-act/entities/aiagent/default/credit-scorer")
        .await;
    assert_eq!(status, 200, "{r}");
    let c = &r["classification"];
    assert_eq!(
        (c["tier"].as_str(), c["basis"].as_str()),
        (Some("high-risk"), Some("annex-iii")),
        "{c}"
    );
    assert_eq!(c["flags"], json!(["transparency:50(1)"]));
    assert!(c["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["cite"] == "Art. 6(2), Annex III"));

    let rms = obligation(&r, "HR-RMS");
    assert_eq!(rms["appliesFrom"], "2027-12-02");
    assert_eq!(rms["status"], "not-yet-due");
    assert_eq!(rms["met"], true, "{rms}");
    let golden = obligation(&r, "GOV-TEMPLATE");
    assert_eq!(
        golden["missing"],
        json!([
            "create it with template:default/ai-agent (backstage.io/source-template is not set)"
        ]),
        "{golden}"
    );
    let doc = obligation(&r, "HR-DOC");
    assert_eq!(doc["met"], false);
    assert_eq!(
        doc["missing"],
        json!(["add a link of type `eu-declaration-of-conformity`"])
    );
    // Transparency applies since 2026-08-02: due now, and not met until attested.
    let interact = obligation(&r, "T-INTERACT");
    assert_eq!(interact["status"], "fail", "{interact}");

    // The pack is also a scorecard of obligations, evaluated like any other.
    let scorecard_status = |check: &'static str| {
        let app = &app;
        async move {
            let (_, r) = app
                .get_cairn("/entities/aiagent/default/credit-scorer/scorecards")
                .await;
            r["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["scorecard"] == "scorecard:default/eu-ai-act")
                .and_then(|i| {
                    i["checks"]
                        .as_array()?
                        .iter()
                        .find(|c| c["id"] == check)
                        .map(|c| c["status"].as_str().unwrap_or_default().to_string())
                })
        }
    };
    assert_eq!(
        scorecard_status("T-INTERACT").await.as_deref(),
        Some("fail")
    );
    assert_eq!(
        scorecard_status("HR-RMS").await.as_deref(),
        Some("inactive")
    );
    let (status, card) = app.get_cairn("/scorecards/default/eu-ai-act").await;
    assert_eq!(status, 200, "{card}");
    assert!(card["checks"].as_array().unwrap().len() > 20);
    let (status, body) = app
        .post_cairn(
            "/scorecards/default/eu-ai-act/exemptions",
            json!({"entityRef": "aiagent:default/credit-scorer", "checks": ["ALL-LIT"], "reason": "Course booked for January", "expires": "2999-01-01", "approver": "user:default/dpo"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.settled().await;
    assert!(scorecard_status("ALL-LIT").await.as_deref() == Some("exempt"));
    let (_, r) = app
        .get_cairn("/compliance/ai-act/entities/aiagent/default/credit-scorer")
        .await;
    assert_eq!(obligation(&r, "ALL-LIT")["status"], "exempt", "{r}");
    // Ordered by due date.
    let dates: Vec<&str> = r["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["appliesFrom"].as_str())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");

    let (status, _) = app
        .post_cairn(
            "/compliance/ai-act/entities/aiagent/default/credit-scorer/attestations",
            json!({"obligation": "T-INTERACT", "result": "pass"}),
        )
        .await;
    assert_eq!(status, 400, "a justification is required");
    let (status, _) = app
        .post_cairn(
            "/compliance/ai-act/entities/aiagent/default/credit-scorer/attestations",
            json!({"obligation": "T-INTERACT", "result": "pass", "justification": "Banner shown on first message; screenshot in the wiki"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, r) = app
        .get_cairn("/compliance/ai-act/entities/aiagent/default/credit-scorer")
        .await;
    assert_eq!(obligation(&r, "T-INTERACT")["status"], "pass");
    app.settled().await;
    assert!(scorecard_status("T-INTERACT").await.as_deref() == Some("pass"));
    let (_, audit) = app
        .get_cairn("/audit?entity=aiagent:default/credit-scorer")
        .await;
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "obligation.attested"));

    // Classifications are recorded in the audit trail, and so is a change of one.
    let classified =
        |tier: &'static str| {
            let app = &app;
            async move {
                let (_, audit) = app
                    .get_cairn("/audit?entity=aiagent:default/credit-scorer")
                    .await;
                audit["items"].as_array().unwrap().iter().any(|a| {
                    a["action"] == "classification.changed" && a["details"]["tier"] == tier
                })
            }
        };
    app.settled().await;
    assert!(classified("high-risk").await);

    let (_, half) = app
        .get_cairn("/compliance/ai-act/entities/aiagent/default/half-answered")
        .await;
    assert_eq!(half["classification"]["tier"], "unclassified");
    assert!(half["classification"]["unanswered"]
        .as_array()
        .unwrap()
        .iter()
        .any(|q| q["id"] == "P6"));
    assert_eq!(half["obligations"], json!([]));

    let page = |path: &'static str| {
        let app = &app;
        async move {
            let r = app
                .client
                .get(format!("{}{path}", app.url))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    let html = page("/compliance").await;
    assert!(
        html.contains("aiagent:default/credit-scorer")
            && html.contains("aiagent:default/half-answered")
    );
    assert!(html.contains("technical-file"));
    let high = page("/compliance?tier=high-risk").await;
    assert!(
        high.contains("aiagent:default/credit-scorer")
            && !high.contains("aiagent:default/half-answered")
    );
    let todo = page("/compliance/entities/aiagent/default/credit-scorer").await;
    assert!(
        todo.contains("HR-DOC")
            && todo.contains("add a link of type &#x60;eu-declaration-of-conformity&#x60;"),
        "{todo}"
    );

    let (status, _) = app
        .get_cairn("/compliance/ai-act/entities/component/default/svc")
        .await;
    assert_eq!(status, 400);
    let (status, body) = app
        .get_cairn("/compliance/ai-act/entities/component/default/svc/technical-file")
        .await;
    assert_eq!(
        status, 400,
        "an export for an entity that is not an AI system: {body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("is not an AI system"));
    let (_, list) = app.get_cairn("/compliance/ai-act/entities").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    app.write("ai.yaml", AGENT.replace("H3: \"5b\"", "H3: none"));
    app.refresh_root().await;
    app.settled().await;
    assert!(classified("limited").await);
}

#[tokio::test]
async fn the_technical_file_is_one_zip_with_annex_iv_evidence_and_repository_documents() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let repo = crate::git::WorkRepo::init(&dir.path().join("scorer"));
    let agent = AGENT.split("\n---\n").next().unwrap().replace(
        "    cairn.dev/risk-register: ./docs/risk-register.md",
        "    cairn.dev/model-card: ./MODEL_CARD.md",
    );
    repo.write("catalog-info.yaml", &agent);
    repo.write(
        "MODEL_CARD.md",
        "# Model card\nLimitations: small businesses only.\n",
    );
    repo.commit("the scorer");
    let app = crate::git::app_with_source(&repo.url(), "").await;
    crate::git::crawl(&app, "org").await;
    let (status, _) = app
        .post_cairn("/facts", json!({"entityRef": "aiagent:default/credit-scorer", "facts": {"bias-check": {"passed": true, "metric": "demographic parity", "value": 0.03}}}))
        .await;
    assert_eq!(status, 200);

    let r = app
        .client
        .get(format!(
            "{}/api/cairn/compliance/ai-act/entities/aiagent/default/credit-scorer/technical-file",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut read = |name: &str| {
        let mut s = String::new();
        zip.by_name(name)
            .unwrap_or_else(|_| panic!("{name} in the zip"))
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    let md = read("technical-file.md");
    assert!(
        md.contains("**Tier: high-risk** (basis: annex-iii)"),
        "{md}"
    );
    for n in 1..=9 {
        assert!(md.contains(&format!("\n### {n}. ")), "section {n}: {md}");
    }
    assert!(md.contains("**Model card:** ./MODEL_CARD.md"), "{md}");
    assert!(md.contains("**Bias check (CI):**"), "{md}");
    assert!(
        md.contains("### 8. EU declaration of conformity (Art. 47)\n\n**Missing.**"),
        "{md}"
    );
    assert!(md.contains("| H3: "), "answers are listed");
    let html = read("technical-file.html");
    assert!(html.contains("<h3>5. Risk management system (Art. 9)</h3>"));
    assert_eq!(
        read("documents/MODEL_CARD.md"),
        "# Model card\nLimitations: small businesses only.\n"
    );
    let classification: Value = serde_json::from_str(&read("classification.json")).unwrap();
    assert_eq!(classification["classification"]["tier"], "high-risk");
    let audit: Value = serde_json::from_str(&read("audit.json")).unwrap();
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "fact.pushed"));
    let manifest: Value = serde_json::from_str(&read("manifest.json")).unwrap();
    let entry = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "documents/MODEL_CARD.md")
        .unwrap()
        .clone();
    use sha2::Digest;
    let expected = hex::encode(sha2::Sha256::digest(
        read("documents/MODEL_CARD.md").as_bytes(),
    ));
    assert_eq!(entry["sha256"], expected);
    assert_eq!(manifest["auditChainIntact"], true);
    let ci: Value = serde_json::from_str(&read("ci-results.json")).unwrap();
    assert_eq!(ci["bias-check"]["passed"], true);
    let (_, audit) = app
        .get_cairn("/audit?entity=aiagent:default/credit-scorer")
        .await;
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "technical-file.exported"));

    // The same from the command line.
    let out_file = app.dir.path().join("tf.zip");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--config")
        .arg(app.dir.path().join("app-config.yaml"))
        .arg("--config")
        .arg(app.dir.path().join("extra.yaml"))
        .args([
            "export",
            "technical-file",
            "aiagent:default/credit-scorer",
            "-o",
        ])
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cli_zip = zip::ZipArchive::new(std::fs::File::open(&out_file).unwrap()).unwrap();
    let mut card = String::new();
    cli_zip
        .by_name("documents/MODEL_CARD.md")
        .unwrap()
        .read_to_string(&mut card)
        .unwrap();
    assert!(card.starts_with("# Model card"));

    let (status, _) = app
        .get_cairn("/compliance/ai-act/entities/group/default/team-a/technical-file")
        .await;
    assert_eq!(status, 404, "no such entity in this catalog");
}

/// An AI system with every answer "no" except scope and transparency (T1): the default tier,
/// raised by its transparency flag.
const CHATBOT: &str = r#"apiVersion: cairn.dev/v1alpha1
kind: AIAgent
metadata: {name: helpdesk-bot}
spec:
  type: assistant
  lifecycle: production
  owner: team-a
  aiAct:
    role: deployer
    answers: {S1: true, S2: false, S3: true, P1: false, P2: false, P3: false, P4: false, P5: false, P6: false, P7: false, P8: false, P9: false,
              H1: false, H3: none, T1: true, T2: false, T3: false, T4: false, T5: false, G1: false}
"#;

#[tokio::test]
async fn tiers_and_annex_iv_sections_come_from_the_rule_pack() {
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scorecards/eu-ai-act/rule-pack.yaml"),
    )
    .unwrap();
    // A copy of the pack with the transparency tier renamed and a stricter tier for it, placed
    // above high-risk: no Rust knows either name.
    let edited = shipped.replace(
        "    - { id: limited, title: \"Limited risk (transparency)\", cite: \"Art. 50\", flagPrefix: transparency }\n",
        "",
    )
    .replace(
        "    - { id: high-risk,",
        "    - { id: must-disclose, title: \"Must disclose\", cite: \"Art. 50\", flagPrefix: transparency }\n    - { id: high-risk,",
    )
    .replace("tiers: [limited]", "tiers: [must-disclose]")
    .replace("tiers: [limited,", "tiers: [must-disclose,")
    .replace(", limited]", ", must-disclose]")
    .replace(", limited,", ", must-disclose,")
    .replace(
        "title: Harmonised standards applied",
        "title: Standards and common specifications",
    )
    .replace(
        "{ label: Tools, field: spec.tools }",
        "{ label: Tools, field: spec.tools }\n        - { label: Owner, field: spec.owner }",
    )
    // A new question and a new role: descriptors are validated against them at ingest.
    .replace(
        "  questions:\n",
        "  questions:\n    - { id: X1, cite: \"Art. 99\", type: boolean, optional: true, text: \"A question only this copy asks\" }\n",
    )
    .replace("values: [provider, deployer,", "values: [authorised-representative, provider, deployer,");
    assert_ne!(edited, shipped);
    assert!(edited.contains("authorised-representative"));
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("rule-pack.yaml");
    std::fs::write(&pack, &edited).unwrap();
    let app = crate::support::spawn_with(
        &[
            ("all.yaml", &root_location(&["ai.yaml"])),
            ("ai.yaml", CHATBOT),
        ],
        crate::support::Options {
            extra_config: format!("cairn:\n  compliance:\n    rulePack: {}\n", pack.display()),
            ..Default::default()
        },
    )
    .await;
    let (status, r) = app
        .get_cairn("/compliance/ai-act/entities/aiagent/default/helpdesk-bot")
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["classification"]["tier"], "must-disclose", "{r}");
    let (_, systems) = app.get_cairn("/compliance/ai-act/entities").await;
    assert_eq!(systems["items"][0]["tier"], "must-disclose", "{systems}");
    let page = app
        .client
        .get(format!("{}/compliance?tier=must-disclose", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("must-disclose"),
        "the dashboard's tier filter"
    );
    assert!(page.contains("helpdesk-bot"), "and the system in that tier");
    assert!(!page.contains(">limited<"), "the old tier is gone");

    let r = app
        .client
        .get(format!(
            "{}/api/cairn/compliance/ai-act/entities/aiagent/default/helpdesk-bot/technical-file",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut md = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("technical-file.md").unwrap(), &mut md).unwrap();
    assert!(md.contains("Standards and common specifications"), "{md}");
    assert!(!md.contains("Harmonised standards applied"), "{md}");
    assert!(md.contains("team-a"), "the item added to section 1: {md}");

    let agent = |role: &str, x1: Value| {
        json!({"location": "url:https://x/ai.yaml", "entity": {"apiVersion": "cairn.dev/v1alpha1",
            "kind": "AIAgent", "metadata": {"name": "rep"}, "spec": {"type": "assistant",
            "lifecycle": "production", "owner": "team-a",
            "aiAct": {"role": role, "answers": {"S1": true, "X1": x1}}}}})
    };
    let (s, v) = app
        .post(
            "/validate-entity",
            agent("authorised-representative", json!(true)),
        )
        .await;
    assert_eq!(s, 200, "the pack's new role and question are known: {v}");
    let (s, v) = app
        .post(
            "/validate-entity",
            agent("authorised-representative", json!("yes")),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        v.to_string()
            .contains("spec.aiAct.answers.X1: must be a boolean"),
        "the new question's type is the pack's: {v}"
    );
    let (s, v) = app
        .post("/validate-entity", agent("reseller", json!(true)))
        .await;
    assert_eq!(s, 400);
    assert!(
        v.to_string()
            .contains("authorised-representative, provider"),
        "the roles listed are the pack's: {v}"
    );
}
