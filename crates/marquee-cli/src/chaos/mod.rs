//! `marquee chaos`: every fault of issue 13 injected into real runs of the real code — the
//! `marquee` binary as child processes (`serve`, `queue drain`), the fake TMDB in-process, a
//! PostgreSQL of the suite's own — each against a scratch database of its own, counted, and
//! judged afterwards by the library (`marquee::chaos`, built on `marquee audit`): movies lost,
//! written twice, half-written, queue rows lost, secrets in the database, the logs or the
//! answers, and how long the system took to recover with nothing but its schedule running.
//!
//! Recovery is timed from the end of the fault to the moment nothing is in flight (no queue row
//! waiting or held, no ingest, no open run) and the audit passes, with the scheduler's drain
//! (`POST /functions/v1/daily-refresh {"read_changes": false}`, the shipped `cron-refresh-drain`)
//! called every second — the shipped schedule calls it every 5 minutes, which adds up to that
//! much. No operator step is ever taken (no `audit --fix`, no `retry-failed`). After the process
//! kills, exactly one normal drain runs once the dead runners' leases have run out.
//!
//! Scenarios that do not disturb the whole server run several at once; a restart and a flood of
//! connections run alone. `--minutes N` repeats rounds of every fault (new seeds) until N
//! minutes have passed; the table sums the counts and keeps the slowest recovery.

mod child;
mod cluster;
mod scenarios;

use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use scenarios::Fault;

/// How big each scenario is.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Movies queued per scenario.
    pub movies: usize,
    /// How long a storm, a burst or a flood lasts.
    pub fault_window: Duration,
    /// Process kills in a row (at least 20).
    pub kills: u32,
    /// `time_budget_ms` of every invocation (its leases last this + 30 s).
    pub budget_ms: u64,
    /// Give up waiting for recovery after this long.
    pub max_recovery: Duration,
    /// Scenarios run at once (those that do not disturb the whole server).
    pub parallel: usize,
    /// Bad requests sent to the routes.
    pub hostile_requests: usize,
}

impl Scale {
    /// What `cargo test` runs: every fault once, small.
    pub fn bounded() -> Scale {
        Scale {
            movies: 24,
            fault_window: Duration::from_secs(3),
            kills: 20,
            budget_ms: 2_000,
            max_recovery: Duration::from_secs(150),
            parallel: 4,
            hostile_requests: 120,
        }
    }

    /// `marquee chaos`: more movies, longer faults.
    pub fn long() -> Scale {
        Scale {
            movies: 60,
            fault_window: Duration::from_secs(6),
            kills: 25,
            budget_ms: 3_000,
            max_recovery: Duration::from_secs(300),
            parallel: 4,
            hostile_requests: 400,
        }
    }
}

pub struct Options {
    /// Keep starting rounds until this much time has passed (at least one round).
    pub duration: Duration,
    pub seed: u64,
    /// The `marquee` binary the children run.
    pub binary: PathBuf,
    /// Which faults (all by default).
    pub faults: Vec<Fault>,
    pub scale: Scale,
    /// Prints one line per finished scenario on stderr.
    pub verbose: bool,
    /// Also prints what is in flight at each scheduler call of every recovery.
    pub trace: bool,
}

/// One line of the table: a fault, over every round.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub fault: &'static str,
    pub rounds: u32,
    pub injected: u64,
    pub movies: i64,
    pub affected: i64,
    /// Ended failed, each with its error (not lost).
    pub failed: i64,
    pub lost: i64,
    pub duplicated: i64,
    pub half_written: i64,
    pub queue_rows_lost: i64,
    /// In the database, the processes' output and the routes' answers.
    pub secrets: i64,
    /// 5xx answers to requests no fault excuses (bad input, concurrency), other audit findings.
    pub errors: i64,
    /// The slowest recovery; `None` when a round did not recover.
    pub recovery_ms: Option<u64>,
    pub problems: Vec<String>,
}

impl Row {
    fn new(fault: Fault) -> Row {
        Row {
            fault: fault.name(),
            rounds: 0,
            injected: 0,
            movies: 0,
            affected: 0,
            failed: 0,
            lost: 0,
            duplicated: 0,
            half_written: 0,
            queue_rows_lost: 0,
            secrets: 0,
            errors: 0,
            recovery_ms: Some(0),
            problems: Vec::new(),
        }
    }

