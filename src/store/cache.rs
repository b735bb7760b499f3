//! An in-process cache of resolved sessions that keeps revocation instant across
//! instances.
//!
//! PostgreSQL announces every change that makes a cached session wrong (triggers on
//! `sessions` and `users`, see the migrations) on the channel `lk_<schema>`; each instance
//! listens and drops what changed. The cache is used only while the listener is known to
//! be in step: it sends itself a heartbeat notice through the pool every
//! [`HEARTBEAT_EVERY`], and PostgreSQL delivers notices in commit order, so receiving one
//! proves that every change committed before it was sent has been seen. When no
//! heartbeat has come back for [`IN_STEP_FOR`] (the listener's connection is down, or
//! silently cut), lookups go to the database until it has reconnected and the cache has
//! been emptied.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use uuid::Uuid;

use super::CurrentSession;

/// How often the listener sends itself a heartbeat.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_millis(250);
/// How long after its last heartbeat came back the cache may still be used.
pub(crate) const IN_STEP_FOR: Duration = Duration::from_secs(1);

/// A resolved session as the cache keeps it: what the guard hands out, and when it was
/// last stamped (the write that follows is guarded by it).
#[derive(Debug, Clone)]
pub(crate) struct CachedSession {
    pub session: CurrentSession,
    pub last_seen_at: DateTime<Utc>,
}

/// Resolved sessions by token hash, and whether they can be trusted right now.
#[derive(Clone)]
pub(crate) struct SessionCache {
    entries: Cache<[u8; 32], Arc<CachedSession>>,
    sync: Arc<StepState>,
}

struct StepState {
    /// Bumped by every invalidation: a lookup that read the database inserts its row
    /// only if none happened meanwhile (the notice may have overtaken the read).
    generation: AtomicU64,
    /// When (nanoseconds after `epoch`) the newest heartbeat that came back was sent; 0:
    /// never (not in step).
    in_step_since: AtomicU64,
    epoch: Instant,
    /// Heartbeats sent and not yet back: sequence number and when.
    sent: Mutex<Vec<(u64, Instant)>>,
}

/// What a notice on the channel says changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// A session, by the SHA-256 of its token.
    Session([u8; 32]),
    /// A user (all their sessions).
    User(Uuid),
    /// Everything (the table was truncated).
    All,
    /// A heartbeat came back.
    Heartbeat(u64),
}

impl Notice {
    /// Reads a notice's payload; `None` for anything else.
    pub fn parse(payload: &str) -> Option<Notice> {
        let (kind, rest) = payload.split_at_checked(1)?;
        match kind {
            "s" => {
                let mut hash = [0u8; 32];
                let bytes = rest.as_bytes();
                if bytes.len() != 64 {
                    return None;
                }
                for (at, pair) in bytes.chunks(2).enumerate() {
                    let pair = std::str::from_utf8(pair).ok()?;
                    hash[at] = u8::from_str_radix(pair, 16).ok()?;
                }
                Some(Notice::Session(hash))
            }
            "u" => rest.parse().ok().map(Notice::User),
            "*" => Some(Notice::All),
            "h" => rest.parse().ok().map(Notice::Heartbeat),
            _ => None,
        }
    }
}

impl SessionCache {
    pub fn new(capacity: u64) -> SessionCache {
        let entries = Cache::builder().max_capacity(capacity).support_invalidation_closures().build();
        let sync = StepState {
            generation: AtomicU64::new(0),
            in_step_since: AtomicU64::new(0),
            epoch: Instant::now(),
            sent: Mutex::new(Vec::new()),
        };
        SessionCache { entries, sync: Arc::new(sync) }
    }

    /// Whether the listener was in step within [`IN_STEP_FOR`].
    pub fn in_step(&self) -> bool {
        let since = self.sync.in_step_since.load(Ordering::Acquire);
        since != 0 && self.sync.epoch.elapsed().saturating_sub(Duration::from_nanos(since)) < IN_STEP_FOR
    }

    /// The cached session of `hash`, when the cache can be trusted.
    pub fn get(&self, hash: &[u8; 32]) -> Option<Arc<CachedSession>> {
        if self.in_step() {
            self.entries.get(hash)
        } else {
            None
        }
    }

    /// The invalidation count, to pass to [`insert`](Self::insert) after a read.
    pub fn generation(&self) -> u64 {
        self.sync.generation.load(Ordering::Acquire)
    }

    /// Keeps what a read returned, unless something was invalidated since
    /// [`generation`](Self::generation) said `seen` (or the cache is not in step).
    pub fn insert(&self, hash: [u8; 32], entry: CachedSession, seen: u64) {
        if self.in_step() && self.generation() == seen {
            self.entries.insert(hash, Arc::new(entry));
            // An invalidation between the check and the insert: undo, to be safe.
            if self.generation() != seen {
                self.entries.invalidate(&hash);
            }
        }
    }

    /// Drops one session.
    pub fn forget(&self, hash: &[u8; 32]) {
        self.sync.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(hash);
    }

    /// Drops the sessions of `user_id` that `matches` (this instance's own revocations
    /// need not wait for their notice).
    pub fn forget_where(&self, user_id: Uuid, matches: impl Fn(Uuid) -> bool + Send + Sync + 'static) {
        self.sync.generation.fetch_add(1, Ordering::AcqRel);
        let predicate = move |_: &[u8; 32], entry: &Arc<CachedSession>| {
            entry.session.user_id == user_id && matches(entry.session.session_id)
        };
        if self.entries.invalidate_entries_if(predicate).is_err() {
            self.entries.invalidate_all();
        }
    }

