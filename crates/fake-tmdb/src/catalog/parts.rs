//! The appended parts other than credits: videos, similar, release dates, images, keywords
//! and watch providers.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::core_facts::core;
use super::details::{Patches, base_details, provider_logo, summary};
use super::random::{days_after, days_before, hex24, image_path, pick, rng, round};
use super::title::{slug, title};
use crate::FakeTmdbConfig;
use crate::words::*;

pub(super) fn videos(cfg: &FakeTmdbConfig, id: u64) -> Value {
    let mut r = rng(cfg.seed, id, "videos");
    let base = core(cfg, id).release.unwrap_or(cfg.reference_date);
    let n = r.usize(2..=3);
    let results: Vec<Value> = (0..n)
        .map(|i| {
            let (kind, name) = match i {
                0 => ("Trailer", "Official Trailer".to_string()),
                1 => ("Teaser", "Teaser".to_string()),
                _ => ("Clip", format!("Clip {}", r.u32(1..=5))),
            };
            let key: String = (0..11)
                .map(|_| {
                    let c = r.alphanumeric();
                    // YouTube keys also use '-' and '_'.
                    match r.u32(..32) {
                        0 => '-',
                        1 => '_',
                        _ => c,
                    }
                })
                .collect();
            let published = days_before(base, r.u64(0..=120));
            json!({
                "key": key,
                "site": "YouTube",
                "type": kind,
                "name": name,
                "official": r.u32(..5) != 0,
                "published_at": format!("{published}T{:02}:00:00.000Z", r.u32(..24)),
                "size": 1080,
                "iso_639_1": "en",
                "iso_3166_1": "US",
                "id": hex24(&mut r),
            })
        })
        .collect();
    json!({ "results": results })
}

pub(super) fn similar(cfg: &FakeTmdbConfig, id: u64, patches: &Patches) -> Value {
    let mut r = rng(cfg.seed, id, "similar");
    let n = u64::from(cfg.catalog_size);
    let wanted = n.saturating_sub(1).min(10) as usize;
    let mut ids: Vec<u64> = Vec::with_capacity(wanted);
    while ids.len() < wanted {
        let other = r.u64(1..=n);
        if other != id && !ids.contains(&other) {
            ids.push(other);
        }
    }
    let results: Vec<Value> = ids.iter().filter_map(|o| summary(cfg, *o, patches)).collect();
    json!({
        "page": 1,
        "total_pages": u64::from(!results.is_empty()),
        "total_results": results.len(),
        "results": results,
    })
}

pub(super) fn release_dates(cfg: &FakeTmdbConfig, id: u64) -> Value {
    let Some(us_date) = core(cfg, id).release else {
        // No known release: TMDB has no release dates either.
        return json!({ "results": [] });
    };
    let mut r = rng(cfg.seed, id, "release_dates");
    let (country, certs) = *pick(&mut r, &OTHER_CERTIFICATIONS);
    let other_date = days_after(us_date, r.u64(0..=30));
    let entry = |certification: &str, date: NaiveDate| {
        json!({
            "certification": certification,
            "type": 3,
            "release_date": format!("{date}T00:00:00.000Z"),
            "note": "",
        })
    };
    let us_certification = *pick(&mut r, &US_CERTIFICATIONS);
    let other_certification = *pick(&mut r, certs);
    json!({ "results": [
        { "iso_3166_1": "US", "release_dates": [entry(us_certification, us_date)] },
        { "iso_3166_1": country, "release_dates": [entry(other_certification, other_date)] },
    ]})
}

pub(super) fn images(cfg: &FakeTmdbConfig, id: u64) -> Value {
    let details = base_details(cfg, id).unwrap_or_default();
    let mut r = rng(cfg.seed, id, "images");
    // The first poster and backdrop are the ones the details point at.
    let mut set = |first: Option<String>, count: usize, w: u32, h: u32, ext: &str, lang: bool| {
        let mut paths: Vec<String> = first.into_iter().collect();
        while paths.len() < count {
            paths.push(image_path(&mut r, ext));
        }
        paths
            .into_iter()
            .map(|path| {
                let iso: Option<&str> = if lang { Some("en") } else { None };
                let vote_count = r.u32(0..=12);
                json!({
                    "file_path": path,
                    "width": w,
                    "height": h,
                    "aspect_ratio": round(f64::from(w) / f64::from(h), 3),
                    "iso_639_1": iso,
                    "vote_average": if vote_count == 0 { 0.0 } else { round(5.0 + 0.6 * r.f64(), 3) },
                    "vote_count": vote_count,
                })
            })
            .collect::<Vec<_>>()
    };
    let path_of = |k: &str| details.get(k).and_then(Value::as_str).map(str::to_string);
    let n_backdrops = 2 + (id % 3) as usize;
    let backdrops = set(path_of("backdrop_path"), n_backdrops, 3840, 2160, ".jpg", false);
    let posters = set(path_of("poster_path"), 2 + (id % 2) as usize, 2000, 3000, ".jpg", true);
    let logos = set(None, (id % 3) as usize, 1000, 400, ".png", true);
    json!({ "backdrops": backdrops, "posters": posters, "logos": logos })
}

pub(super) fn keywords(cfg: &FakeTmdbConfig, id: u64) -> Value {
    let mut r = rng(cfg.seed, id, "keywords");
    let mut indices: Vec<usize> = (0..KEYWORDS.len()).collect();
    r.shuffle(&mut indices);
    let mut out: Vec<Value> = indices
        .iter()
        .take(cfg.keywords_per_movie)
        .map(|&i| json!({ "id": 1_000 + 37 * i as u64, "name": KEYWORDS[i] }))
        .collect();
    // Past the word list, made-up keywords keep the count exact.
    for extra in out.len()..cfg.keywords_per_movie {
        out.push(json!({ "id": 900_000 + extra as u64, "name": format!("keyword {extra}") }));
    }
    json!({ "keywords": out })
}

pub(super) fn watch_providers(cfg: &FakeTmdbConfig, id: u64) -> Value {
    let mut r = rng(cfg.seed, id, "watch/providers");
    let slug = slug(&title(cfg.seed, id));
    let entries = |r: &mut fastrand::Rng, from: &[(u64, &str, u32)], max: usize| {
        let n = r.usize(1..=max.min(from.len()));
        let mut picked: Vec<(u64, &str, u32)> = Vec::new();
        while picked.len() < n {
            let p = *pick(r, from);
            if !picked.contains(&p) {
                picked.push(p);
            }
        }
        picked.sort_by_key(|p| p.2);
        picked
            .into_iter()
            .map(|(pid, name, priority)| {
                json!({
                    "provider_id": pid,
                    "provider_name": name,
                    "logo_path": provider_logo(pid),
                    "display_priority": priority,
                })
            })
            .collect::<Vec<_>>()
    };
    let mut results = Map::new();
    for country in ["US", "GB"] {
        let mut offers = Map::new();
        offers.insert(
            "link".into(),
            json!(format!("https://www.themoviedb.org/movie/{id}-{slug}/watch?locale={country}")),
        );
        // TMDB leaves out an offer kind with no providers; some movies stream nowhere.
        if r.u32(..5) < 3 {
            offers.insert("flatrate".into(), json!(entries(&mut r, &SUBSCRIPTION_PROVIDERS, 2)));
        }
        offers.insert("rent".into(), json!(entries(&mut r, &STORE_PROVIDERS, 3)));
        offers.insert("buy".into(), json!(entries(&mut r, &STORE_PROVIDERS, 3)));
        results.insert(country.into(), Value::Object(offers));
    }
    json!({ "results": results })
}
