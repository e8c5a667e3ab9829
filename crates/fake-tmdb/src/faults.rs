//! Faults and patches that tests switch on while the server runs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::catalog::Patches;
use crate::error::ApiError;

/// Faults injected into a running [`FakeTmdb`](crate::FakeTmdb). Every method takes `&self`, so
/// a test can change them between (or during) requests.
pub struct Faults {
    state: Mutex<FaultState>,
}

/// A way to answer badly, for [`Faults::storm`]: what a client meets from a rate-limited API,
/// a struggling backend or a misbehaving proxy in front of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// An error in TMDB's shape for this status (429 code 25, 401 code 7, 5xx), with
    /// `Retry-After` when given. Answered before routing, like [`Faults::fail_next`].
    Status { status: u16, retry_after: Option<u64> },
    /// The right status and headers (`Content-Length` of the whole body), half the body, then
    /// the connection is reset.
    ResetMidBody,
    /// 200 with the JSON cut in half (a complete, invalid body).
    Truncated,
    /// 200 with an HTML page (`text/html`), as a proxy's or CDN's error page.
    WrongContentType,
    /// 200 with the right JSON grown to `bytes` by an unknown field.
    Huge { bytes: usize },
    /// The right answer, this much later.
    Slow(Duration),
}

impl Fault {
    /// The name an injection is counted under ([`Counters::injected`](crate::Counters)).
    pub fn name(&self) -> String {
        match self {
            Fault::Status { status, .. } => status.to_string(),
            Fault::ResetMidBody => "reset_mid_body".into(),
            Fault::Truncated => "truncated".into(),
            Fault::WrongContentType => "wrong_content_type".into(),
            Fault::Huge { .. } => "huge_body".into(),
            Fault::Slow(_) => "slow".into(),
        }
    }
}

/// A storm: until `until`, this share of the requests get `fault`.
struct Storm {
    fault: Fault,
    share: f64,
    until: Instant,
}

/// A batch queued by `fail_next`: the next `remaining` requests get this answer.
struct Pending {
    remaining: u32,
    status: u16,
    retry_after: Option<u64>,
}

struct FaultState {
    error_rate: f64,
    /// Seeded, so a given error rate fails the same requests on every run.
    rng: fastrand::Rng,
    fail_next: VecDeque<Pending>,
    storms: Vec<Storm>,
    raw: HashMap<u64, Vec<u8>>,
    not_found: HashSet<u64>,
    malformed: HashSet<u64>,
    slow: HashMap<u64, Duration>,
    patches: Patches,
    fixtures: HashMap<u64, Map<String, Value>>,
    changed: BTreeMap<NaiveDate, BTreeSet<u64>>,
}

