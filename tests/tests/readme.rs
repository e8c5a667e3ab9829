//! The README's configuration table says what the code does: one row per setting of
//! [`SETTINGS`] (same default, same secret flag), and the Spin-only rows are `spin.toml`
//! `[variables]` with the defaults the table gives.

use std::collections::{BTreeMap, BTreeSet};

use marquee::config::SETTINGS;

/// The rows of the configuration table that spin.toml declares but the library never reads.
const SPIN_ONLY: &[&str] = &["tmdb_allowed_host", "database_allowed_host", "marquee_base_url", "marquee_allowed_host"];

#[derive(Debug, PartialEq)]
struct Row {
    /// `None`: required (`— (required)`); `Some("")`: an empty default.
    default: Option<String>,
    secret: bool,
}

fn read(relative: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../");
    std::fs::read_to_string(format!("{path}{relative}")).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `` `x` `` → `x`; a cell without backticks is returned trimmed.
fn unquote(cell: &str) -> &str {
    let cell = cell.trim();
    cell.strip_prefix('`').and_then(|c| c.strip_suffix('`')).unwrap_or(cell)
}

/// The table under `## Configuration`, by setting name.
fn readme_table() -> BTreeMap<String, Row> {
    let readme = read("README.md");
    let section = readme.split("\n## Configuration\n").nth(1).expect("README has a `## Configuration` section");
    let section = section.split("\n## ").next().unwrap();
    let mut lines = section.lines().skip_while(|l| !l.starts_with('|'));
    let header = lines.next().expect("a table in `## Configuration`");
    assert_eq!(
        header.split('|').map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>(),
        ["Name", "Default", "Secret", "Meaning"],
        "columns of the configuration table"
    );
    assert!(lines.next().is_some_and(|l| l.starts_with("|---")), "the header's separator row");
    let mut rows = BTreeMap::new();
    for line in lines.take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').collect();
        // `| name | default | secret | meaning |` splits into an empty first and last cell.
        assert!(cells.len() >= 6, "a row of four cells: {line}");
        let name = unquote(cells[1]).to_owned();
        let default = match cells[2].trim() {
            "— (required)" => None,
            other => Some(unquote(other).to_owned()),
        };
        let secret = match cells[3].trim() {
            "yes" => true,
            "" => false,
            other => panic!("{name}: the Secret column is `yes` or empty, not {other:?}"),
        };
        assert!(rows.insert(name.clone(), Row { default, secret }).is_none(), "{name} is listed twice");
    }
    rows
}

#[test]
fn the_configuration_table_lists_every_setting_with_its_default_and_secrecy() {
    let mut table = readme_table();
    for (name, default, secret) in SETTINGS {
        let row = table.remove(*name).unwrap_or_else(|| panic!("the README's configuration table lacks {name}"));
        assert_eq!(row, Row { default: default.map(str::to_owned), secret: *secret }, "README row of {name}");
    }
    let rest: BTreeSet<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(rest, SPIN_ONLY.iter().copied().collect(), "rows of the table that are not library settings");
}

#[test]
fn the_spin_only_rows_are_spin_variables_with_the_same_defaults() {
    let table = readme_table();
    let manifest: toml::Value = toml::from_str(&read("spin.toml")).expect("spin.toml is valid TOML");
    let variables = manifest["variables"].as_table().expect("[variables]");
    for name in SPIN_ONLY {
        let row = table.get(*name).unwrap_or_else(|| panic!("the README's configuration table lacks {name}"));
        let declared = variables.get(*name).unwrap_or_else(|| panic!("spin.toml lacks variable {name}"));
        let in_spin = Row {
            default: declared.get("default").map(|d| d.as_str().expect("a string default").to_owned()),
            secret: declared.get("secret").and_then(|s| s.as_bool()).unwrap_or(false),
        };
        assert_eq!(*row, in_spin, "README row of {name} against spin.toml");
    }
}
