//! A scripted HTTP client: answers from a script, with virtual latency, and records what it
//! was sent and when (in virtual time).
//!
//! Replies are chosen by path pattern: a pattern's segments must match the last segments of
//! the request's path, `*` matching any one segment (`/movie/*` matches `/3/movie/550`, and
//! `/movie/popular` too: script specific paths first). For each request the first pattern with
//! a queued reply ([`ScriptedHttp::then`]) answers with it, else the first with a standing
//! reply ([`ScriptedHttp::always`]); a request nothing answers panics, naming its path.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::VirtualClock;
use crate::ports::{Clock, HttpClient, HttpRequest, HttpResponse, TransportError};

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    latency: Duration,
    transport_error: Option<String>,
}

impl Reply {
    /// A 200 with a JSON body.
    pub fn json(body: serde_json::Value) -> Reply {
        Reply::status(200).body(body.to_string().into_bytes())
    }

    /// A status with an empty JSON object for a body.
    pub fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: b"{}".to_vec(), latency: Duration::ZERO, transport_error: None }
    }

    /// An error in TMDB's shape: `{"status_code": code, "status_message": message}`.
    pub fn tmdb_error(status: u16, code: i64, message: &str) -> Reply {
        let body = serde_json::json!({"status_code": code, "status_message": message, "success": false});
        Reply::status(status).body(body.to_string().into_bytes())
    }

    /// No HTTP answer at all: the transport fails (after the latency).
    pub fn transport_error(message: &str) -> Reply {
        Reply { transport_error: Some(message.to_owned()), ..Reply::status(0) }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Reply {
        self.body = body;
        self
    }

    /// Answers this long (in virtual time) after the request was sent.
    pub fn after(mut self, latency: Duration) -> Reply {
        self.latency = latency;
        self
    }
}

/// A request as received.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Virtual time it was sent at.
    pub at: DateTime<Utc>,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
}

struct Rule {
    pattern: String,
    queued: VecDeque<Reply>,
    always: Option<Reply>,
}

#[derive(Default)]
struct Script {
    rules: Vec<Rule>,
    sent: Vec<Sent>,
    in_flight: usize,
    max_in_flight: usize,
}

impl Script {
    fn rule(&mut self, pattern: &str) -> &mut Rule {
        match self.rules.iter().position(|r| r.pattern == pattern) {
            Some(i) => &mut self.rules[i],
            None => {
                self.rules.push(Rule { pattern: pattern.to_owned(), queued: VecDeque::new(), always: None });
                self.rules.last_mut().expect("just pushed")
            }
        }
    }

    fn answer(&mut self, path: &str) -> Option<Reply> {
        let matching = |r: &&mut Rule| matches(&r.pattern, path);
        if let Some(rule) = self.rules.iter_mut().filter(matching).find(|r| !r.queued.is_empty()) {
            return rule.queued.pop_front();
        }
        self.rules.iter_mut().filter(matching).find_map(|r| r.always.clone())
    }
}

fn matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let path: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    path.len() >= pattern.len()
        && pattern.iter().zip(&path[path.len() - pattern.len()..]).all(|(p, s)| *p == "*" || p == s)
}

/// Shared by clones: keep one to script and inspect, hand another to the code under test.
#[derive(Clone)]
pub struct ScriptedHttp {
    clock: VirtualClock,
    script: Rc<RefCell<Script>>,
}

impl ScriptedHttp {
    /// Latency is slept on `clock`.
    pub fn new(clock: &VirtualClock) -> Self {
        Self { clock: clock.clone(), script: Rc::default() }
    }

    /// Queues `reply` for the next request matching `pattern` (after those queued before).
    pub fn then(&self, pattern: &str, reply: Reply) -> &Self {
        self.script.borrow_mut().rule(pattern).queued.push_back(reply);
        self
    }

