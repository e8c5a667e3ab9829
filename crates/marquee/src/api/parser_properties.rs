//! Property tests of everything that parses input from outside: request bodies, path and
//! query parameters, the Stripe signature header and event. Arbitrary JSON, random bytes, JSON
//! nested 10,000 deep, numbers beyond any integer type, invalid UTF-8, unknown fields and nulls
//! everywhere never panic, and every refusal is a 4xx with the JSON error shape.
//!
//! Every parser is one line of [`PARSERS`]: bytes in (a body, a path segment, a query string, a
//! header value), parsed or refused out. Every property and every regression case below runs
//! over all of them, so a new route's parser is fuzzed by adding its line.

use proptest::prelude::*;
use serde_json::{Map, Value as Json};

use super::handlers::{json_body, json_body_or_empty, parse_tmdb_id};
use super::{error_response, requests, route};
use crate::billing::{BillingError, events, signature};
use crate::error::Error;

/// A parser of outside input: bytes in, parsed (`Ok`) or refused with an [`Error`].
type Parser = fn(&[u8]) -> Result<(), Error>;

/// Every parser of outside input, by what it reads. Add a line for each new one.
const PARSERS: &[(&str, Parser)] = &[
    ("ingest-movie body", |b| {
        let body = json_body(&request(b))?;
        parse_tmdb_id(body.get("tmdb_id"), "tmdb_id")?;
        requests::boolean(&body, "force_refresh").map(drop)
    }),
    ("scheduled-ingest body", |b| requests::scheduled(&json_body_or_empty(&request(b))?).map(drop)),
    ("batch-ingest body", |b| requests::batch(&json_body(&request(b))?).map(drop)),
    ("daily-refresh body", |b| requests::refresh(&json_body_or_empty(&request(b))?).map(drop)),
    ("GET /api/works/:tmdb_id id", |b| parse_tmdb_id(Some(&Json::String(lossy(b))), "tmdb_id").map(drop)),
    ("route of a GET path", |b| route(&http::Method::GET, &lossy(b)).map(drop)),
    ("route of a POST path", |b| route(&http::Method::POST, &lossy(b)).map(drop)),
    ("Stripe-Signature header", |b| {
        let verified = signature::verify(Some(&header(b)), b"{}", &stripe_secrets(), crate::ports::system_now(), 300);
        verified.map(drop).map_err(|e| BillingError::from(e).into())
    }),
    ("stripe-webhook delivery, signed", |b| {
        // Signed as Stripe signs, so the event parser behind the signature check is reached.
        let now = crate::ports::system_now();
        let header = signature::header_value(STRIPE_SECRET, now.timestamp(), b);
        signature::verify(Some(&header), b, &stripe_secrets(), now, 300).map_err(BillingError::from)?;
        events::parse(b).map(drop).map_err(|e| BillingError::InvalidEvent(e).into())
    }),
    ("catalog browse query string", |b| {
        use crate::api::catalog::query;
        query::parameters(Some(&lossy(b)), query::BROWSE).and_then(|p| query::browse(&p)).map(drop)
    }),
    ("catalog search query string", |b| {
        use crate::api::catalog::query;
        query::parameters(Some(&lossy(b)), query::SEARCH).and_then(|p| query::search(&p)).map(drop)
    }),
    ("query string of a route without parameters", |b| {
        crate::api::catalog::query::parameters(Some(&lossy(b)), &[]).map(drop)
    }),
    ("browse cursor", |b| {
        use crate::api::catalog::cursor::{CursorKey, decode};
        let key = CursorKey::from_admin_token(&crate::config::Secret::new("token"));
        decode(&key, &title_browse(), &lossy(b), 0).map(drop)
    }),
    ("POST /api/admin/keys body", |b| {
        let body = json_body(&request(b))?;
        let (customer, name) = crate::api::catalog::admin::new_key_request(&body)?;
        crate::keys::validate(customer, name)
    }),
    ("API key, Authorization: Bearer", |b| {
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(b);
        key_header(http::header::AUTHORIZATION.as_str(), &value)
    }),
    ("API key, X-API-Key", |b| key_header("x-api-key", b)),
    ("dashboard form: queue retry", |b| {
        let form = crate::dashboard::Form::parse(b);
        crate::dashboard::retry_target(form.field("all"), form.field("tmdb_id")).map(drop)
    }),
    ("dashboard form: sign-in's next page", |b| {
        let next = crate::dashboard::safe_next(crate::dashboard::Form::parse(b).field("next"));
        // Never a redirect off the dashboard (another site, `//host`, a scheme).
        assert!(next == "/dashboard" || (next.starts_with("/dashboard/") && !next.contains("//")), "{next}");
        Ok(())
    }),
];

