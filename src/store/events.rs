//! The trail of what happened to people's sessions (`security_events`): the kinds of
//! event, who acted and from where, and the reads of a person's latest events. Each
//! event is written by the statement that makes the change it records (see the
//! statements of `sessions`, `users` and `logout_tokens`), so an action and its event
//! commit together or not at all.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rocket_db_pools::sqlx::{self, Row};
use uuid::Uuid;

use super::Store;
use crate::session::device::Device;

/// A person's latest events, newest first.
pub(super) const RECENT: &str = "
    SELECT id, kind, occurred_at, session_id, admin_id, provider, device, host(ip) AS ip, sessions, new_device
      FROM {schema}.security_events
     WHERE user_id = $1
     ORDER BY occurred_at DESC, id
     LIMIT $2";

/// Clears a session's pending new-device notice, returning what it shows; no row when
/// another request showed it first (so it is shown once however many pages open at once).
#[cfg(feature = "pages")]
pub(super) const TAKE_NOTICE: &str = "
    UPDATE {schema}.sessions SET new_device_notice = false
     WHERE id = $1 AND new_device_notice
 RETURNING user_agent, host(ip) AS ip, created_at";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// A sign-in: a new session.
    SignIn,
    /// The person signed out of one device.
    SignOut,
    /// One session revoked (by the person from another device, or by an admin).
    RevokeOne,
    /// Every session but the current one revoked.
    RevokeOthers,
    /// Every session revoked, the current one included ("sign out everywhere", or an
    /// admin's "revoke all").
    RevokeEverywhere,
    /// The provider ended sessions through back-channel logout (one event per user).
    BackchannelLogout,
    /// The provider refused to refresh a session's tokens (or the profile hook refused
    /// the refreshed claims): the session ended.
    RefreshRefused,
    /// A new sign-in in the same browser ended the session its cookie named.
    Replaced,
    /// A new sign-in ended the person's oldest session, past `auth.session.max_per_user`.
    Evicted,
}

impl EventKind {
    const ALL: [EventKind; 9] = [
        EventKind::SignIn,
        EventKind::SignOut,
        EventKind::RevokeOne,
        EventKind::RevokeOthers,
        EventKind::RevokeEverywhere,
        EventKind::BackchannelLogout,
        EventKind::RefreshRefused,
        EventKind::Replaced,
        EventKind::Evicted,
    ];

    /// As `security_events.kind` holds it (and the JSON API says it).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SignIn => "sign_in",
            EventKind::SignOut => "sign_out",
            EventKind::RevokeOne => "revoke_one",
            EventKind::RevokeOthers => "revoke_others",
            EventKind::RevokeEverywhere => "revoke_everywhere",
            EventKind::BackchannelLogout => "backchannel_logout",
            EventKind::RefreshRefused => "refresh_refused",
            EventKind::Replaced => "replaced",
            EventKind::Evicted => "evicted",
        }
    }

    fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Who acted, as an event keeps it: an admin (or the person), from which device and
/// address. Nobody's request at all (the provider acted): the default.
#[derive(Debug, Clone, Default)]
pub(crate) struct Actor {
    /// The administrator, for an action of the admin console.
    pub admin_id: Option<Uuid>,
    /// The request's device label ("Firefox on Linux"); never the user agent itself.
    pub device: Option<String>,
    pub ip: Option<IpAddr>,
}

impl Actor {
    /// The person (or admin) behind a request with this user agent and address.
    pub fn at(user_agent: Option<&str>, ip: Option<IpAddr>) -> Actor {
        Actor { admin_id: None, device: Some(Device::of(user_agent).label), ip }
    }

    /// The same request, made by the administrator `admin_id`.
    pub fn admin(self, admin_id: Uuid) -> Actor {
        Actor { admin_id: Some(admin_id), ..self }
    }

    /// `ip` as the statements bind it (cast to `inet` there).
    pub(super) fn ip_text(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}

/// One event, as read back for a person's recent activity.
#[derive(Debug, Clone)]
pub(crate) struct SecurityEvent {
    pub id: Uuid,
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    pub session_id: Option<Uuid>,
    pub admin_id: Option<Uuid>,
    pub provider: Option<String>,
    pub device: Option<String>,
    pub ip: Option<String>,
    pub sessions: Option<i32>,
    pub new_device: bool,
}

/// A new-device notice just taken off its session: the sign-in it tells of.
#[cfg(feature = "pages")]
#[derive(Debug, Clone)]
pub(crate) struct NewDeviceNotice {
    pub device: Device,
    pub ip: Option<String>,
    pub signed_in_at: DateTime<Utc>,
}

impl Store {
    /// The user's latest `limit` events, newest first.
    pub(crate) async fn recent_events(&self, user_id: Uuid, limit: u32) -> Result<Vec<SecurityEvent>, sqlx::Error> {
        let rows =
            sqlx::query(&self.sql.recent_events).bind(user_id).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let kind = EventKind::parse(&kind).ok_or_else(|| {
                sqlx::Error::Decode(format!("security_events.kind {kind:?} is none latchkey writes").into())
            })?;
            events.push(SecurityEvent {
                id: row.try_get("id")?,
                kind,
                occurred_at: row.try_get("occurred_at")?,
                session_id: row.try_get("session_id")?,
                admin_id: row.try_get("admin_id")?,
                provider: row.try_get("provider")?,
                device: row.try_get("device")?,
                ip: row.try_get("ip")?,
                sessions: row.try_get("sessions")?,
                new_device: row.try_get("new_device")?,
            });
        }
        Ok(events)
    }

    /// Takes the session's pending new-device notice, if it still has one: the one write
    /// of the request that shows it (the lookup read that it was pending).
    #[cfg(feature = "pages")]
    pub(crate) async fn take_new_device_notice(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<NewDeviceNotice>, sqlx::Error> {
        let row = sqlx::query(&self.sql.take_notice).bind(session_id).fetch_optional(&self.pool).await?;
        // The write is announced to every instance; this one drops its copy at once.
        self.forget(user_id, move |id| id == session_id);
        let Some(row) = row else { return Ok(None) };
        Ok(Some(NewDeviceNotice {
            device: Device::of(row.try_get::<Option<String>, _>("user_agent")?.as_deref()),
            ip: row.try_get("ip")?,
            signed_in_at: row.try_get("created_at")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn every_kind_reads_back_as_written() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("sign_in_or_not"), None);
    }
}
