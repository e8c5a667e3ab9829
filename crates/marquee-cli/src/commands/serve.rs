//! `marquee serve`.

use std::net::SocketAddr;

use anyhow::Context as _;

use super::app::database_url;
use crate::native::NativeSettings;
use crate::server::Server;

pub async fn run(settings: NativeSettings, listen: SocketAddr) -> anyhow::Result<()> {
    database_url(&settings).await?;
    let server = Server::start(listen, settings).with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!("marquee serving on {}", server.url());
    server.wait();
    Ok(())
}
