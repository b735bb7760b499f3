//! The app's lookup statement, as the app runs it: the one statement a guarded request
//! executes, found by its calls in pg_stat_statements and read back from there, with the
//! parameter types PostgreSQL infers for it. pgbench and the plan are built from it.
//!
//! pg_stat_statements keeps a statement's text normalised: the app's own parameters stay
//! `$1`..`$4` (the token's hash and the three session lifetimes, bound by the bench as
//! the app binds them), and any literal in the text becomes a further placeholder (`$5`,
//! …) whose value is not kept. Those are bound to a stand-in of their type, as
//! parameters, which gives the statement the same plan.

use sqlx::{PgConnection, Row};

use crate::app::Lifetimes;
use crate::database::Calls;
use crate::error::{bail, Context, Result};

/// The types the bench binds the app's parameters with: the SHA-256 of the cookie, and
/// the lifetimes in seconds (`make_interval(secs => …)`).
const APP_PARAMETERS: [&str; 4] = ["bytea", "double precision", "double precision", "double precision"];

#[derive(Debug, Clone)]
pub struct Lookup {
    pub queryid: i64,
    /// As pg_stat_statements keeps it.
    pub text: String,
    /// Of `$1`, `$2`, … as PostgreSQL infers them.
    pub parameter_types: Vec<String>,
}

/// The statement that ran once for each of `requests` single guarded requests.
pub fn find(ran: &Calls, requests: i64) -> Result<i64> {
    match ran.iter().collect::<Vec<_>>().as_slice() {
        [(queryid, calls)] if **calls == requests => Ok(**queryid),
        _ => bail!("the guarded requests did not run one statement each ({ran:?} for {requests} requests)"),
    }
}

impl Lookup {
    /// Reads the parameter types by preparing the text on `connection` (PREPARE infers
    /// them), and checks that they are the app's.
    pub async fn new(connection: &mut PgConnection, queryid: i64, text: String) -> Result<Lookup> {
        sqlx::raw_sql(&format!("PREPARE bench_lookup AS {text}"))
            .execute(&mut *connection)
            .await
            .with_context(|| format!("preparing the lookup as pg_stat_statements recorded it:\n{text}"))?;
        let types: Result<Vec<String>> = sqlx::query_scalar(
            "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = 'bench_lookup'",
        )
        .fetch_one(&mut *connection)
        .await
        .context("reading the lookup's parameter types");
        sqlx::raw_sql("DEALLOCATE bench_lookup").execute(&mut *connection).await.context("DEALLOCATE")?;
        let lookup = Lookup { queryid, text, parameter_types: types? };
        lookup.check()?;
        Ok(lookup)
    }

    fn check(&self) -> Result<()> {
        let app = &self.parameter_types[..APP_PARAMETERS.len().min(self.parameter_types.len())];
        if app != APP_PARAMETERS {
            bail!(
                "the lookup's parameters are ({}), where the bench binds ({}):\n{}",
                self.parameter_types.join(", "),
                APP_PARAMETERS.join(", "),
                self.text
            );
        }
        self.stand_ins().map(|_| ())
    }

    /// `(n, value)` for each placeholder after the app's parameters: a literal that
    /// pg_stat_statements normalised, bound to a value of its type.
    pub fn stand_ins(&self) -> Result<Vec<(usize, &'static str)>> {
        let mut stand_ins = Vec::new();
        for (index, kind) in self.parameter_types.iter().enumerate().skip(APP_PARAMETERS.len()) {
            let value = match kind.as_str() {
                "boolean" => "false",
                "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => "0",
                other => bail!(
                    "the lookup has a literal of type {other} (${}), which the bench cannot stand in for",
                    index + 1
                ),
            };
            stand_ins.push((index + 1, value));
        }
        Ok(stand_ins)
    }

