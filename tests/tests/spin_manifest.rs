//! `spin.toml` agrees with the library: same routes to the same components, every setting
//! declared (secrets as secrets), every HTTP component built from its crate in `functions/`,
//! every cron component the cron bridge calling a scheduled route.

use std::collections::BTreeSet;

use marquee::api::{MOUNTS, ROUTES, spin_route};
use marquee::config::SETTINGS;
use marquee::schedule::{JOBS, spin_cron_to_five_fields};

fn manifest() -> toml::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spin.toml");
    toml::from_str(&std::fs::read_to_string(path).expect("spin.toml")).expect("spin.toml is valid TOML")
}

#[test]
fn spin_routes_equal_the_routing_table() {
    let m = manifest();
    let triggers = m["trigger"]["http"].as_array().expect("[[trigger.http]]");
    let in_spin: BTreeSet<(String, String)> = triggers
        .iter()
        .map(|t| (t["route"].as_str().unwrap().to_owned(), t["component"].as_str().unwrap().to_owned()))
        .collect();
    // A mounted component (`api::MOUNTS`) has one route for all of its paths.
    let in_library: BTreeSet<(String, String)> =
        ROUTES.iter().map(|r| (spin_route(r).to_owned(), r.component.to_owned())).collect();
    assert_eq!(in_spin, in_library);
    for (component, mount) in MOUNTS {
        assert!(mount.ends_with("/..."), "{component}: {mount} is a Spin tail route");
        assert!(ROUTES.iter().any(|r| r.component == *component), "{component} serves routes of the table");
    }
}

#[test]
fn every_setting_is_a_spin_variable_and_secrets_are_secret() {
    let m = manifest();
    let variables = m["variables"].as_table().expect("[variables]");
    for (name, _, secret) in SETTINGS {
        let declared = variables.get(*name).unwrap_or_else(|| panic!("spin.toml lacks variable {name}"));
        assert_eq!(declared.get("secret").and_then(|s| s.as_bool()).unwrap_or(false), *secret, "{name}: secret flag");
    }
}

/// The components named by the `[[trigger.<kind>]]` entries, in order.
fn triggered(m: &toml::Value, kind: &str) -> Vec<String> {
    m["trigger"]
        .get(kind)
        .and_then(|t| t.as_array())
        .map(|a| a.iter().map(|t| t["component"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn every_component_has_one_trigger_http_or_cron() {
    let m = manifest();
    let components: BTreeSet<String> = m["component"].as_table().expect("[component]").keys().cloned().collect();
    let (http, cron) = (triggered(&m, "http"), triggered(&m, "cron"));
    // An HTTP component may serve several routes (Spin keys its router by route: the dashboard
    // serves its pages, the JSON and the metrics); a cron component has its one schedule, and
    // no component is both.
    let http: BTreeSet<String> = http.into_iter().collect();
    assert_eq!(cron.len(), cron.iter().collect::<BTreeSet<_>>().len(), "a cron component has two schedules: {cron:?}");
    assert!(cron.iter().all(|c| !http.contains(c)), "a component is both HTTP and cron: {cron:?}");
    let mut all = http.clone();
    all.extend(cron.iter().cloned());
    assert_eq!(all, components, "every [component.*] is named by a [[trigger.http]] or one [[trigger.cron]]");
    let kinds: BTreeSet<&String> = m["trigger"].as_table().unwrap().keys().collect();
    assert_eq!(kinds, BTreeSet::from([&"cron".to_owned(), &"http".to_owned()]));
}

#[test]
fn every_http_component_is_a_function_crate_with_its_wasm_and_outbound_hosts() {
    let m = manifest();
    let components = m["component"].as_table().expect("[component]");
    for name in triggered(&m, "http") {
        let component = &components[&name];
        let crate_dir = format!("{}/../functions/{name}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&crate_dir).exists(), "no crate for component {name}");
        let wasm = format!("target/wasm32-wasip2/release/{}.wasm", name.replace('-', "_"));
        assert_eq!(component["source"].as_str(), Some(wasm.as_str()));
        let hosts = component["allowed_outbound_hosts"].as_array().expect("allowed_outbound_hosts");
        assert!(
            hosts.iter().any(|h| h.as_str() == Some("{{ database_allowed_host }}")),
            "{name} cannot reach PostgreSQL"
        );
        assert!(component["variables"].get("database_url").is_some(), "{name} lacks database_url");
    }
    assert!(
        components["ingest-movie"]["allowed_outbound_hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h.as_str() == Some("{{ tmdb_allowed_host }}"))
    );
}

#[test]
fn every_cron_component_is_the_bridge_to_a_scheduled_route_without_database_access() {
    let m = manifest();
    let components = m["component"].as_table().expect("[component]");
    let cron = triggered(&m, "cron");
    let jobs: BTreeSet<&str> = JOBS.iter().map(|j| j.component).collect();
    assert_eq!(
        cron.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        jobs,
        "one [[trigger.cron]] per marquee::schedule::JOBS entry"
    );
    for trigger in m["trigger"]["cron"].as_array().unwrap() {
        let name = trigger["component"].as_str().unwrap();
        let expression = trigger["cron_expression"].as_str().unwrap_or_else(|| panic!("{name}: no cron_expression"));
        spin_cron_to_five_fields(expression).unwrap_or_else(|e| panic!("{name}: {e}"));
        let job = JOBS.iter().find(|j| j.component == name).unwrap();
        let component = &components[name];
        assert!(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../functions/cron-bridge/Cargo.toml")).exists()
        );
        assert_eq!(component["source"].as_str(), Some("target/wasm32-wasip2/release/cron_bridge.wasm"), "{name}");
        assert_eq!(
            component["build"]["command"].as_str(),
            Some("cargo build --target wasm32-wasip2 --release -p cron-bridge"),
            "{name}"
        );
        let hosts: Vec<&str> = component["allowed_outbound_hosts"]
            .as_array()
            .expect("allowed_outbound_hosts")
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        assert_eq!(hosts, ["{{ marquee_allowed_host }}"], "{name} reaches only the HTTP routes: no database, no TMDB");
        let variables = component["variables"].as_table().unwrap_or_else(|| panic!("{name}: no variables"));
        let names: BTreeSet<&str> = variables.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            BTreeSet::from(["admin_token", "body", "target_url"]),
            "{name}: no database_url, no TMDB settings"
        );
        assert_eq!(
            variables["target_url"].as_str(),
            Some(format!("{{{{ marquee_base_url }}}}{}", job.path).as_str()),
            "{name}"
        );
        assert_eq!(variables["admin_token"].as_str(), Some("{{ admin_token }}"), "{name}");
        assert_eq!(variables["body"].as_str(), Some(job.body), "{name}");
    }
    let declared = m["variables"].as_table().unwrap();
    let base = declared["marquee_base_url"]["default"].as_str().expect("marquee_base_url default");
    assert_eq!(
        declared["marquee_allowed_host"]["default"].as_str(),
        Some(base),
        "the default allow-list entry is the default base URL's origin"
    );
}
