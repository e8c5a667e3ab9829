//! `spin.toml` agrees with the library: same routes to the same components, every setting
//! declared (secrets as secrets), every component built from a crate in `functions/`.

use std::collections::BTreeSet;

use marquee::api::ROUTES;
use marquee::config::SETTINGS;

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
    let in_library: BTreeSet<(String, String)> = ROUTES.iter().map(|r| (r.path.to_owned(), r.component.to_owned())).collect();
    assert_eq!(in_spin, in_library);
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

#[test]
fn every_component_is_a_function_crate_with_its_wasm_and_outbound_hosts() {
    let m = manifest();
    let components = m["component"].as_table().expect("[component]");
    for (name, component) in components {
        let crate_dir = format!("{}/../functions/{name}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&crate_dir).exists(), "no crate for component {name}");
        let wasm = format!("target/wasm32-wasip2/release/{}.wasm", name.replace('-', "_"));
        assert_eq!(component["source"].as_str(), Some(wasm.as_str()));
        let hosts = component["allowed_outbound_hosts"].as_array().expect("allowed_outbound_hosts");
        assert!(hosts.iter().any(|h| h.as_str() == Some("{{ database_allowed_host }}")), "{name} cannot reach PostgreSQL");
        assert!(component["variables"].get("database_url").is_some(), "{name} lacks database_url");
    }
    assert!(components["ingest-movie"]["allowed_outbound_hosts"].as_array().unwrap().iter().any(|h| h.as_str() == Some("{{ tmdb_allowed_host }}")));
}