    /// The pgbench script: `$1` is computed in SQL from a random one of the `k` cookie
    /// numbers spread over `size` sessions (two SHA-256 and a base64 encoding, a few µs,
    /// slightly in the app's favour), `$2`–`$4` are pgbench variables with the app's
    /// settings, and the normalised literals are variables `lit<n>`. pgbench turns
    /// variables into parameters (`-M prepared`). One transaction = one statement.
    pub fn pgbench_script(&self, token_hash_sql: impl Fn(&str) -> String) -> Result<String> {
        let body = substitute(&self.text, |n| match n {
            1 => Some(token_hash_sql(":n")),
            2 => Some(":max_age".into()),
            3 => Some(":update_age".into()),
            4 => Some(":activity".into()),
            n if n <= self.parameter_types.len() => Some(format!(":lit{n}")),
            _ => None,
        })?;
        Ok(format!("\\set i random(0, :k - 1)\n\\set n 1 + (:i * :size) / :k\n{body}\n;\n"))
    }

    /// pgbench's -D definitions of the lifetimes and the stand-ins.
    pub fn pgbench_variables(&self, lifetimes: &Lifetimes) -> Result<Vec<String>> {
        let mut variables = vec![
            format!("max_age={}", lifetimes.max_age_s),
            format!("update_age={}", lifetimes.update_age_s),
            format!("activity={}", lifetimes.activity_s),
        ];
        variables.extend(self.stand_ins()?.into_iter().map(|(n, value)| format!("lit{n}={value}")));
        Ok(variables)
    }

    /// The plan of the lookup at the current size, as the app runs it: a prepared
    /// statement, which after five executions PostgreSQL may run with its generic plan,
    /// so that one is shown (EXPLAIN ANALYZE, with buffers).
    pub async fn explain(
        &self,
        connection: &mut PgConnection,
        token_hash_sql: &str,
        lifetimes: &Lifetimes,
    ) -> Result<Vec<String>> {
        let mut arguments = vec![
            token_hash_sql.to_string(),
            lifetimes.max_age_s.to_string(),
            lifetimes.update_age_s.to_string(),
            lifetimes.activity_s.to_string(),
        ];
        arguments.extend(self.stand_ins()?.into_iter().map(|(_, value)| value.to_string()));
        let execute = format!("EXECUTE bench_lookup({})", arguments.join(", "));
        for statement in [
            "SET plan_cache_mode = force_generic_plan".to_string(),
            format!("PREPARE bench_lookup AS {}", self.text),
            execute.clone(),
        ] {
            sqlx::raw_sql(&statement)
                .execute(&mut *connection)
                .await
                .with_context(|| format!("EXPLAIN: {statement}"))?;
        }
        let plan = sqlx::raw_sql(&format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {execute}"))
            .fetch_all(&mut *connection)
            .await
            .context("EXPLAIN ANALYZE of the lookup");
        for statement in ["DEALLOCATE bench_lookup", "RESET plan_cache_mode"] {
            sqlx::raw_sql(statement)
                .execute(&mut *connection)
                .await
                .with_context(|| format!("EXPLAIN: {statement}"))?;
        }
        plan?.iter().map(|row| row.try_get::<String, _>(0).context("reading the plan")).collect()
    }
}

/// `sql` with each placeholder `$n` replaced by `replace(n)`; fails on one that `replace`
/// has nothing for. Placeholders inside quoted strings, quoted identifiers, dollar-quoted
/// strings and comments are left alone, as is a `$` inside an identifier.
pub fn substitute(sql: &str, replace: impl Fn(usize) -> Option<String>) -> Result<String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &sql[i..];
        if let Some(end) = quoted_length(rest) {
            out.push_str(&rest[..end]);
            i += end;
            continue;
        }
        let in_identifier =
            i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b'$');
        if bytes[i] == b'$' && !in_identifier {
            let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                let n: usize = rest[1..=digits].parse().context("a placeholder number")?;
                let replacement = replace(n)
                    .with_context(|| format!("the statement has a placeholder ${n} the bench cannot bind"))?;
                out.push_str(&replacement);
                i += 1 + digits;
                continue;
            }
        }
        let c = rest.chars().next().context("text ended inside a character")?;
        out.push(c);
        i += c.len_utf8();
    }
    Ok(out)
}

