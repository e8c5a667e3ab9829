//! `marquee keys create|list|revoke|usage`: the catalog API's keys (DATABASE_URL). A new key is
//! printed once, alone on stdout (`KEY=$(marquee keys create …)`); nothing shows it again, and
//! nothing ever shows a hash.

use anyhow::Context as _;
use marquee::db::api_keys::{self, KeyRecord};
use marquee::ports::{Database, system_now};

use super::app::database_url;
use super::output::print_json;
use crate::cli::KeysCommand;
use crate::native::{NativeDb, NativeSettings};

pub async fn run(settings: &NativeSettings, what: KeysCommand) -> anyhow::Result<()> {
    let conn = NativeDb::new(database_url(settings).await?).connect().await?;
    match what {
        KeysCommand::Create { customer, name } => {
            let issued = marquee::keys::issue(&conn, &customer, name.as_deref()).await?;
            eprintln!("{} (shown once: store it now)", describe(&issued.record));
            println!("{}", issued.key.expose());
        }
        KeysCommand::List { customer, json } => {
            let keys = api_keys::list(&conn, customer.as_deref()).await?;
            if json {
                print_json(&keys);
            } else if keys.is_empty() {
                eprintln!("no keys");
            } else {
                for key in &keys {
                    println!("{}", describe(key));
                }
            }
        }
        KeysCommand::Revoke { key_id } => {
            let record = api_keys::revoke(&conn, key_id).await?.with_context(|| format!("no key {key_id}"))?;
            println!("{}", describe(&record));
        }
        KeysCommand::Usage { customer, json } => {
            let usage = api_keys::usage(&conn, customer.as_deref(), system_now().naive_utc()).await?;
            if json {
                print_json(&usage);
            } else {
                for u in &usage {
                    println!(
                        "{} {:<8} {:<13} {:>9} of {:>9} used ({} remaining) from {} to {} UTC",
                        u.customer_id,
                        u.tier,
                        u.quota,
                        u.used,
                        u.limit,
                        (u.limit - u.used).max(0),
                        u.period_start.format("%Y-%m-%d %H:%M"),
                        u.period_end.format("%Y-%m-%d %H:%M")
                    );
                }
                if usage.is_empty() {
                    eprintln!("no customer has keys");
                }
            }
        }
    }
    Ok(())
}

/// One line about a key: never the key, never its hash.
fn describe(key: &KeyRecord) -> String {
    let name = key.name.as_deref().map(|n| format!(" \"{n}\"")).unwrap_or_default();
    let state = match key.revoked_at {
        Some(at) => format!("revoked {} UTC", at.format("%Y-%m-%d %H:%M")),
        None => "active".to_owned(),
    };
    format!(
        "key {} for {}{name}, made {} UTC, {state}",
        key.key_id,
        key.customer_id,
        key.created_at.format("%Y-%m-%d %H:%M")
    )
}