    fn add(&mut self, round: scenarios::Round) {
        let v = &round.verdict;
        self.rounds += 1;
        self.injected += round.injected;
        self.movies += v.movies;
        self.affected += v.affected;
        self.failed += v.failed;
        self.lost += v.lost + v.in_flight_movies * i64::from(round.recovery.is_none());
        self.duplicated += v.duplicated;
        self.half_written += v.half_written;
        self.queue_rows_lost += v.queue_rows_lost;
        self.secrets += v.secrets_in_db + round.secrets_in_output;
        self.errors += round.bad_answers + v.audit_findings;
        self.recovery_ms = match (self.recovery_ms, round.recovery) {
            (Some(a), Some(b)) => Some(a.max(b.as_millis() as u64)),
            _ => None,
        };
        for p in v.problems.iter().chain(&round.problems) {
            if self.problems.len() < 12 {
                self.problems.push(p.clone());
            }
        }
    }

    /// Nothing lost, duplicated, half-written, leaked or wrongly answered, and recovered.
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.half_written == 0
            && self.queue_rows_lost == 0
            && self.secrets == 0
            && self.errors == 0
            && self.recovery_ms.is_some()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub seed: u64,
    pub rounds: u32,
    pub elapsed_ms: u64,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn clean(&self) -> bool {
        self.rows.iter().all(Row::clean)
    }

    /// The table of the README's Reliability section.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| Fault | Injected | Movies | Affected | Failed (with error) | Lost | Duplicated | Half-written | Queue rows lost | Secrets | Errors | Recovery (slowest) |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in &self.rows {
            let recovery =
                r.recovery_ms.map_or("not recovered".to_owned(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.fault,
                r.injected,
                r.movies,
                r.affected,
                r.failed,
                r.lost,
                r.duplicated,
                r.half_written,
                r.queue_rows_lost,
                r.secrets,
                r.errors,
                recovery
            ));
        }
        out
    }

    /// What went wrong, row by row (empty when clean).
    pub fn problems(&self) -> String {
        let mut out = String::new();
        for r in self.rows.iter().filter(|r| !r.problems.is_empty()) {
            out.push_str(&format!("{}:\n", r.fault));
            for p in &r.problems {
                out.push_str(&format!("  - {p}\n"));
            }
        }
        out
    }
}

/// Runs rounds of every fault until `options.duration` has passed; the table of what happened.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let secrets = scenarios::Secrets::new(options.seed);
    let cluster = Rc::new(cluster::Cluster::start(&secrets.db_password).await?);
    let mut rows: Vec<Row> = options.faults.iter().map(|f| Row::new(*f)).collect();
    let mut rounds = 0;
    let mut serial = 0;
    loop {
        rounds += 1;
        let seed = options.seed.wrapping_add(u64::from(rounds - 1) * 1_000_003);
        // Faults that leave the rest of the server alone run several at once; the others alone.
        let (shared, alone): (Vec<Fault>, Vec<Fault>) = options.faults.iter().partition(|f| !f.disturbs_the_server());
        for chunk in shared.chunks(options.scale.parallel.max(1)) {
            let runs = chunk.iter().map(|fault| {
                serial += 1;
                scenarios::run(*fault, &cluster, options, &secrets, seed ^ serial, serial)
            });
            for (fault, round) in chunk.iter().zip(futures::future::join_all(runs).await) {
                record(&mut rows, *fault, round?, options.verbose);
            }
        }
        for fault in alone {
            serial += 1;
            let round = scenarios::run(fault, &cluster, options, &secrets, seed ^ serial, serial).await?;
            record(&mut rows, fault, round, options.verbose);
        }
        if started.elapsed() >= options.duration {
            break;
        }
    }
    Ok(Report { seed: options.seed, rounds, elapsed_ms: started.elapsed().as_millis() as u64, rows })
}

fn record(rows: &mut [Row], fault: Fault, round: scenarios::Round, verbose: bool) {
    if verbose {
        eprintln!(
            "chaos: {:<28} injected {:>5}, recovery {}, lost {}, failed {}{}",
            fault.name(),
            round.injected,
            round.recovery.map_or("none".to_owned(), |d| format!("{:.1} s", d.as_secs_f64())),
            round.verdict.lost,
            round.verdict.failed,
            if round.verdict.problems.is_empty() && round.problems.is_empty() { "" } else { " (problems)" }
        );
    }
    if verbose {
        for problem in round.verdict.problems.iter().chain(&round.problems) {
            eprintln!("chaos:   - {problem}");
        }
    }
    if let Some(row) = rows.iter_mut().find(|r| r.fault == fault.name()) {
        row.add(round);
    }
}
