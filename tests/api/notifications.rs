//! Notifications as the app's bell reads them, and the signal that rings it: a finished
//! scaffolder task tells its creator; a scorecard level drop and an obligation that falls due
//! unmet tell the owning group's members.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{spawn_with, Options, TestApp, BASIC_CATALOG};

const GUEST_AS_JDOE: &str =
    "auth:\n  environment: development\n  providers:\n    guest:\n      userEntityRef: jdoe\n";

const TEMPLATE: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: hello, title: Say hello}
spec:
  type: service
  owner: team-a
  steps:
    - {id: log, action: "debug:log", input: {message: hi}}
"#;

const CARD: &str = r#"apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {name: basics, title: Basics}
spec:
  filter: {kind: component}
  levels: [bronze, silver]
  checks:
    - {id: described, name: Described, level: bronze, rule: {all: [{fact: entity, path: $.metadata.description, operator: exists}]}}
"#;

const DESCRIBED: &str = "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: billing, description: Bills}\nspec: {type: service, lifecycle: production, owner: team-a}\n";

async fn app(extra: &str) -> TestApp {
    spawn_with(
        &[(
            "all.yaml",
            &format!("{BASIC_CATALOG}---\n{TEMPLATE}---\n{CARD}{extra}"),
        )],
        Options {
            extra_config: GUEST_AS_JDOE.into(),
            ..Default::default()
        },
    )
    .await
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}/api/notifications{path}", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_finished_task_rings_its_creators_bell() {
    let app = app("").await;
    let token = app.guest_token().await;

    // The app's signals socket: the token is the subprotocol.
    let mut request = format!("{}/api/signals", app.url.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", token.parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        token.as_str(),
        "the browser needs its subprotocol echoed"
    );
    socket
        .send(Message::text(
            json!({"action": "subscribe", "channel": "notifications"}).to_string(),
        ))
        .await
        .unwrap();
    // Let the subscription land before the task can finish.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (status, none) = get(&app, &token, "/status").await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none, json!({"unread": 0, "read": 0}));

    let r = app
        .client
        .post(format!("{}/api/scaffolder/v2/tasks", app.url))
        .bearer_auth(&token)
        .json(&json!({"templateRef": "template:default/hello", "values": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let task: Value = r.json().await.unwrap();
    let task_id = task["id"].as_str().unwrap();

    let frame = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(t))) => return serde_json::from_str::<Value>(&t).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("a signal within 20 s");
    assert_eq!(frame["channel"], "notifications");
    assert_eq!(frame["message"]["action"], "new_notification");
    let id = frame["message"]["notification_id"].as_str().unwrap();

    let (_, one) = get(&app, &token, &format!("/notifications/{id}")).await;
    assert_eq!(one["user"], "user:default/jdoe");
    assert_eq!(one["origin"], "plugin:scaffolder");
    assert_eq!(one["payload"]["title"], "Say hello: run completed");
    assert_eq!(one["payload"]["link"], format!("/create/tasks/{task_id}"));
    assert_eq!(one["payload"]["topic"], "scaffolder");
    assert!(one["read"].is_null());

    let (_, list) = get(
        &app,
        &token,
        "/notifications?limit=10&offset=0&orderField=created%2Cdesc&read=false",
    )
    .await;
    assert_eq!(list["totalCount"], 1);
    assert_eq!(list["notifications"][0]["id"], id);
    assert_eq!(
        get(&app, &token, "/status").await.1,
        json!({"unread": 1, "read": 0})
    );

    let r = app
        .client
        .post(format!(
            "{}/api/notifications/notifications/update",
            app.url
        ))
        .bearer_auth(&token)
        .json(&json!({"ids": [id], "read": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert!(updated[0]["read"].is_string());
    assert_eq!(
        get(&app, &token, "/status").await.1,
        json!({"unread": 0, "read": 1})
    );
    assert_eq!(
        get(&app, &token, "/topics").await.1,
        json!({"topics": ["scaffolder"]})
    );

    // Notifications are a user's: no token, no notifications.
    let r = app
        .client
        .get(format!("{}/api/notifications/status", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_level_drop_tells_the_owners_members() {
    let app = app(DESCRIBED).await;
    let token = app.guest_token().await;
    app.settled().await;
    assert_eq!(get(&app, &token, "/status").await.1["unread"], 0);

    // The description goes: billing falls from bronze to no level.
    app.write(
        "all.yaml",
        format!(
            "{BASIC_CATALOG}---\n{TEMPLATE}---\n{CARD}{}",
            DESCRIBED.replace(", description: Bills", "")
        ),
    );
    let told = app
        .eventually(20, || async {
            get(&app, &token, "/notifications?topic=scorecards").await.1["totalCount"] == 1
        })
        .await;
    assert!(told, "jdoe (team-a) was not told");
    let (_, list) = get(&app, &token, "/notifications?topic=scorecards").await;
    let n = &list["notifications"][0];
    assert_eq!(
        n["payload"]["title"],
        "component:default/billing dropped to no level on Basics"
    );
    assert_eq!(n["payload"]["severity"], "high");
    assert_eq!(n["payload"]["link"], "/catalog/default/component/billing");
}

/// A scorecard whose check counts from `from`: billing has no system, so it fails once it counts.
fn obligation(from: &str) -> String {
    format!(
        "---\napiVersion: cairn.dev/v1alpha1\nkind: Scorecard\nmetadata: {{name: duties, title: Duties}}\nspec:\n  filter: {{kind: component}}\n  levels: [met]\n  checks:\n    - {{id: in-system, name: Part of a system, level: met, activeFrom: '{from}', rule: {{all: [{{fact: entity, path: $.spec.system, operator: exists}}]}}}}\n"
    )
}

#[tokio::test]
async fn an_obligation_falling_due_unmet_tells_the_owners_members() {
    let today = chrono::Utc::now().date_naive();
    let later = (today + chrono::Days::new(30)).to_string();
    let app = app(&format!("{DESCRIBED}{}", obligation(&later))).await;
    let token = app.guest_token().await;
    app.settled().await;
    // Not yet due: it does not count, and nobody is told.
    let (_, card) = app.get_cairn("/scorecards/default/duties/entities").await;
    let billing = card["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["entityRef"] == "component:default/billing")
        .unwrap();
    assert_eq!(
        billing["level"], "met",
        "a check not yet due does not count: {card}"
    );
    assert_eq!(get(&app, &token, "/status").await.1["unread"], 0);

    // The day comes. The test cannot move the clock, so it moves the date to today instead: the
    // check goes from inactive to failing exactly as it does at midnight.
    app.write(
        "all.yaml",
        format!(
            "{BASIC_CATALOG}---\n{TEMPLATE}---\n{CARD}{DESCRIBED}{}",
            obligation(&today.to_string())
        ),
    );
    // Each of jdoe's components (team-a's two and jdoe's own) has no system.
    let told = app
        .eventually(20, || async {
            get(&app, &token, "/notifications?topic=obligations")
                .await
                .1["totalCount"]
                == 3
        })
        .await;
    let (_, list) = get(&app, &token, "/notifications?topic=obligations").await;
    assert!(told, "jdoe (team-a) was not told: {list}");
    let n = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["payload"]["link"] == "/catalog/default/component/billing")
        .unwrap();
    let (_, card) = app.get_cairn("/scorecards/default/duties/entities").await;
    assert!(!card.to_string().contains("-0.0"), "{card}");
    assert_eq!(
        n["payload"]["title"],
        "Part of a system is now due for component:default/billing and not met"
    );
    assert_eq!(n["payload"]["severity"], "critical");
    assert_eq!(
        n["payload"]["description"],
        format!("Duties: applies from {today}")
    );
}

#[tokio::test]
async fn user_settings_are_kept_per_user() {
    let app = app("").await;
    let token = app.guest_token().await;
    let url = |p: &str| format!("{}/api/user-settings{p}", app.url);
    let key = "/buckets/starredEntities/keys/entityRefs";
    let r = app
        .client
        .get(url(key))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = app
        .client
        .put(url(key))
        .bearer_auth(&token)
        .json(&json!({"value": ["component:default/legacy"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["value"][0], "component:default/legacy");
    let r = app
        .client
        .post(url("/multiget"))
        .bearer_auth(&token)
        .json(&json!({"items": [{"bucket": "starredEntities", "key": "entityRefs"}, {"bucket": "x", "key": "y"}]}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["items"][0]["value"], json!(["component:default/legacy"]));
    assert!(v["items"][1].is_null());
    let r = app
        .client
        .delete(url(key))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app.client.get(url(key)).send().await.unwrap();
    assert_eq!(r.status(), 401, "settings are a signed-in user's");
}