    /// Answers every request matching `pattern` that no queued reply answers.
    pub fn always(&self, pattern: &str, reply: Reply) -> &Self {
        self.script.borrow_mut().rule(pattern).always = Some(reply);
        self
    }

    /// Every request received so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.script.borrow().sent.clone()
    }

    /// Virtual send times, measured from the clock's start.
    pub fn sent_at(&self) -> Vec<Duration> {
        let start = self.clock.start();
        self.script.borrow().sent.iter().map(|s| (s.at - start).to_std().unwrap_or_default()).collect()
    }

    /// The most requests ever awaiting their answer at once.
    pub fn max_in_flight(&self) -> usize {
        self.script.borrow().max_in_flight
    }
}

/// Counts a request as in flight until it is answered or dropped (cancelled).
struct InFlight(Rc<RefCell<Script>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.borrow_mut().in_flight -= 1;
    }
}

impl HttpClient for ScriptedHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let path = request.uri().path().to_owned();
        let reply = {
            let mut script = self.script.borrow_mut();
            let sent = Sent {
                at: self.clock.now(),
                path: path.clone(),
                query: request.uri().query().map(str::to_owned),
                headers: request.headers().clone(),
            };
            script.sent.push(sent);
            script.in_flight += 1;
            script.max_in_flight = script.max_in_flight.max(script.in_flight);
            script.answer(&path)
        };
        let _in_flight = InFlight(self.script.clone());
        let reply = reply.unwrap_or_else(|| panic!("ScriptedHttp: nothing scripted answers {path}"));
        self.clock.sleep(reply.latency).await;
        if let Some(message) = reply.transport_error {
            return Err(TransportError(message));
        }
        let mut response = http::Response::builder().status(reply.status);
        for (name, value) in &reply.headers {
            response = response.header(name, value);
        }
        Ok(response.body(reply.body).expect("a scripted response is valid"))
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;

    fn get(path: &str) -> HttpRequest {
        http::Request::get(format!("http://tmdb.test/3{path}")).body(Vec::new()).unwrap()
    }

    #[test]
    fn patterns_match_the_last_segments_with_wildcards() {
        assert!(matches("/movie/550", "/3/movie/550"));
        assert!(matches("/movie/*", "/3/movie/550"));
        assert!(matches("*", "/3/configuration"));
        assert!(!matches("/movie/550", "/3/movie/551"));
        assert!(!matches("/movie/*/credits", "/3/movie/550"));
    }

    #[test]
    fn replies_come_in_order_then_the_standing_one_with_virtual_latency_and_a_record() {
        let clock = VirtualClock::default();
        let http = ScriptedHttp::new(&clock);
        http.then("/movie/*", Reply::status(503).after(Duration::from_secs(2)))
            .then("/movie/*", Reply::transport_error("reset"))
            .always("/movie/*", Reply::json(serde_json::json!({"id": 1})).header("x-test", "yes"));
        block_on(async {
            assert_eq!(http.send(get("/movie/1")).await.unwrap().status(), 503);
            assert_eq!(http.send(get("/movie/1")).await.unwrap_err().0, "reset");
            let ok = http.send(get("/movie/1?language=en-US")).await.unwrap();
            assert_eq!((ok.status().as_u16(), ok.headers()["x-test"].to_str().unwrap()), (200, "yes"));
            assert_eq!(http.send(get("/movie/2")).await.unwrap().body(), br#"{"id":1}"#);
        });
        assert_eq!(http.sent_at(), [0, 2, 2, 2].map(Duration::from_secs));
        assert_eq!(http.sent()[2].query.as_deref(), Some("language=en-US"));
        assert_eq!(http.max_in_flight(), 1);
    }

    #[test]
    #[should_panic(expected = "nothing scripted answers /3/configuration")]
    fn an_unscripted_request_fails_the_test() {
        let clock = VirtualClock::default();
        let _ = block_on(ScriptedHttp::new(&clock).send(get("/configuration")));
    }
}
