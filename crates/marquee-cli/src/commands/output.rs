//! How commands show their work: JSON reports on stdout, progress on stderr.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("reports serialise"));
}

pub fn bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len)
        .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed}]").expect("template"));
    bar.set_message(message.to_owned());
    bar
}

/// Runs `work` with a spinner on stderr, then prints its report as JSON on stdout.
pub async fn run_and_print<T: serde::Serialize, E: std::error::Error + Send + Sync + 'static>(
    message: &'static str,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<()> {
    let spinner = ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(Duration::from_millis(200));
    let report = work.await;
    spinner.finish_and_clear();
    print_json(&report?);
    Ok(())
}
