//! Decoding and validating request bodies into the pipeline's typed requests. Every rule here
//! answers 400 with a message that names the field.

use std::time::Duration;

use serde_json::{Map, Value as Json};

use super::handlers::parse_tmdb_id;
use crate::db::works::Filter;
use crate::error::{Error, Result};
use crate::pipeline::batch::{BatchMode, BatchRequest, MAX_IDS, MAX_PAGE};
use crate::pipeline::refresh::RefreshRequest;
use crate::pipeline::scheduled::{ScheduledRequest, Source};

type Body = Map<String, Json>;

fn bad(message: String) -> Error {
    Error::BadRequest(message)
}

/// An optional integer field within `min..=max`.
fn int(body: &Body, field: &str, min: i64, max: i64) -> Result<Option<i64>> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => match n.as_i64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(bad(format!("`{field}` must be an integer from {min} to {max}"))),
        },
        Some(_) => Err(bad(format!("`{field}` must be an integer from {min} to {max}"))),
    }
}

fn string<'a>(body: &'a Body, field: &str) -> Result<Option<&'a str>> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad(format!("`{field}` must be a string"))),
    }
}

/// An optional boolean field; absent means `false`.
pub fn boolean(body: &Body, field: &str) -> Result<bool> {
    Ok(optional_boolean(body, field)?.unwrap_or(false))
}

fn optional_boolean(body: &Body, field: &str) -> Result<Option<bool>> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(format!("`{field}` must be true or false"))),
    }
}

fn trigger_type(body: &Body) -> Result<String> {
    match string(body, "trigger_type")? {
        None => Ok("manual".into()),
        Some(t @ ("manual" | "scheduled")) => Ok(t.into()),
        Some(other) => Err(bad(format!("`trigger_type` must be \"manual\" or \"scheduled\", got {other:?}"))),
    }
}

fn budget(body: &Body) -> Result<Option<Duration>> {
    Ok(int(body, "budget_ms", 1, 3_600_000)?.map(|ms| Duration::from_millis(ms as u64)))
}

/// "en" or "en-US": ISO 639-1, optionally a hyphen and ISO 3166-1. Checked on bytes, so any
/// other input (multi-byte characters included) is simply refused.
fn is_language_tag(tag: &str) -> bool {
    match tag.as_bytes() {
        [a, b] => a.is_ascii_lowercase() && b.is_ascii_lowercase(),
        [a, b, b'-', c, d] => {
            a.is_ascii_lowercase() && b.is_ascii_lowercase() && c.is_ascii_uppercase() && d.is_ascii_uppercase()
        }
        _ => false,
    }
}

pub fn scheduled(body: &Body) -> Result<ScheduledRequest> {
    let source = match string(body, "source")? {
        None => Source::All,
        Some(s) => Source::parse(s)
            .ok_or_else(|| bad(format!("`source` must be one of popular, now_playing, trending, all; got {s:?}")))?,
    };
    let language = string(body, "language")?
        .map(|l| {
            if is_language_tag(l) {
                Ok(l.to_owned())
            } else {
                Err(bad(format!("`language` must look like \"en\" or \"en-US\", got {l:?}")))
            }
        })
        .transpose()?;
    let region = string(body, "region")?
        .map(|r| {
            if r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(r.to_owned())
            } else {
                Err(bad(format!("`region` must be an ISO 3166-1 code like \"US\", got {r:?}")))
            }
        })
        .transpose()?;
    Ok(ScheduledRequest {
        source,
        max_movies: int(body, "max_movies", 1, 1000)?.unwrap_or(20) as usize,
        trigger_type: trigger_type(body)?,
        pages_per_source: int(body, "pages_per_source", 1, 500)?.unwrap_or(5) as u32,
        language,
        region,
        dry_run: boolean(body, "dry_run")?,
        budget: budget(body)?,
    })
}

