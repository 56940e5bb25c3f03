//! Named leases with a holder and an expiry: one replica at a time does the work that must
//! happen once.

use diesel::prelude::*;

use super::schema::leases;
use super::{Db, Result};

impl Db {
    /// Takes or renews the lease `name` for `holder` until `now + ttl`; true if held. A lease
    /// held by a holder `dead` says has ended is taken at once.
    pub fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_millis: i64,
        dead: &dyn Fn(&str) -> bool,
    ) -> Result<bool> {
        let now = chrono::Utc::now().timestamp_millis();
        let until = now + ttl_millis;
        with_conn!(self, conn => {
            let held = super::WriteTransaction::write_transaction(conn, |conn| {
                let updated = diesel::update(
                    leases::table
                        .filter(leases::name.eq(name))
                        .filter(leases::holder.eq(holder).or(leases::expires_at.lt(now))),
                )
                .set((leases::holder.eq(holder), leases::expires_at.eq(until)))
                .execute(conn)?;
                if updated > 0 {
                    return Ok(true);
                }
                let current: Option<String> = leases::table
                    .filter(leases::name.eq(name))
                    .select(leases::holder)
                    .first(conn)
                    .optional()?;
                if let Some(current) = current.filter(|c| dead(c)) {
                    let taken = diesel::update(
                        leases::table
                            .filter(leases::name.eq(name))
                            .filter(leases::holder.eq(&current)),
                    )
                    .set((leases::holder.eq(holder), leases::expires_at.eq(until)))
                    .execute(conn)?;
                    return Ok(taken > 0);
                }
                let inserted = diesel::insert_into(leases::table)
                    .values((leases::name.eq(name), leases::holder.eq(holder), leases::expires_at.eq(until)))
                    .on_conflict_do_nothing()
                    .execute(conn)?;
                Ok(inserted > 0)
            })?;
            Ok(held)
        })
    }

    pub fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        with_conn!(self, conn => {
            diesel::delete(leases::table.filter(leases::name.eq(name)).filter(leases::holder.eq(holder))).execute(conn)?;
            Ok(())
        })
    }
}