impl Faults {
    pub(crate) fn new(seed: u64) -> Faults {
        Faults {
            state: Mutex::new(FaultState {
                error_rate: 0.0,
                rng: fastrand::Rng::with_seed(seed ^ 0x6661_756c_7473),
                fail_next: VecDeque::new(),
                storms: Vec::new(),
                raw: HashMap::new(),
                not_found: HashSet::new(),
                malformed: HashSet::new(),
                slow: HashMap::new(),
                patches: Patches::new(),
                fixtures: HashMap::new(),
                changed: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // A test that panicked while holding the lock must not take every later request down.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answer this fraction of requests (0.0..=1.0) with 503 code 9.
    pub fn set_error_rate(&self, rate: f64) {
        self.lock().error_rate = if rate.is_nan() { 0.0 } else { rate.clamp(0.0, 1.0) };
    }

    /// The next `count` requests get `status` (429 → code 25, 500 → 11, 502 → 43, 503 → 9,
    /// 504 → 24), with `Retry-After` when given. Calls queue up behind each other.
    pub fn fail_next(&self, count: u32, status: u16, retry_after_secs: Option<u64>) {
        if count > 0 {
            self.lock().fail_next.push_back(Pending { remaining: count, status, retry_after: retry_after_secs });
        }
    }

    /// For `duration` from now, `share` (0.0..=1.0, a seeded draw per request) of the API's
    /// requests get `fault`: a 429 storm with `Retry-After`, a 5xx burst, a revoked key (401 for
    /// every request), resets, bad bodies, slowness. Storms may overlap; the first one started
    /// that draws a request answers it. The id export (TMDB's file server) is never hit.
    pub fn storm(&self, fault: Fault, share: f64, duration: Duration) {
        let share = if share.is_nan() { 0.0 } else { share.clamp(0.0, 1.0) };
        self.lock().storms.push(Storm { fault, share, until: Instant::now() + duration });
    }

    /// Ends every storm now.
    pub fn calm(&self) {
        self.lock().storms.clear();
    }

    /// Whether a storm is still blowing.
    pub fn storming(&self) -> bool {
        let now = Instant::now();
        self.lock().storms.iter().any(|s| s.until > now)
    }

    /// Details of this id answer 200 with exactly these bytes, whatever they are (invalid UTF-8,
    /// JSON nested 10,000 deep, numbers beyond any integer type, not JSON at all). Takes
    /// precedence over fixtures and the synthetic catalog; faults still apply.
    pub fn serve_raw(&self, id: u64, body: Vec<u8>) {
        self.lock().raw.insert(id, body);
    }

    /// This id answers 404 code 34, details and parts alike.
    pub fn not_found(&self, id: u64) {
        self.lock().not_found.insert(id);
    }

    /// This id answers 200 with a truncated, invalid JSON body.
    pub fn malformed(&self, id: u64) {
        self.lock().malformed.insert(id);
    }

    /// Requests for this id (details and parts) wait `delay` longer before the answer.
    pub fn slow(&self, id: u64, delay: Duration) {
        self.lock().slow.insert(id, delay);
    }

    /// Shallow-merges the top-level keys of `patch` (an object) into this movie's details,
    /// e.g. `{"title": "New"}` or `{"title": null}`. Lists and `similar` show the patched
    /// summary. A key named after a part (`"credits"`, `"watch/providers"`, …) replaces that
    /// part instead. Successive patches of one id merge.
    pub fn patch_movie(&self, id: u64, patch: Value) {
        if let Value::Object(fields) = patch {
            self.lock().patches.entry(id).or_default().extend(fields);
        }
    }

    /// Serves `response` for this id, whether or not the synthetic catalog has it: a whole
    /// `GET /movie/{id}?append_to_response=…` answer as TMDB gives it (e.g. a file of
    /// `tests/fixtures/tmdb/`). Details answer exactly its fields and, of its parts, those
    /// appended; `/movie/{id}/{part}` answers its part. Patches do not apply to it; faults do.
    /// Lists and the id export know nothing of it. A response that is not an object is ignored.
    pub fn serve_fixture(&self, id: u64, response: Value) {
        if let Value::Object(fields) = response {
            self.lock().fixtures.insert(id, fields);
        }
    }

    /// `/movie/changes` reports this id for `date`, on top of the synthetic changes.
    pub fn mark_changed(&self, id: u64, date: NaiveDate) {
        self.lock().changed.entry(date).or_default().insert(id);
    }

    /// Removes every fault, patch, fixture and marked change.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.error_rate = 0.0;
        s.fail_next.clear();
        s.storms.clear();
        s.raw.clear();
        s.not_found.clear();
        s.malformed.clear();
        s.slow.clear();
        s.patches.clear();
        s.fixtures.clear();
        s.changed.clear();
    }

    /// The injected failure for this request, if any: `fail_next` first, then the error rate.
    pub(crate) fn take_injected(&self) -> Option<ApiError> {
        let mut s = self.lock();
        if let Some(front) = s.fail_next.front_mut() {
            let err = ApiError::for_status(front.status, front.retry_after);
            front.remaining -= 1;
            if front.remaining == 0 {
                s.fail_next.pop_front();
            }
            return Some(err);
        }
        // Draw only when a rate is set, so switching it on later gives the same sequence.
        let rate = s.error_rate;
        if rate > 0.0 && s.rng.f64() < rate {
            return Some(ApiError::service_offline());
        }
        None
    }

    /// The storm fault this request draws, if any (expired storms are dropped here). One draw
    /// per live storm, in the order they started, so a seed gives the same sequence.
    pub(crate) fn draw_storm(&self) -> Option<Fault> {
        let mut s = self.lock();
        let now = Instant::now();
        s.storms.retain(|storm| storm.until > now);
        let FaultState { storms, rng, .. } = &mut *s;
        storms.iter().find(|storm| rng.f64() < storm.share).map(|storm| storm.fault.clone())
    }

    /// The raw body served for this id, if any.
    pub(crate) fn raw(&self, id: u64) -> Option<Vec<u8>> {
        self.lock().raw.get(&id).cloned()
    }

    pub(crate) fn is_not_found(&self, id: u64) -> bool {
        self.lock().not_found.contains(&id)
    }

    /// Every id told `not_found`, at once (the export reads them for the whole catalog).
    pub(crate) fn not_found_ids(&self) -> HashSet<u64> {
        self.lock().not_found.clone()
    }

    pub(crate) fn is_malformed(&self, id: u64) -> bool {
        self.lock().malformed.contains(&id)
    }

    pub(crate) fn slow_for(&self, id: u64) -> Duration {
        self.lock().slow.get(&id).copied().unwrap_or_default()
    }

    /// Runs `f` with the current patches. Generation is synchronous, so holding the lock for
    /// it is brief and never spans an await.
    pub(crate) fn with_patches<R>(&self, f: impl FnOnce(&Patches) -> R) -> R {
        f(&self.lock().patches)
    }

    /// The fixture served for this id, if any.
    pub(crate) fn fixture(&self, id: u64) -> Option<Map<String, Value>> {
        self.lock().fixtures.get(&id).cloned()
    }

    /// Ids marked changed on a day of `[start, end]`.
    pub(crate) fn marked_changes(&self, start: NaiveDate, end: NaiveDate) -> BTreeSet<u64> {
        if start > end {
            return BTreeSet::new();
        }
        let s = self.lock();
        s.changed.range(start..=end).flat_map(|(_, ids)| ids.iter().copied()).collect()
    }
}
