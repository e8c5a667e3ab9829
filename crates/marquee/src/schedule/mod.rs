//! Scheduling: which HTTP route each scheduled job calls and with what body ([`JOBS`], here),
//! the exact request a cron bridge sends and how its answer is judged (`bridge`), and
//! cron-expression conversion (`cron`).
//!
//! Every scheduled job is an HTTP route (all logic stays there); a scheduler only calls it with
//! the admin token. *When* a job runs is defined once, in `spin.toml`'s `[[trigger.cron]]`
//! entries (six fields, seconds first, UTC); every other form (crontab, Kubernetes, GitHub
//! Actions) is converted from those by [`spin_cron_to_five_fields`]. Nothing here talks to the
//! network: the bridge component (`functions/cron-bridge`) only translates [`bridge_request`]
//! into a `wasi:http` request and its answer into [`judge_response`].

mod bridge;
mod cron;

pub use bridge::{BRIDGE_USER_AGENT, BridgeError, bridge_request, judge_response, redact, scheduled_body};
pub use cron::{CronError, spin_cron_to_five_fields};

/// A scheduled job: the cron component (its `[component.<name>]` in `spin.toml`) that calls
/// one admin route with one body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// The cron component in `spin.toml`.
    pub component: &'static str,
    /// The route it calls (a `POST` route of [`crate::api::ROUTES`]).
    pub path: &'static str,
    /// The JSON body it sends; always marks `"trigger_type": "scheduled"`.
    pub body: &'static str,
    pub description: &'static str,
}

/// Every scheduled job. `spin.toml` declares one cron component per job (a test checks it);
/// the cron expressions themselves live only in `spin.toml`.
pub static JOBS: &[Job] = &[
    Job {
        component: "cron-weekly-ingest",
        path: "/functions/v1/scheduled-ingest",
        body: r#"{"source": "all", "trigger_type": "scheduled"}"#,
        description: "weekly scheduled ingest of TMDB's lists",
    },
    Job {
        component: "cron-daily-refresh",
        path: "/functions/v1/daily-refresh",
        body: r#"{"trigger_type": "scheduled"}"#,
        description: "daily refresh of changed and stale movies",
    },
    Job {
        component: "cron-refresh-drain",
        path: "/functions/v1/daily-refresh",
        body: r#"{"trigger_type": "scheduled", "read_changes": false}"#,
        description: "frequent refresh of stale movies and drain of the queue (the schedule's refresh capacity)",
    },
];

#[cfg(test)]
mod tests {
    use http::Method;
    use serde_json::Value as Json;

    use super::*;
    use crate::api::{ROUTES, requests};

    #[test]
    fn every_job_calls_a_post_route_with_a_valid_scheduled_body() {
        for job in JOBS {
            let route = ROUTES
                .iter()
                .find(|r| r.path == job.path)
                .unwrap_or_else(|| panic!("{}: no route {}", job.component, job.path));
            assert_eq!(route.method, Method::POST, "{}", job.component);
            let sent: Json = serde_json::from_slice(&scheduled_body(job.body).unwrap()).unwrap();
            assert_eq!(
                serde_json::from_str::<Json>(job.body).unwrap(),
                sent,
                "{}: body must already be marked scheduled",
                job.component
            );
            let fields = sent.as_object().unwrap();
            let trigger_type = match job.path {
                "/functions/v1/scheduled-ingest" => requests::scheduled(fields).unwrap().trigger_type,
                "/functions/v1/daily-refresh" => requests::refresh(fields).unwrap().trigger_type,
                "/functions/v1/batch-ingest" => requests::batch(fields).unwrap().trigger_type,
                other => panic!("no request parser known for {other}"),
            };
            assert_eq!(trigger_type, "scheduled");
            assert!(
                !job.body.contains("{{") && !job.body.contains("}}"),
                "Spin would read `{{{{`/`}}}}` as a template"
            );
        }
    }
}