/// The length of the quoted string, quoted identifier, comment or dollar-quoted string
/// that `text` starts with, if it starts with one: copied as it is.
fn quoted_length(text: &str) -> Option<usize> {
    if text.starts_with('\'') || text.starts_with('"') {
        let quote = &text[..1];
        // A doubled quote is an escaped one: skip pairs.
        let mut end = 1;
        return loop {
            match text[end..].find(quote) {
                Some(at) if text[end + at + 1..].starts_with(quote) => end += at + 2,
                Some(at) => break Some(end + at + 1),
                None => break Some(text.len()),
            }
        };
    }
    if text.starts_with("--") {
        return Some(text.find('\n').unwrap_or(text.len()));
    }
    if let Some(comment) = text.strip_prefix("/*") {
        return Some(comment.find("*/").map_or(text.len(), |at| at + 4));
    }
    let tag = dollar_quote_tag(text)?;
    Some(text[tag.len()..].find(tag).map_or(text.len(), |at| at + 2 * tag.len()))
}

/// `$$` or `$tag$` at the start of `text`, opening a dollar-quoted string.
fn dollar_quote_tag(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('$')?;
    let length = inner.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    let starts_with_digit = inner.bytes().next().is_some_and(|b| b.is_ascii_digit());
    (inner[length..].starts_with('$') && !starts_with_digit).then(|| &text[..length + 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(types: &[&str]) -> Lookup {
        Lookup {
            queryid: 7,
            text: "SELECT a FROM \"latchkey\".sessions WHERE token_hash = $1 AND x > make_interval(secs => $2) \
                   AND y < make_interval(secs => $3) + make_interval(secs => $4) AND COALESCE(z, $5)"
                .into(),
            parameter_types: types.iter().map(|t| t.to_string()).collect(),
        }
    }

    const TYPES: [&str; 5] = ["bytea", "double precision", "double precision", "double precision", "boolean"];

    #[test]
    fn placeholders_are_replaced_outside_quotes_and_comments() {
        let sql = "SELECT $1, '$1', \"a$1\", a$1, $$ $2 $$, $q$ $2 $q$, -- $3\n $10 /* $4 */, 'it''s $1'";
        let out = substitute(sql, |n| Some(format!("<{n}>"))).unwrap();
        assert_eq!(out, "SELECT <1>, '$1', \"a$1\", a$1, $$ $2 $$, $q$ $2 $q$, -- $3\n <10> /* $4 */, 'it''s $1'");
    }

    #[test]
    fn an_unbindable_placeholder_is_refused() {
        assert!(substitute("SELECT $1, $2", |n| (n == 1).then(|| "x".to_string())).is_err());
    }

    #[test]
    fn the_lookup_of_a_guarded_request() {
        let ran: Calls = [(42, 25)].into_iter().collect();
        assert_eq!(find(&ran, 25).unwrap(), 42);
        let two: Calls = [(42, 25), (43, 1)].into_iter().collect();
        assert!(find(&two, 25).is_err());
        assert!(find(&ran, 24).is_err());
    }

    #[test]
    fn pgbench_script_binds_the_apps_parameters_and_stands_in_for_literals() {
        let lookup = lookup(&TYPES);
        lookup.check().unwrap();
        let script = lookup.pgbench_script(|n| format!("hash({n})")).unwrap();
        assert!(script.starts_with("\\set i random(0, :k - 1)\n\\set n 1 + (:i * :size) / :k\n"));
        assert!(script.contains("token_hash = hash(:n) AND x > make_interval(secs => :max_age)"));
        assert!(script.contains("make_interval(secs => :update_age) + make_interval(secs => :activity)"));
        assert!(script.contains("COALESCE(z, :lit5)"));
        assert!(script.ends_with("\n;\n"));
        let variables = lookup.pgbench_variables(&crate::app::LIFETIMES).unwrap();
        assert_eq!(variables, ["max_age=2592000", "update_age=86400", "activity=300", "lit5=false"]);
    }

    #[test]
    fn other_parameters_than_the_apps_are_refused() {
        assert!(lookup(&["text", "double precision", "double precision", "double precision", "boolean"])
            .check()
            .is_err());
        assert!(lookup(&["bytea", "double precision"]).check().is_err());
        assert!(lookup(&["bytea", "double precision", "double precision", "double precision", "jsonb"])
            .check()
            .is_err());
    }
}
