//! Bulk seeding: any number of models inserted by one SQL statement that generates its rows
//! (a recursive CTE on SQLite, `generate_series` on PostgreSQL), rows exactly like the
//! service's own.

use anyhow::Result;
// Every dynamic statement below is built from this file's constants, the bench's own prefixes
// and statuses, and the demo project's id; never from outside input.
use sea_orm::sqlx::{self, AssertSqlSafe};

use super::Pool;

/// The columns a seeded row fills, in the order of the statements' values.
const COLUMNS: &str = "id, project_id, name, description, status, architecture, parameter_count, \
                       context_length, license, tags, shared, shared_at, unshared_at, version, \
                       created_at, updated_at";

/// The models one statement inserts (see [`Pool::seed_models`]).
struct Seed<'a> {
    project: &'a str,
    prefix: &'a str,
    count: u64,
    shared: bool,
    status: &'a str,
}

impl Seed<'_> {
    /// The values from `project_id` to `tags` of the row numbered by the SQL expression `i`.
    ///
    /// The fields vary with coprime periods, so that filters combine independently: seven
    /// architectures (and a rare eighth, one model in 1,009), five licenses, six context lengths
    /// (one in each of the service's context buckets, two in 8K–32K), 241 parameter counts from
    /// 0.5B to 120.5B in steps of 0.5B (every parameter bucket), a family tag of three, a `t0`…`t10`
    /// tag of eleven and `instruct` on every fourth. The name is `{prefix}-{i}` then an adjective
    /// of thirteen, the architecture and a word of the family (`cat-12 swift qwen coder`), so a
    /// search of one, two or three words matches a known share of the names; the description
    /// names the architecture and the family again (ranked search finds them there too).
    fn common(&self, i: &str) -> String {
        let Seed {
            project,
            prefix,
            status,
            ..
        } = self;
        let architecture = format!(
            "CASE WHEN {i} % 1009 = 5 THEN 'mamba' ELSE CASE {i} % 7 WHEN 0 THEN 'llama' \
             WHEN 1 THEN 'mistral' WHEN 2 THEN 'qwen' WHEN 3 THEN 'gemma' WHEN 4 THEN 'phi' \
             WHEN 5 THEN 'falcon' ELSE 'mixtral' END END"
        );
        let family =
            format!("CASE {i} % 3 WHEN 0 THEN 'chat' WHEN 1 THEN 'code' ELSE 'vision' END");
        let noun = format!("CASE {i} % 3 WHEN 0 THEN 'chat' WHEN 1 THEN 'coder' ELSE 'vision' END");
        let adjective = format!(
            "CASE {i} % 13 WHEN 0 THEN 'swift' WHEN 1 THEN 'bright' WHEN 2 THEN 'tiny' \
             WHEN 3 THEN 'deep' WHEN 4 THEN 'open' WHEN 5 THEN 'nimble' WHEN 6 THEN 'quiet' \
             WHEN 7 THEN 'bold' WHEN 8 THEN 'lucid' WHEN 9 THEN 'decoded' WHEN 10 THEN 'calm' \
             WHEN 11 THEN 'keen' ELSE 'sturdy' END"
        );
        format!(
            "'{project}', '{prefix}-' || {i} || ' ' || {adjective} || ' ' || {architecture} || ' ' || {noun}, \
             'Benchmark model ' || {i} || ' of the {prefix} set, a fine-tuned ' || {architecture} || \
             ' checkpoint for ' || {family} || ' tasks.', '{status}', \
             {architecture}, \
             CAST((({i} % 241) + 1) AS BIGINT) * 500000000, \
             CASE {i} % 6 WHEN 0 THEN 2048 WHEN 1 THEN 4096 WHEN 2 THEN 8192 WHEN 3 THEN 16384 \
             WHEN 4 THEN 32768 ELSE 131072 END, \
             CASE {i} % 5 WHEN 0 THEN 'apache-2.0' WHEN 1 THEN 'mit' WHEN 2 THEN 'llama3' \
             WHEN 3 THEN 'gemma' ELSE 'cc-by-nc-4.0' END, \
             '[\"' || {family} || '\",\"t' || ({i} % 11) || '\"' || \
             CASE WHEN {i} % 4 = 0 THEN ',\"instruct\"' ELSE '' END || ']'"
        )
    }

    /// The SQLite statement: ids `randomblob(16)`, booleans 0 and 1, timestamps RFC 3339 text.
    fn sqlite(&self) -> String {
        let (count, columns) = (self.count, COLUMNS);
        let ts = "'%Y-%m-%dT%H:%M:%S+00:00'";
        let shared_at = if self.shared {
            format!("strftime({ts}, 'now', '-' || i || ' seconds')")
        } else {
            "NULL".into()
        };
        format!(
            "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {count}) \
             INSERT INTO models ({columns}) SELECT randomblob(16), {common}, {shared}, {shared_at}, NULL, \
             {version}, strftime({ts}, 'now', '-2 days'), strftime({ts}, 'now', '-1 days') FROM s",
            common = self.common("i"),
            shared = i32::from(self.shared),
            version = i32::from(self.shared),
        )
    }

    /// The PostgreSQL statement: ids `gen_random_uuid()`, timestamps truncated to the second.
    fn postgres(&self) -> String {
        let (shared, columns) = (self.shared, COLUMNS);
        let shared_at = if shared {
            "date_trunc('second', now()) - make_interval(secs => i)"
        } else {
            "NULL"
        };
        format!(
            "INSERT INTO models ({columns}) SELECT gen_random_uuid(), {common}, {shared}, {shared_at}, \
             NULL, {version}, date_trunc('second', now()) - interval '2 days', \
             date_trunc('second', now()) - interval '1 day' FROM generate_series(0, {last}) AS i",
            common = self.common("i"),
            version = i32::from(shared),
            last = self.count.saturating_sub(1),
        )
    }
}

impl Pool {
    /// Inserts `count` models of `project` in one statement: names `{prefix}-{i} …`, a spread of
    /// architectures, licenses, tags, sizes and context lengths (see [`Seed::common`]); shared (newest share first by `i`) or not, with
    /// `status`. Rows look exactly like the service's: on SQLite ids are 16-byte blobs, tags a JSON
    /// text array, timestamps RFC 3339 text with `+00:00`. On PostgreSQL the tables are analyzed
    /// afterwards.
    pub async fn seed_models(
        &self,
        project: &str,
        prefix: &str,
        count: u64,
        shared: bool,
        status: &str,
    ) -> Result<()> {
        let seed = Seed {
            project,
            prefix,
            count,
            shared,
            status,
        };
        match self {
            Pool::Sqlite(pool) => {
                sqlx::query(AssertSqlSafe(seed.sqlite()))
                    .execute(pool)
                    .await?;
            }
            Pool::Postgres(pool) => {
                sqlx::query(AssertSqlSafe(seed.postgres()))
                    .execute(pool)
                    .await?;
                sqlx::query("ANALYZE").execute(pool).await?;
            }
        }
        Ok(())
    }
}
