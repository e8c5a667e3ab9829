//! `marquee chaos [--minutes N]`: the reliability suite's long version (see `crate::chaos`).

use std::time::Duration;

use crate::chaos::{self, Fault, Options, Scale};

pub async fn run(
    minutes: f64,
    seed: u64,
    faults: Vec<Fault>,
    bounded: bool,
    json: bool,
    trace: bool,
) -> anyhow::Result<()> {
    let options = Options {
        duration: Duration::from_secs_f64(minutes.max(0.0) * 60.0),
        seed,
        binary: std::env::current_exe()?,
        faults: if faults.is_empty() { Fault::ALL.to_vec() } else { faults },
        scale: if bounded { Scale::bounded() } else { Scale::long() },
        verbose: true,
        trace,
    };
    let report = chaos::run(&options).await?;
    if json {
        super::output::print_json(&report);
    } else {
        println!("{}", report.table());
        println!(
            "{} round(s) in {:.0} s, seed {}; recovery: from the end of each fault until nothing is in flight and `marquee audit` passes, the scheduler's drain called every second",
            report.rounds,
            report.elapsed_ms as f64 / 1000.0,
            report.seed
        );
        let problems = report.problems();
        if !problems.is_empty() {
            println!("\n{problems}");
        }
    }
    if report.clean() {
        Ok(())
    } else {
        anyhow::bail!(
            "a fault lost, duplicated, half-wrote or leaked something, or the system did not recover (see above)"
        )
    }
}
