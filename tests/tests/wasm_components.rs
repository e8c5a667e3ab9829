//! The built components import only what their hosts provide, read from the `.wasm` files
//! themselves (validated and decoded with `wasmparser`).
//!
//! - The cron bridge (every `[[trigger.cron]]` component) runs in the `trigger-cron` plugin
//!   (a Spin 3.5-era host): it must export exactly `handle-cron-event` of
//!   `fermyon:spin-cron@2.0.0`, and import only Spin 2/3 variables, `wasi:http@0.2.*` and the
//!   WASI 0.2 interfaces a Rust guest's std needs.
//! - The HTTP components (every `[[trigger.http]]` component) run on Spin 4 (spin-sdk 6.0): see
//!   [`http_component_may_import`].
//!
//! The components are built here, once per test process, with one `cargo build --target
//! wasm32-wasip2 --release -p <crate>…` for every crate `spin.toml` names, so a test never reads
//! a `.wasm` older than the code (cargo rebuilds only what changed). The outer `cargo test` has
//! released its build lock by the time tests run, and this build uses other profile directories
//! anyway (`release`, `wasm32-wasip2/release`). The `wasm32-wasip2` standard library is added
//! with `rustup target add` when it is missing, so `cargo test` alone is enough on a fresh
//! machine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use wasmparser::component_types::ComponentEntityType;
use wasmparser::{ComponentTypeRef, Encoding, Parser, Payload, TypeBounds, Validator, WasmFeatures};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn manifest() -> toml::Value {
    toml::from_str(&std::fs::read_to_string(root().join("spin.toml")).expect("spin.toml"))
        .expect("spin.toml is valid TOML")
}

/// The components named by `[[trigger.<kind>]]`, with their `source` (relative to the root).
fn components_of(m: &toml::Value, kind: &str) -> BTreeMap<String, String> {
    m["trigger"][kind]
        .as_array()
        .unwrap_or_else(|| panic!("no [[trigger.{kind}]]"))
        .iter()
        .map(|t| {
            let name = t["component"].as_str().expect("component").to_owned();
            let source =
                m["component"][&name]["source"].as_str().unwrap_or_else(|| panic!("{name}: no source")).to_owned();
            (name, source)
        })
        .collect()
}

const TARGET: &str = "wasm32-wasip2";

/// Adds the `wasm32-wasip2` standard library to the toolchain when it lacks it. Asks `rustc`
/// (the one the build below uses) where the target's libraries are, so a toolchain installed
/// without rustup but with the target passes too.
fn ensure_wasm_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", rustc.display()));
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && libdir.is_dir() {
        return;
    }
    eprintln!("the {TARGET} target is not installed: running `rustup target add {TARGET}`");
    match Command::new("rustup").args(["target", "add", TARGET]).current_dir(root()).status() {
        Ok(status) => assert!(status.success(), "`rustup target add {TARGET}` failed ({status})"),
        Err(e) => panic!(
            "the Rust standard library for {TARGET} is not installed for {}, and rustup cannot be run to add it \
             ({e}): install it (`rustup target add {TARGET}`, or your distribution's {TARGET} package)",
            rustc.display()
        ),
    }
}

/// The directory of the built components (`<target dir>/wasm32-wasip2/release`), after building
/// every component crate of `spin.toml` for wasm32-wasip2, once per test process.
fn built_components() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        ensure_wasm_target();
        let m = manifest();
        let crates: BTreeSet<String> = m["component"]
            .as_table()
            .expect("[component.*]")
            .iter()
            .map(|(name, c)| {
                let source = c["source"].as_str().unwrap_or_else(|| panic!("{name}: no source"));
                wasm_file(source).file_stem().and_then(|s| s.to_str()).expect("a .wasm file name").replace('_', "-")
            })
            .collect();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--target", TARGET, "--release"]).current_dir(root());
        for package in &crates {
            build.args(["-p", package]);
        }
        eprintln!("building the components: {build:?}");
        let status = build.status().expect("run cargo");
        assert!(status.success(), "building {crates:?} for {TARGET} failed ({status})");
        target_dir().join(TARGET).join("release")
    })
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// spin.toml's `source = "target/wasm32-wasip2/release/<crate_name>.wasm"`, in the target
/// directory this build uses (`CARGO_TARGET_DIR` may move it).
fn wasm_file(source: &str) -> PathBuf {
    let relative = source.strip_prefix("target/").unwrap_or_else(|| panic!("{source}: expected under target/"));
    assert!(
        Path::new(relative).parent() == Some(Path::new("wasm32-wasip2/release")),
        "{source}: expected target/wasm32-wasip2/release/<crate_name>.wasm"
    );
    target_dir().join(relative)
}

