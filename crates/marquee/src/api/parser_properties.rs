//! Property tests of everything that parses input from outside: request bodies, path and
//! query parameters, the Stripe signature header and event. Arbitrary JSON, random bytes, deep
//! nesting, huge numbers and multi-byte text never panic, and every refusal is a 4xx with the
//! JSON error shape.

use proptest::prelude::*;
use serde_json::{Map, Value as Json};

use super::handlers::{json_body, json_body_or_empty, parse_tmdb_id};
use super::{error_response, requests, route};
use crate::error::Error;

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
            Just("a€b")
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
        ])
        .prop_map(str::to_owned),
        ".{0,8}",
    ]
}

fn any_body() -> impl Strategy<Value = Map<String, Json>> {
    prop::collection::btree_map(field_name(), any_json(), 0..8).prop_map(|m| m.into_iter().collect())
}

/// A refusal must be a client error with `{"error": {"code", "message"}}`.
fn assert_client_error(error: &Error) {
    let response = error_response("test", error);
    assert!(response.status().is_client_error(), "{error:?} gave {}", response.status());
    let body: Json = serde_json::from_slice(response.body()).expect("JSON error body");
    assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{body}");
}

fn request(body: Vec<u8>) -> crate::ports::HttpRequest {
    http::Request::post("/functions/v1/batch-ingest").body(body).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn request_bodies_parse_or_are_refused_with_400(body in any_body()) {
        for result in [
            requests::scheduled(&body).map(drop),
            requests::batch(&body).map(drop),
            requests::refresh(&body).map(drop),
            parse_tmdb_id(body.get("tmdb_id"), "tmdb_id").map(drop),
            requests::boolean(&body, "force_refresh").map(drop),
        ] {
            if let Err(e) = result {
                prop_assert!(matches!(e, Error::BadRequest(_)), "{e:?}");
                assert_client_error(&e);
            }
        }
    }

    #[test]
    fn raw_bodies_are_json_objects_or_refused_with_400(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for result in [json_body(&request(bytes.clone())), json_body_or_empty(&request(bytes.clone()))] {
            if let Err(e) = result {
                prop_assert!(matches!(e, Error::BadRequest(_)), "{e:?}");
                assert_client_error(&e);
            }
        }
    }

    #[test]
    fn serialised_json_bodies_round_trip_through_the_parsers(value in any_json()) {
        let bytes = value.to_string().into_bytes();
        match json_body(&request(bytes)) {
            Ok(map) => {
                prop_assert!(value.is_object());
                let _ = requests::scheduled(&map);
                let _ = requests::batch(&map);
                let _ = requests::refresh(&map);
            }
            Err(e) => {
                prop_assert!(!value.is_object());
                assert_client_error(&e);
            }
        }
    }

    #[test]
    fn paths_route_or_are_refused_with_404_or_405(path in "(/[a-z0-9:_€.%-]{0,12}){0,5}", post in any::<bool>()) {
        let method = if post { http::Method::POST } else { http::Method::GET };
        if let Err(e) = route(&method, &path) {
            prop_assert!(matches!(e, Error::NotFound(_) | Error::MethodNotAllowed));
            assert_client_error(&e);
        }
    }

    #[test]
    fn path_ids_parse_or_are_refused_with_400(id in ".{0,24}") {
        if let Err(e) = parse_tmdb_id(Some(&Json::String(id)), "tmdb_id") {
            assert_client_error(&e);
        }
    }

    #[test]
    fn catalog_query_strings_parse_or_are_refused_with_400(raw in "([a-z_]{0,10}(=[a-zA-Z0-9%+.&_€-]{0,16})?&?){0,6}") {
        use crate::api::catalog::query;
        for result in [
            query::parameters(Some(&raw), query::BROWSE).and_then(|p| query::browse(&p)).map(drop),
            query::parameters(Some(&raw), query::SEARCH).and_then(|p| query::search(&p)).map(drop),
            query::parameters(Some(&raw), &[]).map(drop),
        ] {
            if let Err(e) = result {
                prop_assert!(matches!(e, Error::BadRequest(_)), "{e:?}");
                assert_client_error(&e);
            }
        }
    }

    #[test]
    fn browse_parameters_with_any_values_parse_or_are_refused_with_400(
        pairs in prop::collection::vec((prop::sample::select(crate::api::catalog::query::BROWSE.to_vec()), ".{0,12}"), 0..6)
    ) {
        use crate::api::catalog::query;
        let raw: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        if let Err(e) = query::parameters(Some(&raw), query::BROWSE).and_then(|p| query::browse(&p)) {
            prop_assert!(matches!(e, Error::BadRequest(_)), "{e:?}");
            assert_client_error(&e);
        }
    }

    #[test]
    fn any_cursor_text_is_refused_with_400_unless_ours(text in "[A-Za-z0-9_.=-]{0,80}") {
        use crate::api::catalog::cursor::{CursorKey, decode};
        let key = CursorKey::from_admin_token(&crate::config::Secret::new("token"));
        let browse = crate::db::browse::Browse {
            sort: crate::db::browse::Sort::Title,
            order: crate::db::browse::Order::Asc,
            filters: Default::default(),
            limit: 20,
            after: None,
        };
        let e = decode(&key, &browse, &text, 0).unwrap_err();
        prop_assert!(matches!(e, Error::InvalidCursor(_)));
        assert_client_error(&e);
    }

    #[test]
    fn stripe_signature_headers_and_events_never_panic(
        header in "(t=[0-9-]{0,12}|v1=[0-9a-f]{0,70}|[a-z0-9=,€ ]{0,20})(,(t=[0-9]{0,12}|v1=[0-9a-fA-F]{0,66}|.{0,6})){0,4}",
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let secrets = [crate::config::Secret::new("whsec_test")];
        let _ = crate::billing::signature::parse_header(&header);
        let verified = crate::billing::signature::verify(Some(&header), &body, &secrets, crate::ports::system_now(), 300);
        prop_assert!(verified.is_err(), "a random header cannot carry a valid signature");
        if let Err(e) = crate::billing::events::parse(&body) {
            assert_client_error(&Error::from(crate::billing::BillingError::InvalidEvent(e)));
        }
    }

    #[test]
    fn stripe_events_of_any_json_never_panic(value in any_json()) {
        let _ = crate::billing::events::parse(value.to_string().as_bytes());
    }
}

#[test]
fn nesting_ten_thousand_deep_is_a_400_not_a_stack_overflow() {
    let deep = format!("{{\"tmdb_ids\": {}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let e = json_body(&request(deep.clone().into_bytes())).unwrap_err();
    assert_client_error(&e);
    assert!(crate::billing::events::parse(deep.as_bytes()).is_err());
}

#[test]
fn huge_numbers_and_invalid_utf8_are_refused() {
    for body in
        [&b"{\"max_movies\": 1e400}"[..], b"{\"tmdb_ids\": [99999999999999999999999999]}", b"{\"x\": \"\xff\xfe\"}"]
    {
        match json_body(&request(body.to_vec())) {
            Ok(map) => assert_client_error(&requests::batch(&map).map(drop).unwrap_err()),
            Err(e) => assert_client_error(&e),
        }
    }
}
