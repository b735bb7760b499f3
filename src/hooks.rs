//! What an app adapts: who may sign in and what is kept of them, what `/api/session`
//! answers, and being told what happened. NextAuth's `profile`, `signIn` and `session`
//! callbacks and its `events`, as one trait whose methods all have defaults.

use std::fmt;
use std::net::IpAddr;

use rocket::{Orbit, Rocket};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::guards::AuthenticatedUser;
use crate::roles::Roles;

/// An app's hooks into latchkey, given to [`Latchkey::hooks`](crate::Latchkey::hooks).
/// Every method has a default that does nothing special; implement the ones you need.
/// Each gets the running Rocket, for the app's own state (its database, a mailer).
///
/// ```
/// use latchkey::{Claims, Event, Hooks, Profile, Refusal, SignIn};
/// use rocket::{Orbit, Rocket};
///
/// struct OnlyOurDomain;
///
/// #[latchkey::async_trait]
/// impl Hooks for OnlyOurDomain {
///     async fn profile(&self, sign_in: &SignIn<'_>, mut profile: Profile, _: &Rocket<Orbit>)
///         -> Result<Profile, Refusal>
///     {
///         // Keep the person's locale with their user, for every request to read.
///         if let Some(locale) = sign_in.claims.str("locale") {
///             profile.extra.insert("locale".into(), locale.into());
///         }
///         Ok(profile)
///     }
///
///     async fn allow_sign_in(&self, _: &SignIn<'_>, profile: &Profile, _: &Rocket<Orbit>)
///         -> Result<(), Refusal>
///     {
///         match profile.email.as_deref() {
///             Some(email) if profile.email_verified && email.ends_with("@example.com") => Ok(()),
///             _ => Err(Refusal::new("Only people of example.com may sign in here.")),
///         }
///     }
///
///     async fn on_event(&self, event: &Event, _: &Rocket<Orbit>) {
///         if let Event::SignedIn { user_id, new_user: true, .. } = event {
///             println!("welcome, {user_id}");
///         }
///     }
/// }
/// ```
#[rocket::async_trait]
pub trait Hooks: Send + Sync + 'static {
    /// Maps the provider's claims onto what latchkey keeps of the person. `profile` comes
    /// filled from the standard claims (`name`, else `preferred_username`; `email`,
    /// `email_verified`, `picture`); change it, add to its `extra`, or refuse the sign-in.
    /// Runs before anything is written.
    async fn profile(
        &self,
        sign_in: &SignIn<'_>,
        profile: Profile,
        rocket: &Rocket<Orbit>,
    ) -> Result<Profile, Refusal> {
        let _ = (sign_in, rocket);
        Ok(profile)
    }

    /// Decides whether this person may sign in; a refusal's message is shown to them,
    /// and nothing is written. Runs after [`profile`](Hooks::profile).
    async fn allow_sign_in(
        &self,
        sign_in: &SignIn<'_>,
        profile: &Profile,
        rocket: &Rocket<Orbit>,
    ) -> Result<(), Refusal> {
        let _ = (sign_in, profile, rocket);
        Ok(())
    }

    /// Adds to (or changes) the JSON that `/api/session` answers for `user`:
    /// `{ "user": { "id", "name", "email", "image" }, "expires" }` to begin with.
    async fn session(&self, user: &AuthenticatedUser, body: &mut Map<String, Value>, rocket: &Rocket<Orbit>) {
        let _ = (user, body, rocket);
    }

    /// Told after something happened (the rows are already written). The response waits
    /// for it: spawn a task for anything slow.
    async fn on_event(&self, event: &Event, rocket: &Rocket<Orbit>) {
        let _ = (event, rocket);
    }
}

/// The hooks of an app that gives none.
pub(crate) struct NoHooks;

impl Hooks for NoHooks {}

/// A sign-in in progress, verified but not yet written.
#[derive(Debug)]
#[non_exhaustive]
pub struct SignIn<'a> {
    /// The provider's name in the configuration.
    pub provider: &'a str,
    /// The person's id at the provider (`sub`).
    pub subject: &'a str,
    /// The verified ID token's claims.
    pub claims: &'a Claims,
}

/// The claims of a verified ID token, as the provider sent them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Claims(Map<String, Value>);

impl Claims {
    pub(crate) fn new(claims: Map<String, Value>) -> Claims {
        Claims(claims)
    }

    /// Adds the claims of `more` (e.g. from userinfo) that these do not have.
    pub(crate) fn add_missing(&mut self, more: Map<String, Value>) {
        for (name, value) in more {
            self.0.entry(name).or_insert(value);
        }
    }

    /// A top-level claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A top-level claim that is a string.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// A claim inside objects, by a dotted path (`realm_access.roles`), or by a JSON
    /// pointer when the path starts with `/` (`/https:~1~1example.com~1roles`, for claim
    /// names with dots in them).
    pub fn path(&self, path: &str) -> Option<&Value> {
        if let Some(pointer) = path.strip_prefix('/') {
            let (first, rest) = pointer.split_once('/').unwrap_or((pointer, ""));
            let first = self.0.get(&first.replace("~1", "/").replace("~0", "~"))?;
            return if rest.is_empty() { Some(first) } else { first.pointer(&format!("/{rest}")) };
        }
        let mut parts = path.split('.');
        let first = self.0.get(parts.next()?)?;
        parts.try_fold(first, |value, part| value.get(part))
    }

