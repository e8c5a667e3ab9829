//! `marquee schedule print`: the effective schedule in every form a scheduler takes, from one
//! source of truth, the `[[trigger.cron]]` entries of `spin.toml` (six fields, seconds first,
//! UTC) and their cron components' `target_url` and `body` variables.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use marquee::schedule::{scheduled_body, spin_cron_to_five_fields};

/// The prefix of every cron component's `target_url` in `spin.toml`.
const BASE_URL_TEMPLATE: &str = "{{ marquee_base_url }}";

/// One scheduled call, as `spin.toml` defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledCall {
    /// The cron component (`[component.<name>]`).
    pub component: String,
    /// Spin's six-field expression, seconds first.
    pub cron: String,
    /// The same in five fields (crontab, Kubernetes, GitHub Actions).
    pub cron5: String,
    /// The route called, e.g. `/functions/v1/daily-refresh`.
    pub path: String,
    /// The JSON body sent.
    pub body: String,
}

/// The schedule of a `spin.toml`, plus the default of its `marquee_base_url` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub calls: Vec<ScheduledCall>,
    pub default_base_url: Option<String>,
}

/// `marquee schedule print`. `base_url` defaults to the manifest's `marquee_base_url`.
/// A relative `manifest` not found in the current directory is looked for in its ancestors, so
/// the command works from anywhere in the checkout.
pub fn print(manifest: &Path, base_url: Option<&str>, format: Format) -> anyhow::Result<()> {
    let schedule = read_manifest(&locate(manifest).unwrap_or_else(|| manifest.to_path_buf()))?;
    let base_url = base_url
        .or(schedule.default_base_url.as_deref())
        .context("no --base-url and no `marquee_base_url` default in the manifest")?;
    print!("{}", render(&schedule, base_url, format));
    Ok(())
}

/// `manifest` if it exists; a relative one is also looked for in the current directory's
/// ancestors, so commands work from anywhere in the checkout.
pub fn locate(manifest: &Path) -> Option<std::path::PathBuf> {
    if manifest.exists() {
        return Some(manifest.to_path_buf());
    }
    let cwd = std::env::current_dir().ok().filter(|_| manifest.is_relative())?;
    cwd.ancestors().map(|d| d.join(manifest)).find(|p| p.exists())
}

/// The schedule of `manifest` (see [`locate`]), or the one this build ships.
pub fn read_or_shipped(manifest: &Path) -> anyhow::Result<Schedule> {
    match locate(manifest) {
        Some(path) => read_manifest(&path),
        None => parse_manifest(SHIPPED_MANIFEST).context("the shipped spin.toml"),
    }
}

/// The `spin.toml` this build was made with.
pub const SHIPPED_MANIFEST: &str = include_str!("../../../spin.toml");

pub fn read_manifest(path: &Path) -> anyhow::Result<Schedule> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_manifest(&text).with_context(|| path.display().to_string())
}

pub fn parse_manifest(text: &str) -> anyhow::Result<Schedule> {
    let m: toml::Value = toml::from_str(text).context("not valid TOML")?;
    let triggers =
        m.get("trigger").and_then(|t| t.get("cron")).and_then(|c| c.as_array()).map(Vec::as_slice).unwrap_or_default();
    let mut calls = Vec::new();
    for trigger in triggers {
        let component =
            trigger.get("component").and_then(|c| c.as_str()).context("a [[trigger.cron]] lacks `component`")?;
        let cron = trigger
            .get("cron_expression")
            .and_then(|c| c.as_str())
            .with_context(|| format!("{component}: no `cron_expression`"))?;
        let cron5 = spin_cron_to_five_fields(cron).with_context(|| component.to_owned())?;
        let variables = m
            .get("component")
            .and_then(|c| c.get(component))
            .and_then(|c| c.get("variables"))
            .with_context(|| format!("{component}: no [component.{component}.variables]"))?;
        let variable = |name: &str| {
            variables.get(name).and_then(|v| v.as_str()).with_context(|| format!("{component}: no `{name}` variable"))
        };
        let target = variable("target_url")?;
        let path = target.strip_prefix(BASE_URL_TEMPLATE).filter(|p| p.starts_with('/')).with_context(|| {
            format!("{component}: `target_url` must be \"{BASE_URL_TEMPLATE}/<route>\", got {target:?}")
        })?;
        let body = variable("body")?;
        scheduled_body(body).with_context(|| component.to_owned())?;
        calls.push(ScheduledCall {
            component: component.to_owned(),
            cron: cron.to_owned(),
            cron5,
            path: path.to_owned(),
            body: body.to_owned(),
        });
    }
    if calls.is_empty() {
        bail!("no [[trigger.cron]] entries");
    }
    let default_base_url = m
        .get("variables")
        .and_then(|v| v.get("marquee_base_url"))
        .and_then(|v| v.get("default"))
        .and_then(|d| d.as_str())
        .map(str::to_owned);
    Ok(Schedule { calls, default_base_url })
}

