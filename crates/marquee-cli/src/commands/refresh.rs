//! `marquee refresh`: what `POST /functions/v1/daily-refresh` does.

use std::time::Duration;

use marquee::api::requests;
use marquee::pipeline::refresh;

use super::app::{native_app, with_budget};
use super::output::run_and_print;
use crate::native::NativeSettings;

pub async fn run(
    settings: NativeSettings,
    budget: humantime::Duration,
    batch_size: i64,
    dry_run: bool,
) -> anyhow::Result<()> {
    let ms = Duration::from(budget).as_millis() as i64;
    let body = serde_json::json!({"budget_ms": ms, "batch_size": batch_size, "dry_run": dry_run});
    let settings = with_budget(settings, Some(ms));
    let request = requests::refresh(&body.as_object().cloned().unwrap_or_default())?;
    let app = native_app(&settings, "marquee-cli").await?;
    run_and_print("reading the changes feed, queueing and draining", refresh::daily_refresh(&app, &request)).await
}
