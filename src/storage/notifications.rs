//! Notifications, one row per recipient.

use diesel::prelude::*;

use super::schema::notifications;
use super::{Db, Result};
use crate::model::notifications::{Outgoing, Payload, Query, Stored};

#[derive(Queryable, Selectable)]
#[diesel(table_name = notifications)]
struct Row {
    seq: i64,
    id: String,
    user_ref: String,
    origin: String,
    payload: String,
    created_at: i64,
    read_at: Option<i64>,
    saved_at: Option<i64>,
    updated_at: Option<i64>,
}

impl Row {
    fn stored(self) -> Option<Stored> {
        Some(Stored {
            seq: self.seq,
            id: self.id,
            user: self.user_ref,
            origin: self.origin,
            payload: serde_json::from_str::<Payload>(&self.payload).ok()?,
            created: self.created_at,
            read: self.read_at,
            saved: self.saved_at,
            updated: self.updated_at,
        })
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Db {
    /// Stores one row per recipient. A notification with a `scope` replaces the recipient's
    /// earlier one of the same origin and scope (it comes back unread). Returns the new rows.
    pub fn send_notification(&self, n: &Outgoing) -> Result<Vec<Stored>> {
        let payload = serde_json::to_string(&n.payload).unwrap_or_default();
        let now = now_ms();
        let mut ids = Vec::new();
        with_conn!(self, conn => {
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                for user in &n.recipients {
                    if let Some(scope) = &n.payload.scope {
                        let same = notifications::table
                            .filter(notifications::user_ref.eq(user))
                            .filter(notifications::origin.eq(&n.origin))
                            .select((notifications::id, notifications::payload))
                            .load::<(String, String)>(conn)?
                            .into_iter()
                            .filter(|(_, p)| {
                                serde_json::from_str::<Payload>(p)
                                    .is_ok_and(|p| p.scope.as_ref() == Some(scope))
                            })
                            .map(|(id, _)| id)
                            .collect::<Vec<_>>();
                        diesel::delete(notifications::table.filter(notifications::id.eq_any(&same)))
                            .execute(conn)?;
                    }
                    let id = uuid::Uuid::new_v4().to_string();
                    diesel::insert_into(notifications::table)
                        .values((
                            notifications::id.eq(&id),
                            notifications::user_ref.eq(user),
                            notifications::origin.eq(&n.origin),
                            notifications::payload.eq(&payload),
                            notifications::created_at.eq(now),
                        ))
                        .execute(conn)?;
                    ids.push(id);
                }
                Ok(())
            })?;
        });
        super::changes::wrote();
        self.notifications_by_ids(&ids)
    }

    fn notifications_by_ids(&self, ids: &[String]) -> Result<Vec<Stored>> {
        let rows: Vec<Row> = with_conn!(self, conn => {
            notifications::table
                .filter(notifications::id.eq_any(ids))
                .order(notifications::seq.asc())
                .select(Row::as_select())
                .load(conn)?
        });
        Ok(rows.into_iter().filter_map(Row::stored).collect())
    }

    /// A user's notifications that `query` keeps, in its order and page, and how many it keeps.
    pub fn notifications(&self, user: &str, query: &Query) -> Result<(Vec<Stored>, usize)> {
        let rows: Vec<Row> = with_conn!(self, conn => {
            notifications::table
                .filter(notifications::user_ref.eq(user))
                .order(notifications::seq.desc())
                .select(Row::as_select())
                .load(conn)?
        });
        let mut kept: Vec<Stored> = rows
            .into_iter()
            .filter_map(Row::stored)
            .filter(|n| query.keeps(n))
            .collect();
        if query.ascending {
            kept.reverse();
        }
        let total = kept.len();
        let page = kept
            .into_iter()
            .skip(query.offset)
            .take(query.limit)
            .collect();
        Ok((page, total))
    }

    pub fn notification(&self, user: &str, id: &str) -> Result<Option<Stored>> {
        Ok(self
            .notifications_by_ids(&[id.to_string()])?
            .into_iter()
            .find(|n| n.user == user))
    }

    /// Marks a user's notifications read or unread, saved or not; returns them.
    pub fn update_notifications(
        &self,
        user: &str,
        ids: &[String],
        read: Option<bool>,
        saved: Option<bool>,
    ) -> Result<Vec<Stored>> {
        let now = now_ms();
        let mine = notifications::user_ref.eq(user);
        with_conn!(self, conn => {
            if let Some(read) = read {
                diesel::update(notifications::table.filter(mine).filter(notifications::id.eq_any(ids)))
                    .set((
                        notifications::read_at.eq(read.then_some(now)),
                        notifications::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            if let Some(saved) = saved {
                diesel::update(notifications::table.filter(mine).filter(notifications::id.eq_any(ids)))
                    .set((
                        notifications::saved_at.eq(saved.then_some(now)),
                        notifications::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
        });
        super::changes::wrote();
        Ok(self
            .notifications_by_ids(ids)?
            .into_iter()
            .filter(|n| n.user == user)
            .collect())
    }

    /// (unread, read) counts of a user.
    pub fn notification_status(&self, user: &str) -> Result<(i64, i64)> {
        let (unread, all): (i64, i64) = with_conn!(self, conn => {
            let unread = notifications::table
                .filter(notifications::user_ref.eq(user))
                .filter(notifications::read_at.is_null())
                .count()
                .get_result(conn)?;
            let all = notifications::table
                .filter(notifications::user_ref.eq(user))
                .count()
                .get_result(conn)?;
            (unread, all)
        });
        Ok((unread, all - unread))
    }

    /// Notifications stored after `seq` (any user), oldest first: what to push as signals.
    pub fn notifications_after(&self, seq: i64, limit: i64) -> Result<Vec<Stored>> {
        let rows: Vec<Row> = with_conn!(self, conn => {
            notifications::table
                .filter(notifications::seq.gt(seq))
                .order(notifications::seq.asc())
                .limit(limit)
                .select(Row::as_select())
                .load(conn)?
        });
        Ok(rows.into_iter().filter_map(Row::stored).collect())
    }

    pub fn last_notification_seq(&self) -> Result<i64> {
        let last: Option<i64> = with_conn!(self, conn => {
            notifications::table
                .select(diesel::dsl::max(notifications::seq))
                .first(conn)?
        });
        Ok(last.unwrap_or(0))
    }
}
