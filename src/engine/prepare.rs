//! Every SQL statement a suite's cells run (checks, SQL setup steps),
//! prepared against a migrated database before any server boots: a typo in a
//! check is bad input found in a second, not an ERROR on every cell that
//! reaches it after the build and the boot.

use sqlx::{Connection, Executor, SqlSafeStr};

use crate::engine::world::database_message;
use crate::spec::source::{Location, Problem};
use crate::suite::Suite;
use crate::suite::{CheckKind, SetupStep};

/// One statement, where it is written and what it is.
struct Statement<'a> {
    location: &'a Location,
    what: String,
    sql: String,
    params: usize,
}

fn statements(suite: &Suite) -> Vec<Statement<'_>> {
    let mut found = Vec::new();
    for scenario in &suite.scenarios {
        for (n, step) in scenario.setup.iter().enumerate() {
            if let SetupStep::Sql { sql, location, .. } = step {
                let (sql, params) = sql.sql_statement();
                found.push(Statement {
                    location,
                    what: format!("[[setup]] step {} (sql)", n + 1),
                    sql,
                    params,
                });
            }
        }
        for check in &scenario.checks {
            if let CheckKind::Sql(template) = &check.kind {
                let (sql, params) = template.sql_statement();
                found.push(Statement {
                    location: &check.location,
                    what: format!("check `{}`", check.name),
                    sql,
                    params,
                });
            }
        }
    }
    found
}

/// Prepare every statement against the database at `url`, each parameter
/// typed as text (the runner binds every value as text): the problems of the
/// statements the server refuses, with its message. `Err` when the database
/// cannot be reached.
pub(crate) async fn prepare_sql(
    suite: &Suite,
    url: &str,
    revision: &str,
) -> Result<Vec<Problem>, sqlx::Error> {
    let statements = statements(suite);
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let text = sqlx::postgres::PgTypeInfo::with_name("text");
    let mut problems = Vec::new();
    for statement in statements {
        let types = vec![text.clone(); statement.params];
        let prepared = (&mut connection)
            .prepare_with(sqlx::AssertSqlSafe(statement.sql).into_sql_str(), &types)
            .await;
        match prepared {
            Ok(_) => {}
            Err(sqlx::Error::Database(error)) => problems.push(Problem {
                location: statement.location.clone(),
                message: format!("{}: {}", statement.what, error.message()),
                hint: Some(format!(
                    "fix the SQL: Postgres refused to prepare it against the migrated schema of {revision} (each {{{{ }}}} is a text parameter)"
                )),
            }),
            Err(other) => {
                tracing::debug!("prepare: {}", database_message(&other));
                return Err(other);
            }
        }
    }
    let _ = connection.close().await;
    Ok(problems)
}
