//! `marquee::db::pg_text` against the real server: for generated JSON (deep nesting, control
//! and astral-plane characters, numbers in every form serde_json writes, keys of equal lengths)
//! and for values aimed at every column type (numbers, integer, float, boolean and date/time
//! texts in and around what each input function reads, JSON arrays of every shape), the text
//! Rust computes is the text PostgreSQL prints, and the digests agree: `to_jsonb` texts, the
//! types' output texts, and record texts (`ROW(...)::text`) of generated rows of mixed types.
//!
//! The properties use proptest's generators on a fixed seed (`PG_TEXT_SEED=<n>` draws another
//! sample) and send each sample in one query, so they report every disagreement of the sample
//! at once rather than a shrunk case.

use std::collections::BTreeMap;

use marquee::db::pg_text::{self, ColumnType, NotStored};
use marquee_tests::{connect, fresh_database};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value as Json, json};

// ---- the server's side ----

/// A connection in the session the audit runs in.
async fn session() -> tokio_postgres::Client {
    let db = connect(&fresh_database().await).await;
    db.batch_execute(
        "SET extra_float_digits = 1; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY';
         -- What a column of type `ty` prints after jsonb_to_recordset stored `v`; NULL when
         -- PostgreSQL refuses the value.
         CREATE FUNCTION pg_temp.stored_text(v jsonb, ty text) RETURNS text LANGUAGE plpgsql AS $$
         DECLARE printed text;
         BEGIN
             EXECUTE format('SELECT (to_jsonb(x) -> ''c'')::text FROM jsonb_to_recordset($1) AS x(c %s)', ty)
                INTO STRICT printed USING jsonb_build_array(jsonb_build_object('c', v));
             RETURN printed;
         EXCEPTION WHEN data_exception OR invalid_text_representation OR program_limit_exceeded THEN
             RETURN NULL;
         END $$;
         -- What the output function of `ty` (boolout, float8out, array_out, ...: what record_out
         -- calls) prints for the value stored from `v`, and what the cast `x.c::text` prints:
         -- {output, cast}, each NULL for SQL NULL; NULL when PostgreSQL refuses the value.
         CREATE FUNCTION pg_temp.output_texts(v jsonb, ty text) RETURNS text[] LANGUAGE plpgsql AS $$
         DECLARE printed text[];
         BEGIN
             EXECUTE format('SELECT ARRAY[%s(x.c)::text, x.c::text] FROM jsonb_to_recordset($1) AS x(c %s)',
                            (SELECT typoutput FROM pg_type WHERE oid = ty::regtype), ty)
                INTO STRICT printed USING jsonb_build_array(jsonb_build_object('c', v));
             RETURN printed;
         EXCEPTION WHEN data_exception OR invalid_text_representation OR program_limit_exceeded THEN
             RETURN NULL;
         END $$;",
    )
    .await
    .expect("set up the session");
    db
}

