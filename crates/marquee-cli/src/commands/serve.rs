//! `marquee serve`.

use std::net::SocketAddr;

use anyhow::Context as _;

use super::app::database_url;
use crate::native::NativeSettings;
use crate::server::{ServeOptions, Server};

pub async fn run(
    settings: NativeSettings,
    listen: SocketAddr,
    workers: Option<usize>,
    db_sessions: Option<usize>,
) -> anyhow::Result<()> {
    database_url(&settings).await?;
    let defaults = ServeOptions::default();
    let options = ServeOptions {
        workers: workers.unwrap_or(defaults.workers),
        db_sessions: db_sessions.unwrap_or(defaults.db_sessions),
    };
    let server = Server::start_with(listen, settings, options).with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!(
        "marquee serving on {} ({} worker threads, up to {} PostgreSQL sessions)",
        server.url(),
        options.workers,
        options.db_sessions
    );
    server.wait();
    Ok(())
}