/// A request with one header set to `value` (when it is a valid header value at all), read for
/// the API key it presents.
fn key_header(name: &'static str, value: &[u8]) -> Result<(), Error> {
    let mut request = http::Request::get("/api/works/550").body(Vec::new()).unwrap();
    if let Ok(v) = http::HeaderValue::from_bytes(value) {
        request.headers_mut().insert(name, v);
    }
    crate::api::catalog::presented_key_hash(&request).map(drop)
}

fn title_browse() -> crate::db::browse::Browse {
    crate::db::browse::Browse {
        sort: crate::db::browse::Sort::Title,
        order: crate::db::browse::Order::Asc,
        filters: Default::default(),
        limit: 20,
        after: None,
    }
}

const STRIPE_SECRET: &str = "whsec_test";

fn stripe_secrets() -> [crate::config::Secret; 1] {
    [crate::config::Secret::new(STRIPE_SECRET)]
}

fn request(body: &[u8]) -> crate::ports::HttpRequest {
    http::Request::post("/functions/v1/batch-ingest").body(body.to_vec()).unwrap()
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A header value as the Stripe handler reads it: one that is not visible ASCII is refused by
/// `HeaderValue::to_str`, and the handler then reads U+FFFD.
fn header(bytes: &[u8]) -> String {
    http::HeaderValue::from_bytes(bytes)
        .ok()
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .unwrap_or_else(|| "\u{fffd}".to_owned())
}

/// Runs every parser on `bytes`: none panics, and every refusal is a client error with the JSON
/// error shape.
fn assert_every_parser_holds(bytes: &[u8]) {
    for (name, parse) in PARSERS {
        if let Err(e) = parse(bytes) {
            assert_client_error(name, &e);
        }
    }
}

/// A refusal must be a client error with `{"error": {"code", "message"}}`.
fn assert_client_error(parser: &str, error: &Error) {
    let response = error_response("test", error);
    assert!(response.status().is_client_error(), "{parser}: {error:?} gave {}", response.status());
    let body: Json = serde_json::from_slice(response.body()).expect("JSON error body");
    assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{parser}: {body}");
}

/// Any JSON value: nulls, booleans, integers and floats at the extremes, text with multi-byte
/// characters, arrays and objects, nested.
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        ".{0,12}".prop_map(Json::String),
        prop_oneof![
            Just("all"),
            Just("reingest"),
            Just("reproject"),
            Just("drain"),
            Just("stale"),
            Just("en-US"),
            Just("a€b"),
            Just("\u{0}"),
            Just("customer.subscription.updated"),
            Just("event"),
        ]
        .prop_map(|s| Json::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::btree_map(field_name(), inner, 0..6).prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names the parsers know, and others.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "source",
            "max_movies",
            "pages_per_source",
            "trigger_type",
            "language",
            "region",
            "dry_run",
            "budget_ms",
            "tmdb_ids",
            "mode",
            "filter",
            "cursor",
            "limit",
            "batch_size",
            "read_changes",
            "tmdb_id",
            "force_refresh",
            "id",
            "object",
            "type",
            "created",
            "data",
            "customer",
            "status",
            "name",
            "all",
            "next",
            "token",
            "csrf",
        ])
        .prop_map(str::to_owned),
        ".{0,8}",
    ]
}

fn any_body() -> impl Strategy<Value = Map<String, Json>> {
    prop::collection::btree_map(field_name(), any_json(), 0..8).prop_map(|m| m.into_iter().collect())
}