/// `$1::jsonb::text` for each value, each bound as jsonb.
async fn server_jsonb_texts(db: &tokio_postgres::Client, values: &[Json]) -> Vec<String> {
    db.query("SELECT v::text FROM unnest($1::jsonb[]) WITH ORDINALITY AS u(v, i) ORDER BY i", &[&values])
        .await
        .expect("jsonb texts")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// What a column of type `ty` prints for each value (`None`: refused).
async fn server_column_texts(db: &tokio_postgres::Client, values: &[Json], ty: ColumnType) -> Vec<Option<String>> {
    db.query(
        "SELECT pg_temp.stored_text(v, $2) FROM unnest($1::jsonb[]) WITH ORDINALITY AS u(v, i) ORDER BY i",
        &[&values, &ty.sql_name()],
    )
    .await
    .unwrap_or_else(|e| panic!("column texts for {ty:?}: {e}"))
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// What the output function of `ty` prints for each value, and what the cast to text prints
/// (`None`: refused; `Some([None, None])`: SQL NULL).
async fn server_output_texts(
    db: &tokio_postgres::Client,
    values: &[Json],
    ty: ColumnType,
) -> Vec<Option<[Option<String>; 2]>> {
    db.query(
        "SELECT pg_temp.output_texts(v, $2) FROM unnest($1::jsonb[]) WITH ORDINALITY AS u(v, i) ORDER BY i",
        &[&values, &ty.sql_name()],
    )
    .await
    .unwrap_or_else(|e| panic!("output texts for {ty:?}: {e}"))
    .iter()
    .map(|row| {
        row.get::<_, Option<Vec<Option<String>>>>(0)
            .map(|texts| texts.try_into().expect("the output text and the cast's text"))
    })
    .collect()
}

// ---- the comparisons ----

async fn assert_jsonb_texts_agree(db: &tokio_postgres::Client, values: &[Json]) {
    let server = server_jsonb_texts(db, values).await;
    let wrong: Vec<String> = values
        .iter()
        .zip(&server)
        .filter(|(v, s)| pg_text::jsonb_text(v) != **s)
        .map(|(v, s)| format!("{v}\n  rust:       {}\n  postgresql: {s}", pg_text::jsonb_text(v)))
        .collect();
    assert!(wrong.is_empty(), "{} of {} jsonb texts differ:\n{}", wrong.len(), values.len(), wrong.join("\n"));
}

/// How the model did on a sample, per column type.
#[derive(Debug, Default)]
struct Tally {
    stored: usize,
    refused: usize,
    not_modelled: usize,
}

async fn assert_column_texts_agree(db: &tokio_postgres::Client, values: &[Json]) -> BTreeMap<String, Tally> {
    let mut tallies = BTreeMap::new();
    let mut wrong = Vec::new();
    for ty in ColumnType::ALL {
        let server = server_column_texts(db, values, ty).await;
        let tally: &mut Tally = tallies.entry(format!("{ty:?}")).or_default();
        for (value, server) in values.iter().zip(server) {
            let model = pg_text::column_text(value, ty);
            match &model {
                Ok(_) => tally.stored += 1,
                Err(NotStored::Refused) => tally.refused += 1,
                Err(NotStored::NotModelled) => {
                    tally.not_modelled += 1;
                    continue;
                }
            }
            if model.clone().ok() != server {
                wrong.push(format!("{ty:?} {value}\n  rust:       {model:?}\n  postgresql: {server:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} column texts differ:\n{}", wrong.len(), wrong.join("\n"));
    tallies
}

/// `column_out` is what the output function prints, for every type; and what `x.c::text` prints
/// too, but for booleans, whose cast prints `true`/`false` where boolout prints `t`/`f`.
async fn assert_column_outs_agree(db: &tokio_postgres::Client, values: &[Json]) -> BTreeMap<String, Tally> {
    let mut tallies = BTreeMap::new();
    let mut wrong = Vec::new();
    for ty in ColumnType::ALL {
        let server = server_output_texts(db, values, ty).await;
        let tally: &mut Tally = tallies.entry(format!("{ty:?}")).or_default();
        for (value, server) in values.iter().zip(server) {
            let model = pg_text::column_out(value, ty);
            match &model {
                Ok(_) => tally.stored += 1,
                Err(NotStored::Refused) => tally.refused += 1,
                Err(NotStored::NotModelled) => {
                    tally.not_modelled += 1;
                    continue;
                }
            }
            let output = server.as_ref().map(|[output, _]| output.clone());
            if model.clone().ok() != output {
                wrong.push(format!("{ty:?} {value}\n  rust:       {model:?}\n  postgresql: {output:?}"));
            }
            if let Some([output, cast]) = &server {
                let expected_cast = match (ty, output.as_deref()) {
                    (ColumnType::Bool, Some("t")) => Some("true"),
                    (ColumnType::Bool, Some("f")) => Some("false"),
                    _ => output.as_deref(),
                };
                if cast.as_deref() != expected_cast {
                    wrong.push(format!("{ty:?} {value}: output {output:?}, but the cast prints {cast:?}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} output texts differ:\n{}", wrong.len(), wrong.join("\n"));
    tallies
}

/// The sample says something on both sides of every input function, and the model says
/// `NotModelled` only for its documented gaps: date/time strings outside ISO 8601 and
/// non-strings into date/time columns; array literals into text[].
fn assert_tallies_cover_every_type(tallies: &BTreeMap<String, Tally>) {
    for (ty, tally) in tallies {
        assert!(tally.stored >= 50, "{ty}: too few stored values: {tally:?}");
        let can_refuse = !matches!(ty.as_str(), "Text" | "Jsonb");
        assert!(!can_refuse || tally.refused >= 20, "{ty}: too few refused values: {tally:?}");
        let has_gaps = matches!(ty.as_str(), "Date" | "Timestamp" | "Timestamptz" | "TextArray");
        assert!(has_gaps || tally.not_modelled == 0, "{ty}: {tally:?}");
    }
}

// ---- generators ----

/// `count` values of `strategy`, the same on every run unless `PG_TEXT_SEED` says otherwise.
fn sample<S: Strategy>(strategy: S, count: usize) -> Vec<S::Value> {
    let seed: u64 = std::env::var("PG_TEXT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_141_002);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    (0..count).map(|_| strategy.new_tree(&mut runner).expect("a value").current()).collect()
}

/// Strings of every kind of character but NUL (which PostgreSQL refuses in jsonb).
fn json_string() -> impl Strategy<Value = String> {
    let character = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('\u{1}', '\u{1f}'),
        1 => prop::sample::select(vec![
            '"', '\\', '/', ' ', '\u{7f}', '\u{80}', '\u{9f}', 'é', '\u{2028}', '\u{feff}', '\u{fffd}', '😀', '\u{10ffff}',
        ]),
        1 => any::<char>().prop_filter("no NUL", |c| *c != '\0'),
    ];
    prop::collection::vec(character, 0..12).prop_map(String::from_iter)
}

/// Keys from a small alphabet of one- to four-byte characters: many of equal byte length.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[aAbB_éß😀]{0,3}", 1 => json_string()]
}

/// Numbers in every form serde_json holds and writes: i64, u64, doubles from any bit pattern
/// (subnormal to huge), and doubles written `1.0`, `1e-7`, `1.5e20`, `-0.0`.
fn json_number() -> impl Strategy<Value = Json> {
    prop_oneof![
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        (-1000i64..1000).prop_map(Json::from),
        any::<u64>().prop_filter_map("a finite double", |bits| serde_json::Number::from_f64(f64::from_bits(bits))
            .map(Json::Number)),
        (-99_999i64..99_999, -40i32..40)
            .prop_filter_map("a finite double", |(m, e)| serde_json::from_str::<Json>(&format!("{m}e{e}")).ok()),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            0.1,
            1e-7,
            1e-5,
            1.5e20,
            1e15,
            1e16,
            1e21,
            1e22,
            100.0,
            123_456.7,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            -1e-300,
        ])
        .prop_map(Json::from),
    ]
}

fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        json_number(),
        json_string().prop_map(Json::String),
    ];
    leaf.prop_recursive(8, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::vec((json_key(), inner), 0..6)
                .prop_map(|entries| Json::Object(entries.into_iter().collect())),
        ]
    })
}

/// Input functions' spaces (C's `isspace`), usually none.
fn spaces() -> impl Strategy<Value = String> {
    prop_oneof![3 => Just(String::new()), 1 => r"[ \t\n\x0B\x0C\r]{1,2}"]
}

/// One of `words`, in random letter case.
fn any_case(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    (prop::sample::select(words), prop::collection::vec(any::<bool>(), 12)).prop_map(|(word, upper)| {
        word.chars().zip(upper.into_iter().cycle()).map(|(c, up)| if up { c.to_ascii_uppercase() } else { c }).collect()
    })
}

fn concat(parts: Vec<String>) -> String {
    parts.concat()
}

/// Integer texts, at and beyond the types' limits, some with a tail an integer does not have.
fn integer_text() -> impl Strategy<Value = String> {
    let digits = prop_oneof![
        3 => "[0-9]{1,4}",
        1 => "[0-9]{15,21}",
        1 => prop::sample::select(vec![
            "32767", "32768", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808", "000000000000000000000042", "",
        ]).prop_map(str::to_owned),
    ];
    let tail = prop_oneof![6 => Just(""), 1 => prop::sample::select(vec![".0", "e2", "_000", "x", " 1"])];
    (spaces(), prop::sample::select(vec!["", "", "+", "-"]), digits, tail, spaces())
        .prop_map(|(a, sign, digits, tail, b)| concat(vec![a, sign.into(), digits, tail.into(), b]))
}

/// Texts for numeric and double precision: decimals, hexadecimal floats, the special words,
/// exponents with spaces, over- and underflowing ones.
fn number_text() -> impl Strategy<Value = String> {
    let mantissa = prop_oneof![
        3 => "[0-9]{1,5}",
        3 => r"[0-9]{0,3}\.[0-9]{0,4}",
        2 => r"0[xX][0-9a-fA-F]{0,17}(\.[0-9a-f]{0,4})?",
        1 => any_case(&["nan", "inf", "infinity", "nan()", "nan(x_1)", "nan(", "infin", "infinityx"]),
    ];
    let exponent = prop_oneof![
        3 => Just(String::new()),
        2 => "[eE][+-]?[0-9]{1,3}",
        1 => "[eE] ?[+-]? ?[0-9]{0,2}",
        1 => "[pP][+-]?[0-9]{0,4}",
        1 => prop::sample::select(vec!["e400", "e-400", "e-324", "e308", "e-330", "p-1075", "p1024", "e16383", "e-16384"])
            .prop_map(str::to_owned),
    ];
    (spaces(), prop::sample::select(vec!["", "", "+", "-"]), mantissa, exponent, spaces())
        .prop_map(|(a, sign, mantissa, exponent, b)| concat(vec![a, sign.into(), mantissa, exponent, b]))
}

fn boolean_text() -> impl Strategy<Value = String> {
    let word = any_case(&[
        "t", "tr", "tru", "true", "f", "fa", "fal", "fals", "false", "y", "ye", "yes", "n", "no", "o", "on", "of",
        "off", "1", "0", "01", "truex", "", "2", "onn", "offf",
    ]);
    (spaces(), word, spaces()).prop_map(|(a, word, b)| concat(vec![a, word, b]))
}

/// ISO dates and timestamps, fields sometimes out of range, fractions that round across a
/// second, zones at and beyond ±15:59; and the special words.
fn datetime_text() -> impl Strategy<Value = String> {
    let two = |range: std::ops::RangeInclusive<u32>| range.prop_map(|n| format!("{n:02}"));
    let year = prop_oneof![
        3 => "[0-9]{4}",
        1 => prop::sample::select(vec!["0000", "0001", "9999", "1970", "2000", "1900", "2016", "2015"]).prop_map(str::to_owned),
    ];
    let date = (year, prop_oneof![6 => two(1..=12), 1 => two(0..=13)], prop_oneof![6 => two(1..=28), 1 => two(0..=32)])
        .prop_map(|(y, m, d)| format!("{y}-{m}-{d}"));
    let fraction = prop_oneof![
        3 => Just(String::new()),
        2 => r"\.[0-9]{1,9}",
        1 => prop::sample::select(vec![".9999995", ".9999999", ".0000005", ".0000006", ".5", ".000", ".1234565", ".1234575"])
            .prop_map(str::to_owned),
    ];
    let zone = prop_oneof![
        3 => Just(String::new()),
        1 => Just("Z".to_owned()),
        2 => (prop::sample::select(vec!["+", "-"]), two(0..=17), prop::sample::select(vec!["", ":", "-"]), two(0..=61))
            .prop_map(|(sign, h, form, m)| match form {
                "" => format!("{sign}{h}{m}"),
                ":" => format!("{sign}{h}:{m}"),
                _ => format!("{sign}{h}"),
            }),
    ];
    let time = (
        prop::sample::select(vec!["T", " "]),
        prop_oneof![6 => two(0..=23), 1 => two(24..=25)],
        prop_oneof![6 => two(0..=59), 1 => two(59..=61)],
        prop_oneof![6 => two(0..=59), 1 => two(59..=61)],
        fraction,
        zone,
    )
        .prop_map(|(sep, h, m, s, f, z)| format!("{sep}{h}:{m}:{s}{f}{z}"));
    let iso = (date, prop::option::weighted(0.7, time)).prop_map(|(d, t)| d + &t.unwrap_or_default());
    let text = prop_oneof![
        8 => iso,
        1 => any_case(&["infinity", "-infinity", "epoch", "now", "+infinity"]),
    ];
    (spaces(), text, spaces()).prop_map(|(a, text, b)| concat(vec![a, text, b]))
}

/// JSON arrays for text[]: regular ones of 1 to 4 dimensions (some of length 0), ragged ones,
/// ones with arrays and objects among the elements.
fn text_array_value() -> impl Strategy<Value = Json> {
    let element = prop_oneof![
        4 => json_string().prop_map(Json::String),
        1 => Just(Json::Null),
        1 => json_number(),
        1 => any::<bool>().prop_map(Json::Bool),
        1 => Just(json!({"k": [1, "x"]})),
        1 => Just(json!(["nested"])),
    ]
    .boxed();
    let regular = (prop::collection::vec(0usize..=3, 1..=4), prop::collection::vec(element.clone(), 64))
        .prop_map(|(dims, elements)| nest(&dims, &mut elements.into_iter().cycle()));
    let ragged = element.prop_recursive(5, 24, 3, |inner| prop::collection::vec(inner, 0..3).prop_map(Json::Array));
    prop_oneof![2 => regular, 1 => prop::collection::vec(ragged, 0..4).prop_map(Json::Array)]
}

fn nest(dims: &[usize], elements: &mut impl Iterator<Item = Json>) -> Json {
    match dims.split_first() {
        None => elements.next().expect("endless elements"),
        Some((&len, rest)) => Json::Array((0..len).map(|_| nest(rest, elements)).collect()),
    }
}

/// Values aimed at every column type, each tried against every type.
fn column_value() -> impl Strategy<Value = Json> {
    prop_oneof![
        1 => Just(Json::Null),
        2 => json_number(),
        2 => any::<bool>().prop_map(Json::Bool),
        1 => json_value(),
        2 => integer_text().prop_map(Json::String),
        3 => number_text().prop_map(Json::String),
        2 => boolean_text().prop_map(Json::String),
        6 => datetime_text().prop_map(Json::String),
        3 => text_array_value(),
    ]
}

/// Values a column of type `ty` may hold (the model says so; the server is asked by the test).
fn stored_value(ty: ColumnType) -> impl Strategy<Value = Json> {
    prop_oneof![1 => Just(Json::Null), 6 => column_value()]
        .prop_filter("stored", move |v| pg_text::column_text(v, ty).is_ok())
}

/// Strings full of what `record_out` and `array_out` quote or escape (quotes, backslashes,
/// parentheses, braces, commas, every ASCII space), what they leave bare (other control
/// characters, non-ASCII spaces, unicode), and the words `NULL` and `null`.
fn record_string() -> impl Strategy<Value = String> {
    let character = prop_oneof![
        3 => proptest::char::range('a', 'z'),
        3 => prop::sample::select(vec![
            '"', '\\', '(', ')', ',', ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '{', '}', '\'', ';', '[', ']', ':',
        ]),
        1 => prop::sample::select(vec![
            'é', '\u{a0}', '\u{85}', '\u{2028}', '\u{3000}', '😀', '\u{1}', '\u{1f}', '\u{7f}', '\u{feff}',
        ]),
        1 => any::<char>().prop_filter("no NUL", |c| *c != '\0'),
    ];
    prop_oneof![
        6 => prop::collection::vec(character, 0..12).prop_map(String::from_iter),
        1 => any_case(&["null", "", " ", "()", "(,)", "\"\"", "{}", "{a,b}", "t", "nan", "x y"]),
    ]
}

/// JSON documents for jsonb columns in records: generated JSON, strings and arrays of record
/// strings, and big objects (tens of keys, nested values).
fn record_document() -> impl Strategy<Value = Json> {
    prop_oneof![
        3 => json_value(),
        1 => record_string().prop_map(Json::String),
        1 => prop::collection::vec(record_string(), 0..30).prop_map(|items| json!(items)),
        1 => prop::collection::vec((prop_oneof![json_key(), record_string()], json_value()), 20..60)
            .prop_map(|entries| Json::Object(entries.into_iter().collect())),
    ]
}

/// JSON arrays for text[] in records: regular arrays of 1 to 3 dimensions of record strings,
/// nulls and numbers.
fn record_text_array() -> impl Strategy<Value = Json> {
    let element = prop_oneof![
        6 => record_string().prop_map(Json::String),
        1 => Just(Json::Null),
        1 => json_number(),
    ];
    (prop::collection::vec(0usize..=4, 1..=3), prop::collection::vec(element, 64))
        .prop_map(|(dims, elements)| nest(&dims, &mut elements.into_iter().cycle()))
}

/// Values a column of type `ty` stores, for records: some NULL, most aimed at the type.
fn record_value(ty: ColumnType) -> impl Strategy<Value = Json> {
    use ColumnType::*;
    let aimed = match ty {
        Int2 | Int4 | Int8 => prop_oneof![integer_text().prop_map(Json::String), json_number()].boxed(),
        Float8 | Numeric => prop_oneof![number_text().prop_map(Json::String), json_number()].boxed(),
        Bool => prop_oneof![boolean_text().prop_map(Json::String), any::<bool>().prop_map(Json::Bool)].boxed(),
        Date | Timestamp | Timestamptz => datetime_text().prop_map(Json::String).boxed(),
        Text => record_string().prop_map(Json::String).boxed(),
        Jsonb => record_document().boxed(),
        TextArray => record_text_array().boxed(),
    };
    prop_oneof![1 => Just(Json::Null), 1 => column_value(), 4 => aimed]
        .prop_filter("stored", move |v| pg_text::column_out(v, ty).is_ok())
}

/// A table for records: 1 to 7 columns of any types (repeats too), and groups of rows (each
/// group one work's rows: 0 to 4, the first sometimes twice).
type RecordTable = (Vec<ColumnType>, Vec<(Vec<Vec<Json>>, bool)>);

fn record_table(columns: impl Strategy<Value = Vec<ColumnType>>) -> impl Strategy<Value = RecordTable> {
    columns.prop_flat_map(|types| {
        let row: Vec<_> = types.iter().map(|ty| record_value(*ty).boxed()).collect();
        (Just(types), prop::collection::vec((prop::collection::vec(row, 0..=4), any::<bool>()), 1..=6))
    })
}

// ---- the tests ----

#[tokio::test]
async fn jsonb_text_is_what_postgresql_prints_for_generated_json() {
    let db = session().await;
    let values = sample(json_value(), 600);
    assert_jsonb_texts_agree(&db, &values).await;
}

#[tokio::test]
async fn jsonb_text_regressions() {
    let db = session().await;
    let mut deep = json!("bottom");
    for i in 0..100 {
        deep = if i % 2 == 0 { json!([deep, i]) } else { json!({"k": deep, "": i}) };
    }
    let mut values: Vec<Json> = serde_json::from_str(
        r#"[{"b": 1, "a": 2, "aa": 3, "B": 4, "é": 5, "z": 6, "": 7, "😀": 8, "ab": 9, "ßx": 10, "zzzz": 11},
            [1.0, 1e-7, 1.5e20, -0.0, -0, 0, 12345678901234567890, 1E+2, 1.0e-7, 0.000, 1e-0, 5e-324,
             1.7976931348623157e308, 2.2250738585072014e-308, -9223372036854775808, 18446744073709551615,
             0.30000000000000004, 1e15, 1e16, 1e21, 1e22, 123456789012345680000, 0.0001, 0.00001],
            "a\"b\\c/d\b\f\n\r\t\u0001\u001f\u007f\u0080é😀\ud83d\ude00\u2028\ufeff",
            {}, [], [[], {}], {"a": {}, "b": []}, null, true, false, "", 1]"#,
    )
    .unwrap();
    values.push(deep);
    assert_jsonb_texts_agree(&db, &values).await;
}

#[tokio::test]
async fn column_texts_are_what_postgresql_stores_and_prints_for_generated_values() {
    let db = session().await;
    let values = sample(column_value(), 500);
    let tallies = assert_column_texts_agree(&db, &values).await;
    println!("{tallies:#?}");
    assert_tallies_cover_every_type(&tallies);
}

#[tokio::test]
async fn column_outs_are_what_the_output_functions_print_for_generated_values() {
    let db = session().await;
    let values = sample(column_value(), 500);
    let tallies = assert_column_outs_agree(&db, &values).await;
    println!("{tallies:#?}");
    assert_tallies_cover_every_type(&tallies);
}

/// Every edge the module documents, as values serde_json can hold.
fn column_regression_values() -> Vec<Json> {
    serde_json::from_str(
        r#"[12, "12", " 12 ", "+12", "-0", "012", 12.0, 1e2, 1.5e1, -0.0, -0, "1e2", "12.0", "", " ", "1_000", "0x1A",
            true, false, null, [1], {"a": 1}, 32767, 32768, -32768, -32769, 2147483647, 2147483648,
            9223372036854775807, 9223372036854775808, -9223372036854775808, "\t12\n", "\u000b12", "12 3", "- 12", "١٢",
            1.0, 1e-5, 1e-7, 0.0001, 1.5e20, 1e15, 1e16, 12345678901234567890, 0.1, 0.30000000000000004, 5e-324,
            1.7976931348623157e308, 9007199254740993, 1.23456789012345678, "7.5", " 7.5 ", "NaN", "nan", "-nan",
            "Infinity", "-Infinity", "inf", "-inf", "+inf", "infinity", "+Infinity", "INF", "1e400", "1e-400", "2.5e-324",
            "2.4e-324", "0x10", "0x1p-2", "0x.8", "0X1P+3", "0x", "0x1p", "0x1p-1074", "0x1p-1075",
            "0x1.0000000000001p-1075", "0x1p1024", "0x1.fffffffffffffp1023", "0x1.fffffffffffff8p1023", ".5", "5.",
            "+5", "1e", "nan()", "nan(", "nan(x_1)", "infin", "infinityx", "1,5", "1.5E+3", "1.5e+", "1e 5", "1e  +5",
            "1e+ 5", " 1 e5", "+.5e-3", "1e\n5", "1e99999999999", "1e-16384", "  +1.0  ", "12.50", "1e16383",
            "t", "tr", "true", "TRUE", " yes ", "y", "on", "o", "of", "off", "n", "no", "f", "fa", "false ", "1", "0",
            "01", "truex",
            "2014-10-02", "2014-10-02 19:20:22", "2014-10-02T19:20:22", "2014-10-02T19:20:22.000Z",
            "2014-10-02T19:20:22.5+02:00", "2014-10-02 19:20:22.1234565", "2014-10-02 19:20:22.1234575",
            "2014-10-02 19:20:22.9999995", "2014-02-30", "2015-02-29", "2016-02-29", "1900-02-29", "2000-02-29",
            "0001-01-01", "0000-01-01", "9999-12-31 23:59:59.9999995", "2014-00-10", "2014-13-01", "2014-10-00",
            "infinity", "-infinity", "Infinity", " infinity ", "epoch", "EPOCH", "  2014-10-02  ",
            "2014-10-02 24:00:00", "2014-10-02 24:00:01", "2014-10-02 24:00:00.5", "2014-10-02 24:00:00.0000001",
            "2014-10-02 24:00:00.0000006", "2014-10-02 25:00:00", "2014-10-02 23:60:00", "2014-10-02 23:59:60",
            "2014-10-02 23:59:60.5", "2014-10-02 23:59:60.0000005", "2014-10-02 23:59:60.0000006",
            "2014-10-02 23:59:61", "2014-10-02 23:59:59.9999999", "2014-10-02 12:30:60.5", "2014-10-02 12:30:60",
            "2014-10-02 12:30:61", "2014-10-02T19:20:22Z", "2014-10-02T19:20:22+02", "2014-10-02T19:20:22+0230",
            "2014-10-02T19:20:22-02:30", "2014-10-02T19:20:22+15:00", "2014-10-02T19:20:22-15:59",
            "2014-10-02T19:20:22+16:00", "2014-10-02T19:20:22+15:60", "2014-10-02T19:20:22+02:99",
            "2014-10-02T19:20:22+0299", "2014-10-02T19:20:22+00", "2014-10-02T19:20:22-00:00",
            "2014-10-02T00:30:00+01:00", "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-01:00",
            "9999-12-31T23:00:00-01:00",
            [], [1, "a", null, true, 1.50, [2]], ["a", null], [["a", "b"], ["c", "d"]], [["a"], ["b", "c"]], [[]],
            [[], []], ["a", ["b"]], [["a"], "b"], [{"k": 1}], [[[1]]], [[null]], ["NULL", "null", ""],
            [1.0e-7, 100], [[[[[[1]]]]]], [[[[[[[1]]]]]]], [[[[[[[]]]]]]], [[["a"]], [["b", "c"]]],
            [["a"], [["b"]]], [[], [[1]]], [[], ["a"]], [["a"], []], [[null], [1]], [[[]], [[]]], [[[]], []],
            [{"a": [1]}, 2], [[["x", "y"]], [["z", "w"]]]]"#,
    )
    .unwrap()
}

#[tokio::test]
async fn column_text_regressions() {
    let db = session().await;
    let values = column_regression_values();
    let tallies = assert_column_texts_agree(&db, &values).await;
    println!("{tallies:#?}");
}

#[tokio::test]
async fn column_out_regressions() {
    let db = session().await;
    let mut values = column_regression_values();
    // float8out's layout on both sides of its thresholds (exponent -4 and 15), signed zeros,
    // the specials; text[] elements array_out must quote, or must not.
    values.extend(
        serde_json::from_str::<Vec<Json>>(
            r#"["1e-5", "-1e-5", "9.999e-5", "0.0001", "0.00012345", "1e14", "999999999999999", "999999999999999.9",
            "123456789012345.67", "1e15", "-1e15", "1.5e20", "-1.2345e16", "1e100", "1e-100", "1e-10", "-0", "+0",
            "0", "-0.0", "0x0p+0", "-0x0p+0", "nan", "-nan", "inf", "-inf", 1e-5, 1e15, 1e-4, 123456789012345.6,
            ["a", "c d", null, "", "NULL", "null", "nUlL", "NULLx", " NULL", "a\u000bb", "a\fb", "a\rb", "a\tb",
             "a\nb", "{", "}", ",", "\"", "\\", "(", ")", "x\u00a0y", "x\u0085y", "é", "\u3000", "\u2028", "[",
             "]", ":", "=", ";", "\u0001", "\u007f", "'"],
            [["a b", "{c}"], ["\\\"", null]], [[[]]]]"#,
        )
        .unwrap(),
    );
    let tallies = assert_column_outs_agree(&db, &values).await;
    println!("{tallies:#?}");
}

/// float8out's digits, re-read as numeric, for doubles of every magnitude; most of all where
/// PostgreSQL's Ryu and Rust's shortest formatting differ: where the shortest digits can fall
/// exactly on a rounding bound (integers from 2^53 to about 2^134 with an even significand) and
/// where two shortest candidates can be equally near (multiples of 1/8 from 2^49 to 2^53).
#[tokio::test]
async fn double_columns_print_what_float8out_prints() {
    let db = session().await;
    let double = prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        ((1u64 << 51)..(1u64 << 52), 1i32..=82).prop_map(|(half, power)| (2 * half) as f64 * 2f64.powi(power)),
        ((1u64 << 52)..(1u64 << 53), -3i32..=0).prop_map(|(significand, power)| significand as f64 * 2f64.powi(power)),
        (0i32..=140).prop_map(|power| 2f64.powi(power)),
        (1u64..1_000_000, -30i32..30).prop_map(|(m, e)| m as f64 * 10f64.powi(e)),
    ];
    let values: Vec<Json> = sample(double, 3000)
        .into_iter()
        .filter_map(|d| serde_json::Number::from_f64(if d.to_bits() & 1 == 0 { d } else { -d }))
        .map(Json::Number)
        .collect();
    let server = server_column_texts(&db, &values, ColumnType::Float8).await;
    let wrong: Vec<String> = values
        .iter()
        .zip(&server)
        .filter(|(v, s)| pg_text::column_jsonb_text(v, ColumnType::Float8) != **s)
        .map(|(v, s)| format!("{v}: rust {:?}, postgresql {s:?}", pg_text::column_jsonb_text(v, ColumnType::Float8)))
        .collect();
    assert!(wrong.is_empty(), "{} of {} doubles differ:\n{}", wrong.len(), values.len(), wrong.join("\n"));

    // The same digits in float8out's own layout (`1e-05`, `1.5e+20`, `-0`).
    let server = server_output_texts(&db, &values, ColumnType::Float8).await;
    let wrong: Vec<String> = values
        .iter()
        .zip(&server)
        .map(|(v, s)| {
            (v, pg_text::column_out(v, ColumnType::Float8).ok(), s.as_ref().map(|[output, _]| output.clone()))
        })
        .filter(|(_, rust, postgresql)| rust != postgresql)
        .map(|(v, rust, postgresql)| format!("{v}: rust {rust:?}, postgresql {postgresql:?}"))
        .collect();
    assert!(wrong.is_empty(), "{} of {} double outputs differ:\n{}", wrong.len(), values.len(), wrong.join("\n"));
}