pub fn batch(body: &Body) -> Result<BatchRequest> {
    let mode = match (body.get("tmdb_ids"), string(body, "mode")?) {
        (Some(_), Some(_)) => return Err(bad("give either `tmdb_ids` or `mode`, not both".into())),
        (Some(ids), None) => {
            let Json::Array(list) = ids else { return Err(bad("`tmdb_ids` must be an array of TMDB ids".into())) };
            if list.is_empty() || list.len() > MAX_IDS {
                return Err(bad(format!("`tmdb_ids` must hold 1 to {MAX_IDS} ids, got {}", list.len())));
            }
            let mut ids = Vec::with_capacity(list.len());
            for (i, v) in list.iter().enumerate() {
                let id = parse_tmdb_id(Some(v), &format!("tmdb_ids[{i}]"))?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            BatchMode::Ids(ids)
        }
        (None, Some("reingest")) => {
            let filter = match string(body, "filter")? {
                None => Filter::Stale,
                Some(f) => Filter::parse(f).ok_or_else(|| {
                    bad(format!("`filter` must be one of all, stale, failed, schema_outdated; got {f:?}"))
                })?,
            };
            BatchMode::Reingest {
                filter,
                cursor: int(body, "cursor", 0, i64::MAX)?.unwrap_or(0),
                limit: int(body, "limit", 1, MAX_PAGE)?.unwrap_or(500),
            }
        }
        (None, Some("drain")) => BatchMode::Drain,
        (None, Some("reproject")) => BatchMode::Reproject {
            cursor: int(body, "cursor", 0, i64::MAX)?.unwrap_or(0),
            limit: int(body, "limit", 1, MAX_PAGE)?.unwrap_or(500),
        },
        (None, Some(other)) => {
            return Err(bad(format!("`mode` must be \"reingest\", \"drain\" or \"reproject\", got {other:?}")));
        }
        (None, None) => {
            return Err(bad("give `tmdb_ids` (an array) or `mode` (\"reingest\", \"drain\" or \"reproject\")".into()));
        }
    };
    Ok(BatchRequest { mode, trigger_type: trigger_type(body)?, budget: budget(body)? })
}

pub fn refresh(body: &Body) -> Result<RefreshRequest> {
    Ok(RefreshRequest {
        budget: budget(body)?,
        batch_size: int(body, "batch_size", 1, 100_000)?.unwrap_or(1000),
        dry_run: boolean(body, "dry_run")?,
        trigger_type: trigger_type(body)?,
        read_changes: optional_boolean(body, "read_changes")?.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Json) -> Body {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn scheduled_defaults_match_the_old_function() {
        let r = scheduled(&body(json!({}))).unwrap();
        assert_eq!(
            (r.source, r.max_movies, r.pages_per_source, r.trigger_type.as_str(), r.dry_run),
            (Source::All, 20, 5, "manual", false)
        );
    }

    #[test]
    fn scheduled_rejects_bad_fields() {
        for bad in [
            json!({"source": "upcoming"}),
            json!({"max_movies": -1}),
            json!({"max_movies": 0}),
            json!({"max_movies": 1_000_000}),
            json!({"max_movies": "20"}),
            json!({"pages_per_source": 501}),
            json!({"trigger_type": "cron"}),
            json!({"language": "english"}),
            json!({"region": "usa"}),
            json!({"dry_run": "yes"}),
            json!({"budget_ms": 0}),
        ] {
            assert!(matches!(scheduled(&body(bad.clone())), Err(Error::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn refresh_fields_are_validated() {
        let r = refresh(&body(json!({}))).unwrap();
        assert_eq!((r.batch_size, r.dry_run, r.budget), (1000, false, None));
        for bad in
            [json!({"batch_size": 0}), json!({"batch_size": 1e9}), json!({"budget_ms": -5}), json!({"dry_run": "no"})]
        {
            assert!(matches!(refresh(&body(bad.clone())), Err(Error::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn batch_ids_are_validated_and_deduped_in_order() {
        let r = batch(&body(json!({"tmdb_ids": [3, 1, 3, "2"]}))).unwrap();
        assert_eq!(r.mode, BatchMode::Ids(vec![3, 1, 2]));
        let r = batch(&body(json!({"mode": "drain", "trigger_type": "scheduled"}))).unwrap();
        assert_eq!((r.mode, r.trigger_type.as_str()), (BatchMode::Drain, "scheduled"));
        let too_many: Vec<i64> = (1..=1001).collect();
        for bad in [
            json!({"tmdb_ids": []}),
            json!({"tmdb_ids": too_many}),
            json!({"tmdb_ids": [1, "x"]}),
            json!({"tmdb_ids": [1.5]}),
            json!({"tmdb_ids": 5}),
            json!({"mode": "delete"}),
            json!({}),
            json!({"mode": "reingest", "filter": "old"}),
            json!({"mode": "reingest", "limit": 0}),
            json!({"tmdb_ids": [1], "mode": "reingest"}),
            json!({"tmdb_ids": [1], "mode": "drain"}),
            json!({"mode": "Drain"}),
        ] {
            assert!(matches!(batch(&body(bad.clone())), Err(Error::BadRequest(_))), "{bad}");
        }
    }
}
