//! `marquee stripe sign|replay`.

use anyhow::Context as _;
use marquee::ports::Database;

use super::app::database_url;
use crate::cli::StripeCommand;
use crate::native::{NativeDb, NativeSettings};

pub async fn run(settings: &NativeSettings, what: StripeCommand) -> anyhow::Result<()> {
    match what {
        StripeCommand::Sign { secret, timestamp } => {
            let mut payload = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut payload)
                .context("cannot read the event from stdin")?;
            let timestamp = timestamp.unwrap_or_else(|| marquee::ports::system_now().timestamp());
            println!("{}", marquee::billing::signature::header_value(&secret, timestamp, &payload));
            Ok(())
        }
        StripeCommand::Replay { event_id } => {
            let conn = NativeDb::new(database_url(settings).await?).connect().await?;
            let receipt = marquee::billing::replay(&conn, &event_id).await?;
            println!(
                "{}",
                serde_json::json!({"event_id": receipt.event_id, "status": receipt.status, "applied": receipt.applied, "error": receipt.error})
            );
            Ok(())
        }
    }
}
