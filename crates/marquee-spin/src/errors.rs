//! The Spin host's PostgreSQL errors as the library's [`DbError`], with the database URL (and
//! its password) kept out of every text. Pure, so it is tested natively.

use marquee::ports::DbError;
use spin_sdk::pg;

/// Keeps the database URL (and its password) out of error texts.
fn redact_url(text: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(auth, _)| auth.split_once(':'))
        .map(|(_, p)| p);
    let text = if url.is_empty() { text.to_owned() } else { text.replace(url, "<database_url>") };
    match password {
        Some(p) if !p.is_empty() => text.replace(p, "***"),
        _ => text,
    }
}

/// A failed `Connection::open`: the host's text may quote the URL it was given.
pub(crate) fn connect_error(e: &pg::Error, url: &str) -> DbError {
    DbError::Connect(redact_url(&error_text(e), url))
}

/// The server's own message for a statement it rejected, else the host's error text.
fn error_text(e: &pg::Error) -> String {
    match e {
        pg::Error::PgError(pg::PgError::QueryFailed(pg::QueryError::DbError(db))) => db.message.clone(),
        other => other.to_string(),
    }
}

/// A failed statement, with its SQLSTATE when the server gave one.
pub(crate) fn db_error(e: pg::Error) -> DbError {
    let code = match &e {
        pg::Error::PgError(pg::PgError::QueryFailed(pg::QueryError::DbError(db))) => Some(db.code.clone()),
        _ => None,
    };
    DbError::Query { code, message: error_text(&e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgres://marquee:s3cret@db:5432/marquee";

    fn rejected(code: &str, message: &str) -> pg::Error {
        pg::Error::PgError(pg::PgError::QueryFailed(pg::QueryError::DbError(pg::DbError {
            as_text: format!("db error: ERROR: {message}"),
            severity: "ERROR".into(),
            code: code.into(),
            message: message.into(),
            detail: None,
            extras: vec![],
        })))
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("cannot reach postgres://marquee:s3cret@db:5432/marquee", URL),
            "cannot reach <database_url>"
        );
        assert_eq!(redact_url("auth failed for s3cret", URL), "auth failed for ***");
        assert_eq!(redact_url("no password here", "postgres://marquee@db/marquee"), "no password here");
        assert_eq!(redact_url("nothing to redact", ""), "nothing to redact");
    }

    #[test]
    fn a_failed_connection_never_quotes_the_url_or_its_password() {
        for text in [format!("error connecting to {URL}"), "password authentication failed: s3cret".to_owned()] {
            let error = connect_error(&pg::Error::PgError(pg::PgError::ConnectionFailed(text)), URL);
            let DbError::Connect(message) = &error else { panic!("{error:?}") };
            assert!(!message.contains("s3cret") && !message.contains(URL), "{message}");
        }
    }

    #[test]
    fn a_rejected_statement_keeps_its_sqlstate_and_the_servers_message() {
        match db_error(rejected("40P01", "deadlock detected")) {
            DbError::Query { code, message } => {
                assert_eq!(code.as_deref(), Some("40P01"));
                assert_eq!(message, "deadlock detected");
            }
            other => panic!("{other:?}"),
        }
        match db_error(pg::Error::PgError(pg::PgError::BadParameter("bad $1".into()))) {
            DbError::Query { code: None, message } => assert!(message.contains("bad $1"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
