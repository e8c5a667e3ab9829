//! `marquee audit [--json] [--fix]`: the catalog audit, as a table (or JSON), failing when it
//! finds anything.

use std::time::{Duration, Instant};

use marquee::pipeline::audit::{self, AuditReport};

use super::app::native_app;
use super::output::print_json;
use crate::native::NativeSettings;

pub async fn run(settings: &NativeSettings, json: bool, fix: bool, deep: bool) -> anyhow::Result<()> {
    let app = native_app(settings, "marquee-audit").await?;
    let started = Instant::now();
    let spinner =
        indicatif::ProgressBar::new_spinner().with_message(if fix { "auditing and repairing" } else { "auditing" });
    spinner.enable_steady_tick(Duration::from_millis(200));
    let report = audit::audit(&app, audit::AuditOptions { fix, deep }).await;
    spinner.finish_and_clear();
    let report = report?;
    if json {
        print_json(&report);
    } else {
        print!("{}", table(&report, started.elapsed()));
    }
    match report.findings() {
        0 => Ok(()),
        n if fix => anyhow::bail!("{n} finding(s) remain that need TMDB or an operator"),
        n => anyhow::bail!("the audit found {n} problem(s); `marquee audit --fix` repairs what needs no TMDB call"),
    }
}

/// The summary: one line per check, then each kind of finding with examples, then the repairs.
pub fn table(report: &AuditReport, took: Duration) -> String {
    let mut out = format!("{:<12} {:>10} {:>10} {:>9}\n", "check", "checked", "passed", "findings");
    for c in &report.checks {
        let findings: i64 = c.findings.iter().map(|f| f.count).sum();
        out += &format!("{:<12} {:>10} {:>10} {:>9}\n", c.name, c.checked, c.passed, findings);
    }
    for c in report.checks.iter().filter(|c| !c.findings.is_empty()) {
        for f in &c.findings {
            out += &format!("{}: {} × {} (e.g. {})\n", c.name, f.kind, f.count, f.examples.join(", "));
        }
    }
    if report.aggregate_marks_pending > 0 {
        out += &format!(
            "aggregates: {} marks wait for a fold (pending, not drift: `marquee aggregates fold`)\n",
            report.aggregate_marks_pending
        );
    }
    for f in &report.fixed {
        out += &format!("fixed: {} × {}\n", f.what, f.count);
    }
    out += &format!("{} finding(s) in {:.1} s\n", report.findings(), took.as_secs_f64());
    out
}
