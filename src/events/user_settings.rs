//! The frontend's per-user settings (Backstage's user-settings backend: starred entities, theme,
//! …). A change is also a `user-settings` signal to the user's open apps, so another tab follows.

use std::sync::Arc;

use serde_json::{json, Value};

use super::notifications::{Notifications, Signal};
use crate::storage::Db;

pub struct UserSettings {
    db: Db,
    signals: Arc<Notifications>,
}

impl UserSettings {
    pub fn new(db: Db, signals: Arc<Notifications>) -> Self {
        UserSettings { db, signals }
    }

    pub fn get(
        &self,
        user: &str,
        bucket: &str,
        key: &str,
    ) -> crate::storage::Result<Option<Value>> {
        Ok(self
            .db
            .user_setting(user, bucket, key)?
            .and_then(|v| serde_json::from_str(&v).ok()))
    }

    pub fn set(
        &self,
        user: &str,
        bucket: &str,
        key: &str,
        value: &Value,
    ) -> crate::storage::Result<()> {
        self.db
            .set_user_setting(user, bucket, key, &value.to_string())?;
        self.changed(user, bucket, key);
        Ok(())
    }

    pub fn delete(&self, user: &str, bucket: &str, key: &str) -> crate::storage::Result<bool> {
        let deleted = self.db.delete_user_setting(user, bucket, key)?;
        self.changed(user, bucket, key);
        Ok(deleted)
    }

    fn changed(&self, user: &str, bucket: &str, key: &str) {
        self.signals.signal(Signal {
            user: user.to_string(),
            channel: "user-settings".into(),
            message: json!({"type": "key-changed", "bucket": bucket, "key": key}),
        });
    }
}