/// The same body with every value (at any depth) replaced by `null`.
fn nulled(value: &Json) -> Json {
    match value {
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), nulled(v))).collect()),
        Json::Array(items) => Json::Array(items.iter().map(nulled).collect()),
        _ => Json::Null,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn catalog_query_strings_are_refused_with_400(raw in "([a-z_]{0,10}(=[a-zA-Z0-9%+.&_€-]{0,16})?&?){0,6}") {
        use crate::api::catalog::query;
        for result in [
            query::parameters(Some(&raw), query::BROWSE).and_then(|p| query::browse(&p)).map(drop),
            query::parameters(Some(&raw), query::SEARCH).and_then(|p| query::search(&p)).map(drop),
            query::parameters(Some(&raw), &[]).map(drop),
        ] {
            if let Err(e) = result {
                prop_assert!(matches!(e, Error::BadRequest(_)), "{e:?}");
                assert_client_error("catalog query string", &e);
            }
        }
    }

    #[test]
    fn browse_parameters_with_any_values_are_refused_with_400(
        pairs in prop::collection::vec((prop::sample::select(crate::api::catalog::query::BROWSE.to_vec()), ".{0,12}"), 0..6)
    ) {
        use crate::api::catalog::query;
        let raw: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        if let Err(e) = query::parameters(Some(&raw), query::BROWSE).and_then(|p| query::browse(&p)) {
            prop_assert!(matches!(e, Error::BadRequest(_)), "{e:?}");
            assert_client_error("browse query string", &e);
        }
    }

    #[test]
    fn any_cursor_text_is_refused_with_400_unless_ours(text in "[A-Za-z0-9_.=-]{0,80}") {
        use crate::api::catalog::cursor::{CursorKey, decode};
        let key = CursorKey::from_admin_token(&crate::config::Secret::new("token"));
        let e = decode(&key, &title_browse(), &text, 0).unwrap_err();
        prop_assert!(matches!(e, Error::InvalidCursor(_)));
        assert_client_error("browse cursor", &e);
    }

    #[test]
    fn json_objects_parse_or_are_refused_with_a_4xx(body in any_body()) {
        let body = Json::Object(body);
        assert_every_parser_holds(body.to_string().as_bytes());
        assert_every_parser_holds(nulled(&body).to_string().as_bytes());
    }

    #[test]
    fn any_json_parses_or_is_refused_with_a_4xx(value in any_json()) {
        assert_every_parser_holds(value.to_string().as_bytes());
    }

    #[test]
    fn random_bytes_parse_or_are_refused_with_a_4xx(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        assert_every_parser_holds(&bytes);
    }

    #[test]
    fn texts_parse_or_are_refused_with_a_4xx(
        text in "(/[a-z0-9:_€.%-]{0,12}){0,5}|.{0,24}|(t=[0-9-]{0,12}|v1=[0-9a-f]{0,70}|[a-z0-9=,€ ]{0,20})(,(t=[0-9]{0,12}|v1=[0-9a-fA-F]{0,66}|.{0,6})){0,4}",
    ) {
        assert_every_parser_holds(text.as_bytes());
    }

    #[test]
    fn known_fields_with_any_values_parse_or_are_refused_with_a_4xx(
        fields in prop::collection::btree_map(field_name(), any_json(), 1..4),
        garbage in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut bytes = Json::Object(fields.into_iter().collect()).to_string().into_bytes();
        // Sometimes whole, sometimes followed (or cut) by bytes that are not JSON.
        if garbage.len() % 2 == 0 {
            bytes.extend(&garbage);
        } else {
            bytes.truncate(bytes.len().saturating_sub(garbage.len()));
        }
        assert_every_parser_holds(&bytes);
    }
}

#[test]
fn a_random_signature_header_never_verifies() {
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&"(t=[0-9]{1,12},)?(v1=[0-9a-f]{64},?){0,3}", |header| {
            let verified = signature::verify(Some(&header), b"{}", &stripe_secrets(), crate::ports::system_now(), 300);
            prop_assert!(verified.is_err(), "a random header cannot carry a valid signature");
            Ok(())
        })
        .unwrap();
}

/// The regression cases: the inputs that found bugs and the extremes the issue names, kept as
/// files under `tests/regressions/parsers/`, and the large ones generated here.
#[test]
fn extreme_inputs_parse_or_are_refused_with_a_4xx() {
    let deep_array = format!("{{\"tmdb_ids\": {}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}{}", "{\"data\":".repeat(10_000), "}".repeat(10_000));
    let long_number = format!("{{\"tmdb_id\": {}}}", "9".repeat(5_000));
    let cases: Vec<Vec<u8>> = vec![
        deep_array.into_bytes(),
        deep_object.into_bytes(),
        long_number.into_bytes(),
        vec![b' '; 100],
        vec![b'['; 100_000],
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/regressions/parsers");
    let mut files = 0;
    for entry in std::fs::read_dir(dir).expect("tests/regressions/parsers") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert_every_parser_holds(&bytes);
        files += 1;
    }
    assert!(files >= 20, "the regression inputs are there ({files})");
    for bytes in cases {
        assert_every_parser_holds(&bytes);
    }
}

#[test]
fn a_body_too_large_is_a_413_with_the_json_error_shape() {
    let large = vec![b'x'; super::MAX_BODY_BYTES + 1];
    for result in [json_body(&request(&large)), json_body_or_empty(&request(&large))] {
        let e = result.unwrap_err();
        assert!(matches!(e, Error::PayloadTooLarge { .. }), "{e:?}");
        assert_client_error("body", &e);
    }
}
