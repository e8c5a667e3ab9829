//! `cron-bridge`: a component for the `trigger-cron` plugin. On each tick it POSTs to one of
//! Marquee's HTTP routes with the admin token, and that is all: the schedule's logic stays in
//! the HTTP components. One wasm serves every schedule; each cron component in `spin.toml`
//! sets its own variables:
//!
//! - `target_url`: the full URL of the route, e.g. `http://127.0.0.1:3000/functions/v1/daily-refresh`;
//! - `admin_token`: sent as `Authorization: Bearer`;
//! - `body`: the JSON body (marked `"trigger_type": "scheduled"`).
//!
//! The request is built and the answer judged by `marquee::schedule` (tested natively); this
//! crate only translates them to and from `wasi:http`. A non-2xx answer is an error, which the
//! plugin logs; the bridge never retries (the next tick, or the route's own queue, does).
//! Built with `wit-bindgen` against the plugin's world (`wit/`), not with spin-sdk: the plugin
//! hosts only components of its own (Spin 3.5-era) interfaces.

use marquee::schedule::{bridge_request, judge_response, redact};

wit_bindgen::generate!({ world: "bridge", path: "wit", generate_all });

use fermyon::spin::variables;
use wasi::http::outgoing_handler;
use wasi::http::types::{ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// Most of an answer's body read (enough for an error message).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

struct Bridge;

impl Guest for Bridge {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let _ = metadata.timestamp;
        tick().map_err(Error::Other)
    }
}

export!(Bridge);

fn variable(name: &str) -> Result<String, String> {
    variables::get(name).map_err(|e| {
        let why = match e {
            variables::Error::InvalidName(m)
            | variables::Error::Undefined(m)
            | variables::Error::Provider(m)
            | variables::Error::Other(m) => m,
        };
        format!("cannot read variable `{name}`: {why}")
    })
}

fn tick() -> Result<(), String> {
    let target_url = variable("target_url")?;
    let admin_token = variable("admin_token")?;
    let body = variable("body").unwrap_or_default();
    let request = bridge_request(&target_url, &admin_token, &body).map_err(|e| e.to_string())?;
    let (status, answer) =
        send(request).map_err(|e| redact(&format!("POST {target_url} failed: {e}"), &admin_token))?;
    judge_response(&target_url, status, &answer, &admin_token)
}

/// Sends the request through `wasi:http/outgoing-handler` and reads the status and (the start
/// of) the body.
fn send(request: http::Request<Vec<u8>>) -> Result<(u16, Vec<u8>), String> {
    let (parts, body) = request.into_parts();
    let headers: Vec<(String, Vec<u8>)> =
        parts.headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect();
    let fields = Fields::from_list(&headers).map_err(|e| format!("headers refused: {e:?}"))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match parts.method {
        http::Method::POST => Method::Post,
        http::Method::GET => Method::Get,
        ref other => Method::Other(other.to_string()),
    };
    let scheme = match parts.uri.scheme_str() {
        Some("https") => Scheme::Https,
        _ => Scheme::Http,
    };
    outgoing.set_method(&method).map_err(|()| "method refused")?;
    outgoing.set_scheme(Some(&scheme)).map_err(|()| "scheme refused")?;
    outgoing.set_authority(parts.uri.authority().map(|a| a.as_str())).map_err(|()| "host refused")?;
    outgoing.set_path_with_query(parts.uri.path_and_query().map(|p| p.as_str())).map_err(|()| "path refused")?;

    let outgoing_body = outgoing.body().map_err(|()| "request body unavailable")?;
    let pending = outgoing_handler::handle(outgoing, None).map_err(describe)?;
    {
        let stream = outgoing_body.write().map_err(|()| "request body stream unavailable")?;
        for chunk in body.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(|e| format!("writing the body: {e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing_body, None).map_err(describe)?;

    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(describe(e)),
        Some(Err(())) => return Err("response already taken".into()),
        None => return Err("no response".into()),
    };
    let status = response.status();
    let incoming = response.consume().map_err(|()| "response body unavailable")?;
    let mut answer = Vec::new();
    {
        let stream = incoming.stream().map_err(|()| "response body stream unavailable")?;
        while answer.len() < MAX_ANSWER_BYTES {
            match stream.blocking_read(8192) {
                Ok(chunk) => answer.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(format!("reading the answer: {}", e.to_debug_string()));
                }
            }
        }
    }
    let _trailers = IncomingBody::finish(incoming);
    Ok((status, answer))
}

fn describe(e: ErrorCode) -> String {
    format!("{e:?}")
}