/// The bytes of a component, freshly built. `source` is spin.toml's
/// `target/wasm32-wasip2/release/<crate_name>.wasm`; the crate is `<crate-name>`.
fn component_bytes(source: &str) -> Vec<u8> {
    let path = wasm_file(source);
    let built = built_components();
    assert_eq!(path.parent(), Some(built), "{source} is not among the built components");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (built: {})", path.display(), built.display()))
}

/// What a component imports and exports at its top level, with the validator's types.
struct Surface {
    /// Instances and functions the host must provide.
    imports: Vec<String>,
    /// Type imports bounded `eq` to a type defined beside them (a world's `use`): nothing for
    /// the host to provide.
    type_imports: Vec<String>,
    exports: Vec<String>,
    types: wasmparser::types::Types,
}

fn surface(bytes: &[u8]) -> Surface {
    let types = Validator::new_with_features(WasmFeatures::all()).validate_all(bytes).expect("a valid component");
    let (mut imports, mut type_imports, mut exports) = (Vec::new(), Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.expect("parse") {
            Payload::Version { encoding, .. } if depth == 0 => {
                assert_eq!(encoding, Encoding::Component, "not a component")
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    let import = import.expect("import");
                    match import.ty {
                        ComponentTypeRef::Type(TypeBounds::Eq(_)) => type_imports.push(import.name.0.to_owned()),
                        _ => imports.push(import.name.0.to_owned()),
                    }
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    exports.push(export.expect("export").name.0.to_owned());
                }
            }
            _ => {}
        }
    }
    Surface { imports, type_imports, exports, types }
}

/// `wasi:http/types@0.2.6` → (`wasi:http/types`, `0.2.6`).
fn split_version(import: &str) -> (&str, &str) {
    import.split_once('@').unwrap_or((import, ""))
}

/// The `wasi:cli` interfaces every Rust guest imports, in WASI 0.2 and in the 0.3 candidate alike.
const WASI_CLI_FOR_RUST: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
];

/// Interfaces of WASI 0.2 that Rust std (wasm32-wasip2) and the `wasi` crate import, besides
/// [`WASI_CLI_FOR_RUST`].
const WASI_P2_FOR_RUST: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// What the cron bridge may import: its world's own types, Spin 2/3 variables, outgoing HTTP
/// of WASI 0.2, and [`WASI_P2_FOR_RUST`]. No filesystem, sockets, PostgreSQL or spin-sdk 6.
fn bridge_may_import(import: &str) -> bool {
    let (name, version) = split_version(import);
    match name {
        // The plugin world's `use cron-types.{metadata, error}`: types only (checked below).
        "fermyon:spin-cron/cron-types" => version == "2.0.0",
        "fermyon:spin/variables" => version == "2.0.0",
        "wasi:http/types" | "wasi:http/outgoing-handler" => version.starts_with("0.2."),
        _ => (WASI_CLI_FOR_RUST.contains(&name) || WASI_P2_FOR_RUST.contains(&name)) && version.starts_with("0.2."),
    }
}

/// What an HTTP component may import on Spin 4.0/4.1, derived from spin-sdk 6.0's WIT
/// (`spin-sdk-6.0.0/wit`: its `spin:postgres@4.2.0` and `spin:variables@3.0.0` worlds) and the
/// `wasip3` crate it uses for `wasi:http@0.3.0-rc-2026-03-15`, and checked against what the built
/// components import. Spin 4 hosts these; it does not host spin-sdk 7's later WASI, nor the
/// Spin 2/3 `fermyon:spin/*` interfaces of the cron plugin.
const SPIN_4_IMPORTS: &[&str] = &[
    "spin:postgres/postgres@4.2.0",
    "spin:variables/variables@3.0.0",
    "wasi:http/types@0.3.0-rc-2026-03-15",
    "wasi:http/client@0.3.0-rc-2026-03-15",
];

/// The WASI 0.3 release candidate Spin 4.0/4.1 hosts.
const WASI_P3: &str = "0.3.0-rc-2026-03-15";