/// Which forms to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    All,
    Spin,
    Crontab,
    Kubernetes,
    Github,
    Aka,
}

/// One Kubernetes CronJob; `@NAME@` are filled in. The token goes to curl on stdin (`-H @-`),
/// not in its arguments.
const CRONJOB: &str = r#"---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: marquee-@COMPONENT@
spec:
  schedule: "@CRON5@"
  timeZone: "Etc/UTC"
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 3600
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: call
              image: curlimages/curl:latest
              env:
                - name: ADMIN_TOKEN
                  valueFrom:
                    secretKeyRef: { name: marquee-admin, key: token }
              command: ["/bin/sh", "-c"]
              args:
                - >-
                  printf 'Authorization: Bearer %s\n' "$ADMIN_TOKEN" |
                  curl -fsS --max-time 120 -X POST -H @- -H 'Content-Type: application/json'
                  --data @BODY@ @URL@
"#;

/// `text` quoted for a POSIX shell.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The `- cron:` line of a call in a GitHub Actions `on.schedule` list (also the line
/// `.github/workflows/schedule.yml` holds, which a test checks).
pub fn github_cron_line(call: &ScheduledCall) -> String {
    format!("- cron: \"{}\" # {}: POST {}", call.cron5, call.component, call.path)
}

pub fn render(schedule: &Schedule, base_url: &str, format: Format) -> String {
    let base_url = base_url.trim_end_matches('/');
    let all = format == Format::All;
    let mut out = String::new();
    let mut section = |title: &str, body: String| {
        if !out.is_empty() {
            out.push('\n');
        }
        if all {
            let _ = writeln!(out, "# ==== {title}");
        }
        out.push_str(&body);
    };
    if all || format == Format::Spin {
        let mut s =
            String::from("# spin.toml (`spin plugins install trigger-cron`): six fields, seconds first, UTC.\n");
        for c in &schedule.calls {
            let _ = writeln!(s, "[[trigger.cron]]\ncomponent = \"{}\"\ncron_expression = \"{}\"", c.component, c.cron);
        }
        section("Spin cron trigger", s);
    }
    if all || format == Format::Crontab {
        let mut s = String::from(
            "# crontab: five fields, UTC (CRON_TZ needs cronie; elsewhere run the host in UTC).\n\
             # ~/.config/marquee/admin-header holds one line, `Authorization: Bearer <admin token>`\n\
             # (chmod 600): the token is in neither the crontab nor `ps`.\n\
             CRON_TZ=UTC\n",
        );
        for c in &schedule.calls {
            let command = format!(
                "curl -fsS --max-time 120 -X POST -H @$HOME/.config/marquee/admin-header -H 'Content-Type: application/json' --data {} {}",
                sh_quote(&c.body),
                sh_quote(&format!("{base_url}{}", c.path)),
            );
            // `%` starts a new line in a crontab command.
            let _ = writeln!(s, "# {}\n{} {}", c.component, c.cron5, command.replace('%', r"\%"));
        }
        section("crontab", s);
    }
    if all || format == Format::Kubernetes {
        let mut s = String::from(
            "# Kubernetes CronJobs: five fields; timeZone needs Kubernetes 1.27 or later. The token comes\n\
             # from a Secret: kubectl create secret generic marquee-admin --from-literal=token=<admin token>\n",
        );
        for c in &schedule.calls {
            s.push_str(
                &CRONJOB
                    .replace("@COMPONENT@", &c.component)
                    .replace("@CRON5@", &c.cron5)
                    .replace("@BODY@", &sh_quote(&c.body))
                    .replace("@URL@", &sh_quote(&format!("{base_url}{}", c.path))),
            );
        }
        section("Kubernetes", s);
    }
    if all || format == Format::Github {
        let mut s =
            String::from("# GitHub Actions (.github/workflows/schedule.yml): five fields, UTC.\non:\n  schedule:\n");
        for c in &schedule.calls {
            let _ = writeln!(s, "    {}", github_cron_line(c));
        }
        section("GitHub Actions", s);
    }
    if all || format == Format::Aka {
        let mut s = String::from(
            "# Fermyon Wasm Functions / Akamai Functions: `spin aka crons create <schedule> <path-and-query> <name>`\n\
             # (five fields, UTC). It sends a plain request to the path, without the admin token or a body,\n\
             # which Marquee's POST routes refuse; shown for reference only: use GitHub Actions or a CronJob there.\n",
        );
        for c in &schedule.calls {
            let _ = writeln!(s, "# spin aka crons create \"{}\" \"{}\" \"marquee-{}\"", c.cron5, c.path, c.component);
        }
        section("spin aka crons", s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[variables]
marquee_base_url = { default = "http://127.0.0.1:3000" }
[[trigger.cron]]
component = "nightly"
cron_expression = "0 30 2 * * Mon-Fri"
[component.nightly.variables]
target_url = "{{ marquee_base_url }}/functions/v1/daily-refresh"
admin_token = "{{ admin_token }}"
body = '{"trigger_type": "scheduled", "note": "100%"}'
"#;

    #[test]
    fn every_form_follows_the_manifest() {
        let schedule = parse_manifest(MANIFEST).unwrap();
        assert_eq!(schedule.default_base_url.as_deref(), Some("http://127.0.0.1:3000"));
        assert_eq!(schedule.calls[0].cron5, "30 2 * * 1-5");
        let out = render(&schedule, "https://m.example/", Format::All);
        assert!(out.contains("cron_expression = \"0 30 2 * * Mon-Fri\""), "{out}");
        assert!(out.contains("\n30 2 * * 1-5 curl -fsS"), "{out}");
        assert!(
            out.contains(
                r#"'{"trigger_type": "scheduled", "note": "100\%"}' 'https://m.example/functions/v1/daily-refresh'"#
            ),
            "crontab escapes %: {out}"
        );
        assert!(out.contains("  schedule: \"30 2 * * 1-5\"\n"), "{out}");
        assert!(out.contains("    - cron: \"30 2 * * 1-5\" # nightly: POST /functions/v1/daily-refresh\n"), "{out}");
        assert!(out.contains("# spin aka crons create \"30 2 * * 1-5\" \"/functions/v1/daily-refresh\""), "{out}");
        assert!(!out.contains("admin_token"), "{out}");
        let only = render(&schedule, "https://m.example", Format::Github);
        assert!(only.starts_with("# GitHub Actions") && !only.contains("curl"), "{only}");
    }

    #[test]
    fn bad_manifests_are_refused() {
        for (bad, why) in [
            (MANIFEST.replace("0 30 2", "15 30 2"), "seconds"),
            (MANIFEST.replace("{{ marquee_base_url }}/functions", "http://h/functions"), "target_url"),
            (MANIFEST.replace(r#""trigger_type": "scheduled""#, r#""trigger_type": "manual""#), "trigger_type"),
            ("[variables]\n".to_owned(), "no [[trigger.cron]]"),
        ] {
            let e = format!("{:#}", parse_manifest(&bad).unwrap_err());
            assert!(e.contains(why), "{e}");
        }
    }
}
