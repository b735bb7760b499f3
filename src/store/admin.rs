//! What the admin console reads: everyone's users, with their live sessions counted, a
//! page at a time, searched by e-mail.

use chrono::{DateTime, Utc};
use rocket_db_pools::sqlx;
use uuid::Uuid;

use super::{ListPage, Store};

/// Users whose e-mail matches (or all), a page of them in e-mail order, each with their
/// live sessions counted and their last activity; with how many match in all.
pub(super) const USERS: &str = "
    WITH matched AS (
        SELECT id, name, email, created_at, count(*) OVER () AS total
          FROM {schema}.users
         WHERE $1::text IS NULL OR lower(email) LIKE $1 ESCAPE '\\'
         ORDER BY lower(email) NULLS LAST, id
         LIMIT $2 OFFSET $3)
    SELECT m.id, m.name, m.email, m.created_at, m.total,
           count(s.id) AS live_sessions, max(s.last_seen_at) AS last_active
      FROM matched m
      LEFT JOIN {schema}.sessions s ON s.user_id = m.id AND s.expires_at > now()
     GROUP BY m.id, m.name, m.email, m.created_at, m.total
     ORDER BY lower(m.email) NULLS LAST, m.id";

pub(super) const USER: &str = "SELECT id, name, email, created_at FROM {schema}.users WHERE id = $1";

/// One user as the admin console lists them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct UserListing {
    pub id: Uuid,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub live_sessions: i64,
    pub last_active: Option<DateTime<Utc>>,
    /// Users matching in all, on every row (a window count).
    pub total: i64,
}

/// One user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct UserRecord {
    pub id: Uuid,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One page of users and how many match in all.
#[derive(Debug)]
pub(crate) struct UserPage {
    pub rows: Vec<UserListing>,
    pub total: u64,
}

impl Store {
    /// A page of the users whose e-mail contains `search` (any case), or of all.
    pub(crate) async fn users(&self, search: Option<&str>, page: ListPage) -> Result<UserPage, sqlx::Error> {
        let pattern = search.map(|text| format!("%{}%", like_escaped(&text.to_lowercase())));
        let rows: Vec<UserListing> = sqlx::query_as(&self.sql.admin_users)
            .bind(pattern)
            .bind(i64::from(ListPage::SIZE))
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        let total = rows.first().map_or(0, |row| u64::try_from(row.total).unwrap_or_default());
        Ok(UserPage { rows, total })
    }

    /// The user `id`, if there is one.
    pub(crate) async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, sqlx::Error> {
        sqlx::query_as(&self.sql.admin_user).bind(id).fetch_optional(&self.pool).await
    }
}

/// `text` with LIKE's wildcards (and the escape character) taken literally.
fn like_escaped(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '\\' | '%' | '_' => vec!['\\', c],
            other => vec![other],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::like_escaped;

    #[test]
    fn wildcards_in_a_search_are_taken_literally() {
        assert_eq!(like_escaped("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(like_escaped("alice@example.com"), "alice@example.com");
    }
}
