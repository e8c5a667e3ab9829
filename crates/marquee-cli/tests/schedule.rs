//! The schedule has one source of truth, spin.toml's `[[trigger.cron]]`: `marquee schedule
//! print` and `.github/workflows/schedule.yml` follow it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use marquee::schedule::spin_cron_to_five_fields;
use marquee_cli::schedule::{github_cron_line, read_manifest};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (component, six-field cron) of every `[[trigger.cron]]`, read here independently of the CLI.
fn spin_crons() -> Vec<(String, String)> {
    let m: toml::Value = toml::from_str(&std::fs::read_to_string(root().join("spin.toml")).unwrap()).unwrap();
    m["trigger"]["cron"]
        .as_array()
        .expect("[[trigger.cron]]")
        .iter()
        .map(|t| (t["component"].as_str().unwrap().to_owned(), t["cron_expression"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn schedule_print_shows_spin_tomls_schedule_in_every_form() {
    let output = Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(["schedule", "print", "--base-url", "https://marquee.test"])
        .current_dir(root())
        .env_remove("MARQUEE_BASE_URL")
        .output()
        .expect("run marquee");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = String::from_utf8(output.stdout).unwrap();
    let crons = spin_crons();
    let schedule = read_manifest(&root().join("spin.toml")).unwrap();
    assert_eq!(out.matches("[[trigger.cron]]").count(), crons.len(), "{out}");
    assert_eq!(out.matches("kind: CronJob").count(), crons.len(), "{out}");
    for (component, cron) in &crons {
        let cron5 = spin_cron_to_five_fields(cron).unwrap();
        let call = schedule.calls.iter().find(|c| &c.component == component).unwrap();
        let url = format!("'https://marquee.test{}'", call.path);
        assert!(
            out.contains(&format!("component = \"{component}\"\ncron_expression = \"{cron}\"\n")),
            "spin form of {component}: {out}"
        );
        let crontab = out
            .lines()
            .find(|l| l.starts_with(&format!("{cron5} curl ")))
            .unwrap_or_else(|| panic!("crontab line of {component}: {out}"));
        assert!(
            crontab.ends_with(&url) && crontab.contains("-X POST") && crontab.contains(&format!("'{}'", call.body)),
            "{crontab}"
        );
        assert!(
            out.contains(&format!("  name: marquee-{component}\nspec:\n  schedule: \"{cron5}\"\n")),
            "CronJob of {component}: {out}"
        );
        assert!(
            out.contains(&format!("    - cron: \"{cron5}\" # {component}: POST {}\n", call.path)),
            "GitHub form of {component}: {out}"
        );
        assert!(
            out.contains(&format!("# spin aka crons create \"{cron5}\" \"{}\"", call.path)),
            "aka form of {component}: {out}"
        );
    }

    // Without --base-url: spin.toml's `marquee_base_url` default.
    let output = Command::new(env!("CARGO_BIN_EXE_marquee"))
        .args(["schedule", "print", "--format", "crontab"])
        .current_dir(root())
        .env_remove("MARQUEE_BASE_URL")
        .output()
        .expect("run marquee");
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(out.contains("'http://127.0.0.1:3000/functions/v1/") && !out.contains("kind: CronJob"), "{out}");
}

#[test]
fn the_github_workflow_runs_on_spin_tomls_schedule() {
    let workflow = std::fs::read_to_string(root().join(".github/workflows/schedule.yml")).unwrap();
    let in_workflow: BTreeSet<String> =
        workflow.lines().map(str::trim).filter(|l| l.starts_with("- cron:")).map(str::to_owned).collect();
    let converted: BTreeSet<String> =
        spin_crons().iter().map(|(_, cron)| spin_cron_to_five_fields(cron).unwrap()).collect();
    let workflow_crons: BTreeSet<String> =
        in_workflow.iter().map(|l| l.split('"').nth(1).unwrap().to_owned()).collect();
    assert_eq!(workflow_crons, converted, "schedule.yml's crons are spin.toml's, in five fields");

    let schedule = read_manifest(&root().join("spin.toml")).unwrap();
    let expected: BTreeSet<String> = schedule.calls.iter().map(github_cron_line).collect();
    assert_eq!(in_workflow, expected, "the lines of `marquee schedule print --format github`");
    for call in &schedule.calls {
        for needle in [
            format!("github.event.schedule == '{}' || inputs.job == '{}'", call.cron5, call.component),
            format!("URL: ${{{{ vars.MARQUEE_BASE_URL }}}}{}", call.path),
            format!("BODY: '{}'", call.body),
        ] {
            assert!(workflow.contains(&needle), "schedule.yml lacks {needle:?}");
        }
    }
    assert!(
        workflow.contains("if: vars.MARQUEE_BASE_URL != ''") && workflow.contains(r#"if [ -z "$ADMIN_TOKEN" ]"#),
        "off until configured"
    );
}