/// Interfaces of WASI `0.3.0-rc-2026-03-15` that `wasip3` (spin-sdk 6's WASI bindings) declares
/// for a Rust guest besides [`WASI_CLI_FOR_RUST`]: cli types, clocks, random, filesystem (no
/// sockets).
const WASI_P3_FOR_RUST: &[&str] = &[
    "wasi:cli/types",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/system-clock",
    "wasi:clocks/types",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// WASI 0.2 interfaces an HTTP component may import besides [`WASI_P2_FOR_RUST`]: Rust std's
/// `std::fs` (none of today's components use it).
const WASI_P2_FILESYSTEM: &[&str] = &["wasi:filesystem/types", "wasi:filesystem/preopens"];

fn http_component_may_import(import: &str) -> bool {
    let (name, version) = split_version(import);
    SPIN_4_IMPORTS.contains(&import)
        || version == WASI_P3 && (WASI_CLI_FOR_RUST.contains(&name) || WASI_P3_FOR_RUST.contains(&name))
        || version.starts_with("0.2.")
            && [WASI_CLI_FOR_RUST, WASI_P2_FOR_RUST, WASI_P2_FILESYSTEM].iter().any(|list| list.contains(&name))
}

#[test]
fn the_cron_bridge_exports_the_plugin_world_and_imports_only_what_the_plugin_hosts() {
    let m = manifest();
    let sources: BTreeSet<String> = components_of(&m, "cron").into_values().collect();
    assert_eq!(sources.len(), 1, "every cron component uses the one bridge wasm: {sources:?}");
    let s = surface(&component_bytes(sources.first().unwrap()));

    assert_eq!(s.exports, ["handle-cron-event"], "exports");
    assert_eq!(
        s.type_imports.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["error", "metadata"]),
        "the world's `use cron-types.{{metadata, error}}`"
    );
    assert!(
        matches!(s.types.component_entity_type_of_export("handle-cron-event"), Some(ComponentEntityType::Func(_))),
        "handle-cron-event is a function"
    );

    eprintln!("imports of the cron bridge: {:#?}", s.imports);
    let refused: Vec<&String> = s.imports.iter().filter(|i| !bridge_may_import(i)).collect();
    assert!(
        refused.is_empty(),
        "the bridge imports {refused:?}, which the cron plugin does not host; all imports: {:#?}",
        s.imports
    );
    assert!(s.imports.iter().any(|i| i == "fermyon:spin/variables@2.0.0"), "reads its variables: {:#?}", s.imports);
    assert!(s.imports.iter().any(|i| i.starts_with("wasi:http/outgoing-handler@0.2.")), "sends HTTP: {:#?}", s.imports);
    assert!(
        !s.imports.iter().any(|i| i.starts_with("spin:") || i.contains("@0.3.")),
        "no Spin 4 interfaces: {:#?}",
        s.imports
    );

    // The world's own interface carries types only: the plugin has nothing to link there.
    let cron_types = s.imports.iter().find(|i| i.starts_with("fermyon:spin-cron/cron-types@"));
    if let Some(name) = cron_types {
        let Some(ComponentEntityType::Instance(id)) = s.types.component_entity_type_of_import(name) else {
            panic!("{name} is not an instance")
        };
        let exports = &s.types[id].exports;
        assert!(
            exports.values().all(|e| matches!(e, ComponentEntityType::Type { .. })),
            "{name} must hold types only: {:?}",
            exports.keys().collect::<Vec<_>>()
        );
        assert_eq!(exports.keys().map(String::as_str).collect::<BTreeSet<_>>(), BTreeSet::from(["error", "metadata"]));
    }
}

#[test]
fn http_components_import_only_what_spin_4_hosts() {
    let m = manifest();
    let components = components_of(&m, "http");
    assert!(!components.is_empty());
    let mut seen = BTreeSet::new();
    for (name, source) in &components {
        let s = surface(&component_bytes(source));
        let refused: Vec<&String> = s.imports.iter().filter(|i| !http_component_may_import(i)).collect();
        assert!(
            refused.is_empty(),
            "{name} imports {refused:?}, which Spin 4 (spin-sdk 6.0) does not host; all imports: {:#?}",
            s.imports
        );
        assert!(
            s.exports.iter().any(|e| e == "wasi:http/handler@0.3.0-rc-2026-03-15"),
            "{name} exports the Spin 4 HTTP handler: {:?}",
            s.exports
        );
        assert!(s.type_imports.is_empty(), "{name}: {:?}", s.type_imports);
        seen.extend(s.imports);
    }
    eprintln!("imports of the HTTP components: {seen:#?}");
}