    /// The strings at `path` (a list of them, or one).
    pub fn strings(&self, path: &str) -> Vec<String> {
        match self.path(path) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        }
    }

    /// All of them.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// What latchkey keeps of a person, refreshed from the provider at each sign-in.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Profile {
    /// Display name.
    pub name: Option<String>,
    /// E-mail address (unique among users, whatever its case).
    pub email: Option<String>,
    /// Whether the provider says the e-mail is verified.
    pub email_verified: bool,
    /// Picture URL.
    pub image: Option<String>,
    /// The app's own fields: read with the session on every request (keep it small),
    /// on [`AuthenticatedUser::extra`].
    pub extra: Map<String, Value>,
    /// The person's roles and groups as the provider's claims say (kept with the new
    /// session, not the user: they are what this sign-in proved).
    pub roles: Roles,
}

/// A sign-in refused by a hook, with the message the person is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    message: String,
}

impl Refusal {
    /// A refusal; `message` is shown to the person on the error page (and in the JSON).
    pub fn new(message: impl Into<String>) -> Refusal {
        Refusal { message: message.into() }
    }

    /// The message shown to the person.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Something that happened, for [`Hooks::on_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A person signed in: a new session.
    SignedIn {
        /// The user (new, or found by account or linked e-mail).
        user_id: Uuid,
        /// The new session.
        session_id: Uuid,
        /// The provider's name.
        provider: String,
        /// Whether this sign-in created the user.
        new_user: bool,
    },
    /// A person signed in from a browser and system ("Firefox on Linux") they had not
    /// signed in from before: heard right after its [`Event::SignedIn`], so that an app
    /// can tell them (by mail, say). Not for a user's first sign-in, which has nothing
    /// to compare with; a device unused for longer than `auth.security_events.retention`
    /// counts as new again.
    NewDevice {
        /// The user.
        user_id: Uuid,
        /// The new session.
        session_id: Uuid,
        /// The device's label ("Firefox on Linux").
        device: String,
        /// The address it signed in from.
        ip: Option<IpAddr>,
    },
    /// A person signed out of this device.
    SignedOut {
        /// The user.
        user_id: Uuid,
        /// The session that ended.
        session_id: Uuid,
    },
    /// A person revoked sessions of their own.
    Revoked {
        /// The user.
        user_id: Uuid,
        /// Which.
        revoked: Revoked,
    },
    /// An admin revoked sessions of a user (through the admin console).
    AdminRevoked {
        /// The admin.
        admin_id: Uuid,
        /// Whose sessions.
        user_id: Uuid,
        /// Which.
        revoked: Revoked,
    },
    /// The provider ended sessions through back-channel logout.
    BackchannelLogout {
        /// The provider's name.
        provider: String,
        /// How many sessions ended.
        sessions: u64,
    },
    /// A session's tokens were refreshed at its provider (an access token was about to
    /// expire, or the session was due to be confirmed).
    TokensRefreshed {
        /// The user.
        user_id: Uuid,
        /// The session.
        session_id: Uuid,
        /// The provider's name.
        provider: String,
    },
    /// The provider refused to refresh a session's tokens (its own session ended, the
    /// person was disabled, or the token revoked), or the app's `profile` hook refused
    /// the refreshed claims: the session ended.
    RefreshRefused {
        /// The user.
        user_id: Uuid,
        /// The session that ended.
        session_id: Uuid,
        /// The provider's name.
        provider: String,
    },
}

/// Which sessions a person revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revoked {
    /// One session, from another device.
    One {
        /// The session.
        session_id: Uuid,
    },
    /// Every session but the current one.
    Others {
        /// How many.
        count: u64,
    },
    /// Every session, this one included ("sign out everywhere").
    Everywhere {
        /// How many.
        count: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_are_found_by_name_and_by_dotted_path() {
        let Value::Object(map) = json!({ "sub": "x", "realm_access": { "roles": ["admin"] } }) else {
            panic!("an object")
        };
        let claims = Claims::new(map);
        assert_eq!(claims.str("sub"), Some("x"));
        assert_eq!(claims.path("realm_access.roles"), Some(&json!(["admin"])));
        assert_eq!(claims.path("realm_access.missing"), None);
        assert_eq!(claims.path("sub.deeper"), None);
    }

    #[test]
    fn a_json_pointer_reaches_claim_names_with_dots_and_strings_come_as_a_list() {
        let Value::Object(map) = json!({
            "https://example.com/roles": ["editor", 7, "viewer"],
            "realm_access": { "roles": "admin" },
        }) else {
            panic!("an object")
        };
        let claims = Claims::new(map);
        assert_eq!(claims.strings("/https:~1~1example.com~1roles"), ["editor", "viewer"]);
        assert_eq!(claims.strings("/realm_access/roles"), ["admin"]);
        assert_eq!(claims.strings("realm_access.roles"), ["admin"]);
        assert!(claims.strings("nothing.here").is_empty());
    }
}