    /// Acts on a notice from the channel.
    pub fn apply(&self, notice: Notice) {
        match notice {
            Notice::Session(hash) => self.forget(&hash),
            Notice::User(user_id) => self.forget_where(user_id, |_| true),
            Notice::All => self.clear(),
            Notice::Heartbeat(seq) => self.heartbeat_back(seq),
        }
    }

    /// Empties the cache (after the listener reconnected, or when it falls out of step).
    pub fn clear(&self) {
        self.sync.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// Not in step any more (the listener's connection is gone): nothing is served from
    /// the cache until a heartbeat comes back over a new connection.
    pub fn out_of_step(&self) {
        self.sync.in_step_since.store(0, Ordering::Release);
        self.clear();
    }

    /// Records a heartbeat about to be sent.
    pub fn heartbeat_sent(&self, seq: u64) {
        let mut sent = self.sync.sent.lock().unwrap_or_else(PoisonError::into_inner);
        sent.push((seq, Instant::now()));
        // Heartbeats that never came back (a lost connection) are not kept forever.
        if sent.len() > 64 {
            sent.remove(0);
        }
    }

    fn heartbeat_back(&self, seq: u64) {
        let sent_at = {
            let mut sent = self.sync.sent.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(at) = sent.iter().position(|(sent_seq, _)| *sent_seq == seq) else { return };
            let (_, sent_at) = sent[at];
            sent.drain(..=at);
            sent_at
        };
        let nanos = u64::try_from(sent_at.duration_since(self.sync.epoch).as_nanos()).unwrap_or(u64::MAX).max(1);
        self.sync.in_step_since.fetch_max(nanos, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user_id: Uuid) -> CachedSession {
        let now = Utc::now();
        CachedSession {
            session: CurrentSession {
                session_id: Uuid::new_v4(),
                user_id,
                provider: "p".into(),
                created_at: now,
                expires_at: now,
                absolute_expires_at: now,
                extended: false,
                name: None,
                email: None,
                image: None,
                extra: Default::default(),
                roles: Default::default(),
                tokens: Default::default(),
                auth_time: None,
                new_device_notice: false,
            },
            last_seen_at: now,
        }
    }

    fn in_step_cache() -> SessionCache {
        let cache = SessionCache::new(100);
        cache.heartbeat_sent(1);
        cache.apply(Notice::Heartbeat(1));
        cache
    }

    #[test]
    fn notices_read_back_what_the_triggers_write() {
        let hex = "00".repeat(31) + "ff";
        let mut hash = [0u8; 32];
        hash[31] = 255;
        assert_eq!(Notice::parse(&format!("s{hex}")), Some(Notice::Session(hash)));
        let user = Uuid::new_v4();
        assert_eq!(Notice::parse(&format!("u{user}")), Some(Notice::User(user)));
        assert_eq!(Notice::parse("*"), Some(Notice::All));
        assert_eq!(Notice::parse("h42"), Some(Notice::Heartbeat(42)));
        for junk in ["", "s", "sxyz", &format!("s{hex}0"), "unot-a-uuid", "x1", "hé", "s\u{e9}"] {
            assert_eq!(Notice::parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn nothing_is_served_before_a_heartbeat_came_back() {
        let cache = SessionCache::new(100);
        cache.insert([1; 32], entry(Uuid::new_v4()), cache.generation());
        assert!(!cache.in_step() && cache.get(&[1; 32]).is_none());
        cache.heartbeat_sent(1);
        cache.apply(Notice::Heartbeat(1));
        assert!(cache.in_step());
    }

    #[test]
    fn a_read_overtaken_by_an_invalidation_is_not_kept() {
        let cache = in_step_cache();
        let seen = cache.generation();
        cache.apply(Notice::Session([2; 32]));
        cache.insert([1; 32], entry(Uuid::new_v4()), seen);
        assert!(cache.get(&[1; 32]).is_none());
        cache.insert([1; 32], entry(Uuid::new_v4()), cache.generation());
        assert!(cache.get(&[1; 32]).is_some());
    }

    #[test]
    fn notices_drop_a_session_or_all_of_a_users() {
        let cache = in_step_cache();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        for (key, user) in [([1; 32], alice), ([2; 32], alice), ([3; 32], bob)] {
            cache.insert(key, entry(user), cache.generation());
        }
        cache.apply(Notice::Session([3; 32]));
        assert!(cache.get(&[3; 32]).is_none() && cache.get(&[1; 32]).is_some());
        cache.apply(Notice::User(alice));
        cache.entries.run_pending_tasks();
        assert!(cache.get(&[1; 32]).is_none() && cache.get(&[2; 32]).is_none());
    }

    #[test]
    fn out_of_step_serves_nothing_until_the_next_heartbeat() {
        let cache = in_step_cache();
        cache.insert([1; 32], entry(Uuid::new_v4()), cache.generation());
        cache.out_of_step();
        assert!(cache.get(&[1; 32]).is_none());
        cache.heartbeat_sent(2);
        cache.apply(Notice::Heartbeat(2));
        assert!(cache.get(&[1; 32]).is_none(), "emptied, not just paused");
    }
}
