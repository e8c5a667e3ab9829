//! `deploy/spinkube/` agrees with `spin.toml`: the SpinApp runs the HTTP components with every
//! variable set (secrets only from Kubernetes Secrets, never in clear), and the CronJobs are
//! exactly what `marquee schedule print --format kubernetes` makes of spin.toml's schedule.

use std::collections::BTreeSet;
use std::path::Path;

use marquee_cli::schedule::{Format, parse_manifest, render};
use yaml_rust2::{Yaml, YamlLoader};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/spinkube");

fn spin_toml_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spin.toml")).expect("spin.toml")
}

fn spin_toml() -> toml::Value {
    toml::from_str(&spin_toml_text()).expect("spin.toml is valid TOML")
}

/// Every YAML file of `deploy/spinkube/`: (file name, text, its non-empty documents).
fn deploy_files() -> Vec<(String, String, Vec<Yaml>)> {
    let mut files: Vec<_> = std::fs::read_dir(DEPLOY)
        .expect("deploy/spinkube exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML in {DEPLOY}");
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"));
            (name, text, docs.into_iter().filter(|d| !d.is_null()).collect())
        })
        .collect()
}

fn of_kind(kind: &str) -> Vec<Yaml> {
    deploy_files().into_iter().flat_map(|(_, _, docs)| docs).filter(|d| d["kind"].as_str() == Some(kind)).collect()
}

fn spin_app() -> Yaml {
    let mut apps = of_kind("SpinApp");
    assert_eq!(apps.len(), 1, "one SpinApp");
    apps.remove(0)
}

/// The SpinApp's variables by name.
fn variables(app: &Yaml) -> Vec<(String, Yaml)> {
    let list = app["spec"]["variables"].as_vec().expect("spec.variables is a list");
    list.iter().map(|v| (v["name"].as_str().expect("every variable has a name").to_owned(), v.clone())).collect()
}

fn value_of(app: &Yaml, name: &str) -> String {
    let (_, v) = variables(app).into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}"));
    v["value"].as_str().unwrap_or_else(|| panic!("{name} has no plain value")).to_owned()
}

#[test]
fn every_document_parses_and_is_a_kind_we_ship() {
    for (name, _, docs) in deploy_files() {
        for doc in docs {
            let kind = doc["kind"].as_str().unwrap_or_else(|| panic!("{name}: a document without kind"));
            assert!(
                ["SpinApp", "CronJob"].contains(&kind),
                "{name}: unexpected {kind} (no Secret objects: see the README)"
            );
            assert!(doc["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("marquee")), "{name}: {kind} name");
        }
    }
}

#[test]
fn the_spin_app_runs_the_http_components_with_replicas_on_the_spin_shim() {
    let app = spin_app();
    assert_eq!(app["apiVersion"].as_str(), Some("core.spinkube.dev/v1alpha1"));
    assert_eq!(app["spec"]["executor"].as_str(), Some("containerd-shim-spin"));
    assert!(app["spec"]["image"].as_str().is_some_and(|i| i.contains("/marquee:")), "an image reference");
    assert!(app["spec"]["replicas"].as_i64().is_some_and(|r| r >= 2), "replicas: several instances, one database");
    let components: BTreeSet<&str> =
        app["spec"]["components"].as_vec().expect("spec.components").iter().map(|c| c.as_str().unwrap()).collect();
    let m = spin_toml();
    let http: BTreeSet<&str> =
        m["trigger"]["http"].as_array().unwrap().iter().map(|t| t["component"].as_str().unwrap()).collect();
    assert_eq!(components, http, "exactly the HTTP components (the CronJobs replace the cron ones)");
}

#[test]
fn every_spin_variable_is_set_and_secrets_come_only_from_kubernetes_secrets() {
    let app = spin_app();
    let set = variables(&app);
    let m = spin_toml();
    let declared = m["variables"].as_table().expect("[variables]");
    let names: Vec<&String> = set.iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), names.iter().collect::<BTreeSet<_>>().len(), "a variable set twice");
    for (name, v) in &set {
        assert!(declared.contains_key(name), "{name} is not a spin.toml variable");
        let secret = declared[name].get("secret").and_then(|s| s.as_bool()).unwrap_or(false);
        if secret {
            assert!(v["value"].is_badvalue(), "{name} is secret: never a plain value");
            let from = &v["valueFrom"]["secretKeyRef"];
            assert!(from["name"].as_str().is_some() && from["key"].as_str().is_some(), "{name}: secretKeyRef");
        } else {
            assert!(v["value"].as_str().is_some() && v["valueFrom"].is_badvalue(), "{name}: a plain string value");
        }
    }
    for (name, spec) in declared {
        let is_set = set.iter().find(|(n, _)| n == name);
        let secret = spec.get("secret").and_then(|s| s.as_bool()).unwrap_or(false);
        let required = spec.get("required").and_then(|r| r.as_bool()).unwrap_or(false);
        match is_set {
            None => {
                assert!(!secret, "secret {name} must be bound to a Secret (even an optional key)");
                assert!(spec.get("default").is_some(), "{name} has no default: the SpinApp must set it");
            }
            Some((_, v)) if required => {
                let optional = v["valueFrom"]["secretKeyRef"]["optional"].as_bool().unwrap_or(false);
                assert!(!optional, "{name} is required: its Secret key cannot be optional");
            }
            Some(_) => {}
        }
    }
}