/// Rows written the way the movie write writes them (jsonb_to_recordset from one document),
/// printed and digested by PostgreSQL per group, and by Rust from the values it sent.
#[tokio::test]
async fn rows_and_digests_agree_with_postgresql() {
    let db = session().await;
    // Names of equal and different lengths, so that jsonb's key order matters.
    let columns = [
        ("n", ColumnType::Int2),
        ("ok", ColumnType::Bool),
        ("ord", ColumnType::Int4),
        ("tags", ColumnType::TextArray),
        ("title", ColumnType::Text),
        ("score", ColumnType::Float8),
        ("amount", ColumnType::Numeric),
        ("big_id", ColumnType::Int8),
        ("payload", ColumnType::Jsonb),
        ("seen_at", ColumnType::Timestamptz),
        ("released", ColumnType::Date),
        ("published_at", ColumnType::Timestamp),
    ];
    let definition =
        columns.iter().map(|(name, ty)| format!("{name} {}", ty.sql_name())).collect::<Vec<_>>().join(", ");
    db.batch_execute(&format!("CREATE TEMP TABLE audit_rows (work_id bigint, {definition})")).await.unwrap();

    let row = columns.iter().map(|(_, ty)| stored_value(*ty)).collect::<Vec<_>>();
    // 40 groups of 0 to 5 rows, some rows twice: duplicates count in a digest.
    let groups = sample((prop::collection::vec(row, 0..=5), any::<bool>()), 40);
    let mut document = Vec::new();
    let mut expected: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (work_id, (rows, repeat_first)) in (1..).zip(groups) {
        let repeated = rows.first().filter(|_| repeat_first).cloned();
        for values in rows.into_iter().chain(repeated) {
            let mut object = serde_json::Map::from_iter([("work_id".to_owned(), json!(work_id))]);
            let mut texts = Vec::new();
            for ((name, ty), value) in columns.iter().zip(values) {
                texts.push((*name, pg_text::column_jsonb_text(&value, *ty).expect("a stored value")));
                object.insert((*name).to_owned(), value);
            }
            document.push(Json::Object(object));
            expected.entry(work_id).or_default().push(pg_text::row_jsonb_text(texts));
        }
    }
    let inserted = db
        .execute(
            &format!("INSERT INTO audit_rows SELECT * FROM jsonb_to_recordset($1) AS x(work_id bigint, {definition})"),
            &[&Json::Array(document)],
        )
        .await
        .expect("the rows Rust says are stored are stored");
    assert!(inserted >= 60, "only {inserted} rows");

    let row_text = "(to_jsonb(t) - 'work_id')::text";
    let mut printed: Vec<String> = db
        .query(&format!("SELECT {row_text} FROM audit_rows t"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut rust_rows: Vec<String> = expected.values().flatten().cloned().collect();
    printed.sort();
    rust_rows.sort();
    let differ: Vec<_> = printed.iter().zip(&rust_rows).filter(|(p, r)| p != r).collect();
    assert_eq!(printed.len(), rust_rows.len());
    assert!(differ.is_empty(), "rows differ (postgresql, rust): {differ:#?}");

    let digests: BTreeMap<i64, String> = db
        .query(&format!("SELECT work_id, {} FROM audit_rows t GROUP BY work_id", pg_text::digest_sql(row_text)), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let rust_digests: BTreeMap<i64, String> =
        expected.into_iter().map(|(work_id, rows)| (work_id, pg_text::digest(rows))).collect();
    assert_eq!(digests, rust_digests);

    // A movie without rows: the same digest on both sides, not NULL.
    let empty: String = db
        .query_one(&format!("SELECT {} FROM audit_rows t WHERE false", pg_text::digest_sql(row_text)), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(empty, pg_text::digest(Vec::new()));
}

/// Records of generated rows: `ROW(x.c1, x.c2, ...)::text` straight from `jsonb_to_recordset`
/// is `record_text` of the `column_out`s, row by row; and stored in a table, each work's digest
/// of `ROW(t.c1, ...)::text` is `digest` of those texts. Returns how many rows were compared.
async fn assert_records_agree(db: &tokio_postgres::Client, tables: &[RecordTable]) -> usize {
    let mut wrong = Vec::new();
    let mut compared = 0;
    let mut single_rows = 0;
    for (n, (types, groups)) in tables.iter().enumerate() {
        let definition =
            types.iter().enumerate().map(|(i, ty)| format!("c{i} {}", ty.sql_name())).collect::<Vec<_>>().join(", ");
        let fields = |alias: &str| (0..types.len()).map(|i| format!("{alias}.c{i}")).collect::<Vec<_>>().join(", ");
        let mut document = Vec::new();
        let mut expected: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for (work_id, (rows, repeat_first)) in (1..).zip(groups) {
            let repeated = rows.first().filter(|_| *repeat_first);
            for values in rows.iter().chain(repeated) {
                let mut object = serde_json::Map::from_iter([
                    ("i".to_owned(), json!(document.len())),
                    ("work_id".to_owned(), json!(work_id)),
                ]);
                object.extend(values.iter().enumerate().map(|(i, v)| (format!("c{i}"), v.clone())));
                document.push(Json::Object(object));
                let texts =
                    types.iter().zip(values).map(|(ty, v)| pg_text::column_out(v, *ty).expect("a stored value"));
                expected.entry(work_id).or_default().push(pg_text::record_text(texts));
            }
        }
        let document = Json::Array(document);

        let printed: Vec<String> = db
            .query(
                &format!(
                    "SELECT ROW({})::text FROM jsonb_to_recordset($1) AS x(i int, {definition}) ORDER BY x.i",
                    fields("x")
                ),
                &[&document],
            )
            .await
            .unwrap_or_else(|e| panic!("records of {types:?}: {e}"))
            .iter()
            .map(|r| r.get(0))
            .collect();
        let rust: Vec<&String> = expected.values().flatten().collect();
        // `expected` is in work order, as the document is.
        assert_eq!(printed.len(), rust.len());
        compared += printed.len();
        for ((postgresql, rust), row) in printed.iter().zip(rust).zip(document.as_array().unwrap()) {
            if postgresql != rust {
                wrong.push(format!("{types:?} {row}\n  rust:       {rust}\n  postgresql: {postgresql}"));
            }
        }

        let table = format!("records_{n}");
        db.batch_execute(&format!("CREATE TEMP TABLE {table} (work_id bigint, {definition})")).await.unwrap();
        db.execute(
            &format!(
                "INSERT INTO {table} SELECT work_id, {} FROM jsonb_to_recordset($1) AS x(work_id bigint, {definition})",
                fields("x")
            ),
            &[&document],
        )
        .await
        .expect("the rows Rust says are stored are stored");
        let row_text = format!("ROW({})::text", fields("t"));
        let digests: BTreeMap<i64, String> = db
            .query(&format!("SELECT work_id, {} FROM {table} t GROUP BY work_id", pg_text::digest_sql(&row_text)), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let rust_digests: BTreeMap<i64, String> =
            expected.into_iter().map(|(work_id, rows)| (work_id, pg_text::digest(rows))).collect();
        if digests != rust_digests {
            wrong.push(format!("{types:?}: digests differ\n  rust:       {rust_digests:?}\n  postgresql: {digests:?}"));
        }
        // A work of one row, as a table of one row per movie digests it: its row's hash alone.
        let single: BTreeMap<i64, String> = db
            .query(
                &format!(
                    "SELECT work_id, {} FROM {table} t
                     WHERE work_id IN (SELECT work_id FROM {table} GROUP BY work_id HAVING count(*) = 1)",
                    pg_text::digest_one_sql(&row_text)
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        single_rows += single.len();
        for (work_id, digest) in &single {
            if rust_digests.get(work_id) != Some(digest) {
                wrong.push(format!("{types:?}: the one row of work {work_id} digests otherwise"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} records or digests differ:\n{}", wrong.len(), wrong.join("\n"));
    assert!(single_rows > 0, "no work of a single row was compared");
    compared
}

#[tokio::test]
async fn records_and_their_digests_agree_with_postgresql() {
    let db = session().await;
    // Mixed tables of 1 to 7 columns, and a one-column table of every type.
    let mixed = prop::collection::vec(prop::sample::select(ColumnType::ALL.to_vec()), 1..=7);
    let mut tables = sample(record_table(mixed), 40);
    for ty in ColumnType::ALL {
        tables.extend(sample(record_table(Just(vec![ty])), 1));
    }
    let compared = assert_records_agree(&db, &tables).await;
    println!("{compared} records compared in {} tables", tables.len());
    assert!(compared >= 300, "only {compared} records");
}

#[tokio::test]
async fn record_regressions() {
    use ColumnType::*;
    let db = session().await;
    // One work with every row, and every row again as a work of its own.
    let table = |types: Vec<ColumnType>, rows: Json| -> RecordTable {
        let rows: Vec<_> = rows.as_array().unwrap().iter().map(|row| row.as_array().unwrap().clone()).collect();
        let alone = rows.iter().map(|row| (vec![row.clone()], false));
        (types, std::iter::once((rows.clone(), false)).chain(alone).collect())
    };
    let tables = vec![
        // Fields record_out quotes (empty, ASCII spaces, `"`, `\`, parentheses, a comma) and does
        // not (braces, NULL, other control characters, non-ASCII spaces); a NULL field is empty.
        table(
            vec![Text],
            json!([
                [""],
                [null],
                [" "],
                ["\t"],
                ["\n"],
                ["\r"],
                ["\u{b}"],
                ["\u{c}"],
                ["a\"b"],
                ["a\\b"],
                ["("],
                [")"],
                [","],
                ["{a}"],
                ["NULL"],
                ["null"],
                ["\u{1}"],
                ["\u{7f}"],
                ["x\u{a0}y"],
                ["x\u{85}y"],
                ["\u{3000}"],
                ["\u{2028}"],
                ["é😀"],
                ["'"],
                [";"],
                ["[]"],
                ["\"\""],
                ["()"]
            ]),
        ),
        table(vec![Text, Text], json!([[null, null], ["", null], [null, ""], ["", ""], ["a,b", "(c)"]])),
        // Every type's output inside a record: t/f, float8out's layout, numeric specials, ISO
        // DateStyle, `+00`, jsonb with its spaces and quotes, arrays with their braces and commas.
        table(
            vec![Bool, Float8, Numeric, Date, Timestamp, Timestamptz, Jsonb, TextArray, Int2, Int8],
            json!([
                ["yes", "1e-5", "1.50", "2014-10-02", "2014-10-02T19:20:22.5Z", "2014-10-02T19:20:22+02:30",
                 {"b": "x \"y\"", "a": [1.0, null]}, ["a", "b c", null, "", "\"\\"], 7, -9223372036854775808i64],
                [false, "-0", "nan", "infinity", "-infinity", "0001-01-01T00:00:00+01:00", "a\\b", [["(", ")"], [",", "NULL"]],
                 null, null],
                [null, "1.5e20", "-inf", null, "9999-12-31 23:59:59.9999995", "epoch", [], [], "-32768", "0"],
                [true, "nan", "1e-7", "2000-02-29", "2014-10-02 23:59:60", null, null, [[]], " 1 ", null],
                [null, null, null, null, null, null, null, null, null, null]
            ]),
        ),
        // A one-field row is `(x)`; an array or a document alone still quotes its commas and spaces.
        table(vec![TextArray], json!([[["a"]], [["a", "b"]], [[]], [null], [[""]]])),
        table(vec![Jsonb], json!([[{}], [[]], ["x"], [1], [{"k": "v"}], [null], [""]])),
        table(vec![Float8], json!([[1e15], [123456789012345.6], ["0.0001"], ["9.999e-5"], ["-0"], [-0.0]])),
    ];
    let compared = assert_records_agree(&db, &tables).await;
    assert!(compared >= 50, "only {compared} records");
}
