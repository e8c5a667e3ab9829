//! The reliability suite, bounded (`marquee chaos --bounded`): every fault of issue 13 injected
//! into real runs of the `marquee` binary against a PostgreSQL of the suite's own (never the
//! shared test cluster: it is restarted and flooded), then judged by the library (built on the
//! catalog audit). Nothing lost, written twice, half-written, leaked or left undone, and the
//! system recovered by itself. One test per family of faults, each with a cluster of its own.

use std::time::Duration;

use marquee_cli::chaos::{self, Fault, Options, Report, Scale};

async fn suite(faults: &[Fault]) -> Report {
    let options = Options {
        duration: Duration::ZERO,
        seed: 13,
        binary: env!("CARGO_BIN_EXE_marquee").into(),
        faults: faults.to_vec(),
        scale: Scale::bounded(),
        verbose: true,
        trace: false,
    };
    let report = chaos::run(&options).await.expect("the chaos suite runs");
    println!("{}", report.table());
    assert!(report.clean(), "{}\n{}", report.table(), report.problems());
    for row in &report.rows {
        assert!(row.injected > 0, "{}: nothing was injected\n{}", row.fault, report.table());
    }
    report
}

#[tokio::test]
async fn tmdb_faults_lose_nothing_and_the_system_recovers() {
    suite(&[
        Fault::Tmdb429Storm,
        Fault::Tmdb5xxBurst,
        Fault::TmdbSlow,
        Fault::TmdbResetMidBody,
        Fault::TmdbTruncatedJson,
        Fault::TmdbWrongContentType,
        Fault::TmdbHugeBody,
        Fault::Tmdb404DuringRefresh,
        Fault::Tmdb401MidRun,
    ])
    .await;
}

#[tokio::test]
async fn postgresql_faults_lose_nothing_and_the_system_recovers() {
    suite(&[Fault::PgRestart, Fault::PgTerminateBackend, Fault::PgMaxConnections, Fault::PgStatementTimeout]).await;
}

#[tokio::test]
async fn twenty_sigkills_in_a_row_then_one_normal_drain_lose_nothing() {
    let report = suite(&[Fault::KillQueueDrain, Fault::KillServe]).await;
    for row in &report.rows {
        assert!(row.injected >= 20, "{}: {} kills", row.fault, row.injected);
    }
}

#[tokio::test]
async fn concurrent_runs_and_hostile_input_lose_nothing_and_answer_no_5xx() {
    suite(&[Fault::Concurrency, Fault::HostileTmdbAnswers, Fault::HostileRequests]).await;
}