#[test]
fn no_secret_value_appears_in_clear() {
    let m = spin_toml();
    let declared = m["variables"].as_table().unwrap();
    for (name, text, docs) in deploy_files() {
        // No credentials in a URL (postgres://user:password@host).
        for word in text.split_whitespace() {
            if let Some((_, rest)) = word.split_once("://") {
                let authority = rest.split('/').next().unwrap_or_default();
                assert!(!authority.contains('@'), "{name}: credentials in {word}");
            }
        }
        // Every environment variable of the CronJobs that carries a token comes from a Secret.
        for doc in docs.iter().filter(|d| d["kind"].as_str() == Some("CronJob")) {
            let containers = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"].as_vec().unwrap();
            for env in containers.iter().flat_map(|c| c["env"].as_vec().cloned().unwrap_or_default()) {
                assert!(env["value"].is_badvalue(), "{name}: env {:?} has a plain value", env["name"]);
                assert!(env["valueFrom"]["secretKeyRef"]["key"].as_str().is_some(), "{name}: env from a Secret");
            }
        }
        // Nor in the comments: a secret's name is only ever followed by a <placeholder>.
        for (var, spec) in declared {
            if spec.get("secret").and_then(|s| s.as_bool()).unwrap_or(false) {
                for (at, _) in text.match_indices(&format!("{var}=")) {
                    let value = &text[at + var.len() + 1..];
                    assert!(value.starts_with('<'), "{name}: {var}= followed by a value, not a <placeholder>");
                }
            }
        }
    }
}

#[test]
fn the_cron_jobs_are_spin_tomls_schedule_rendered_for_kubernetes() {
    let app = spin_app();
    let base_url = value_of(&app, "marquee_base_url");
    assert_eq!(value_of(&app, "marquee_allowed_host"), base_url, "the allow-list entry is the base URL's origin");
    let schedule = parse_manifest(&spin_toml_text()).unwrap();
    // The file is the command's output, byte for byte: regenerate it, never edit it.
    let text = std::fs::read_to_string(Path::new(DEPLOY).join("cronjobs.yaml")).expect("cronjobs.yaml");
    assert_eq!(
        text,
        render(&schedule, &base_url, Format::Kubernetes),
        "run: marquee schedule print --format kubernetes --base-url {base_url} > deploy/spinkube/cronjobs.yaml"
    );
    // And, read as Kubernetes reads it: one CronJob per [[trigger.cron]], same schedule, route, body.
    let jobs = of_kind("CronJob");
    assert_eq!(jobs.len(), schedule.calls.len());
    let admin = &variables(&app).into_iter().find(|(n, _)| n == "admin_token").unwrap().1["valueFrom"]["secretKeyRef"];
    for call in &schedule.calls {
        let job = jobs
            .iter()
            .find(|j| j["metadata"]["name"].as_str() == Some(&format!("marquee-{}", call.component)))
            .unwrap_or_else(|| panic!("no CronJob for {}", call.component));
        assert_eq!(job["spec"]["schedule"].as_str(), Some(call.cron5.as_str()));
        assert_eq!(job["spec"]["timeZone"].as_str(), Some("Etc/UTC"));
        let container = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
        let script = container["args"][0].as_str().unwrap();
        assert!(script.contains(&format!("'{base_url}{}'", call.path)), "{}: {script}", call.component);
        assert!(script.contains(&format!("'{}'", call.body)), "{}: {script}", call.component);
        let token = &container["env"][0]["valueFrom"]["secretKeyRef"];
        assert_eq!((&token["name"], &token["key"]), (&admin["name"], &admin["key"]), "one admin token Secret");
    }
}
