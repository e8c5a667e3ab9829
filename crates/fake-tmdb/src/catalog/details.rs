//! A movie's details, with patches merged in, its list form, and the dispatch of its parts.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::core_facts::{core, exists, is_adult};
use super::parts::{images, keywords, release_dates, similar, videos, watch_providers};
use super::people::credits;
use super::random::{image_path, pick, rng, round};
use super::title::{capitalise, title};
use crate::FakeTmdbConfig;
use crate::words::*;

/// Patches set through `Faults::patch_movie`, by movie id: top-level keys to shallow-merge.
pub(crate) type Patches = HashMap<u64, Map<String, Value>>;

/// Part names accepted in `append_to_response` and as `/movie/{id}/{part}`.
pub(crate) const PARTS: [&str; 7] =
    ["credits", "videos", "similar", "release_dates", "images", "keywords", "watch/providers"];

fn genres(r: &mut fastrand::Rng) -> Vec<(u32, &'static str)> {
    let n = r.usize(1..=3);
    let mut out: Vec<(u32, &str)> = Vec::with_capacity(n);
    while out.len() < n {
        let g = *pick(r, &GENRES);
        if !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

fn country_name(code: &str) -> &'static str {
    COUNTRIES.iter().find(|(c, _)| *c == code).map_or("Unknown", |(_, n)| n)
}

fn company_logo(company_id: u64) -> Option<String> {
    // Every fifth studio has no logo, as on TMDB.
    (!company_id.is_multiple_of(5)).then(|| image_path(&mut rng(0, company_id, "company-logo"), ".png"))
}

pub(super) fn provider_logo(provider_id: u64) -> String {
    image_path(&mut rng(0, provider_id, "provider-logo"), ".jpg")
}

/// Details of a catalog movie, before patches and without appended parts.
pub(crate) fn base_details(cfg: &FakeTmdbConfig, id: u64) -> Option<Map<String, Value>> {
    if !exists(cfg, id) {
        return None;
    }
    let c = core(cfg, id);
    let mut r = rng(cfg.seed, id, "details");
    let title = title(cfg.seed, id);

    let overview = if r.u32(..100) == 0 {
        String::new()
    } else {
        let role = *pick(&mut r, &ROLES);
        let mut s = format!("{} {} and {}.", capitalise(role), pick(&mut r, &INCIDENTS), pick(&mut r, &STAKES));
        if r.bool() {
            s.push_str(&format!(" Set in {}.", pick(&mut r, &SETTINGS)));
        }
        s
    };
    let tagline = if r.u32(..5) == 0 { "" } else { *pick(&mut r, &TAGLINES) };

    // Three quarters English, like TMDB's popular lists.
    let lang = if r.u32(..4) < 3 { LANGUAGES[0] } else { *pick(&mut r, &LANGUAGES[1..]) };
    let (lang_code, _, _, home) = lang;
    let home = if lang_code == "en" && r.u32(..6) == 0 { "GB" } else { home };
    let mut countries = vec![home];
    if home != "US" && r.u32(..3) == 0 {
        countries.push("US");
    }
    let mut spoken = vec![lang];
    if lang_code != "en" && r.bool() {
        spoken.push(LANGUAGES[0]);
    }

    let genres = genres(&mut r);
    let n_companies = r.usize(1..=3);
    let mut companies: Vec<(u64, &str, &str)> = Vec::new();
    while companies.len() < n_companies {
        let co = *pick(&mut r, &COMPANIES);
        if !companies.contains(&co) {
            companies.push(co);
        }
    }

    let imdb_id = (r.u32(..100) >= 6).then(|| format!("tt{:07}", 100_000 + id));
    let runtime = (r.u32(..25) != 0).then(|| r.u32(80..=180));
    let budget: u64 = if r.u32(..10) < 3 { 0 } else { r.u64(1..=250) * 1_000_000 };
    let revenue: u64 = if budget == 0 || r.u32(..4) == 0 { 0 } else { (budget as f64 * (0.2 + 5.0 * r.f64())) as u64 };
    let vote_count = match c.release {
        Some(d) if d <= cfg.reference_date => (c.popularity * r.f64() * 60.0) as u64,
        _ => 0,
    };
    let vote_average = if vote_count == 0 { 0.0 } else { round(4.0 + 4.9 * r.f64(), 1) };
    let poster_path = image_path(&mut r, ".jpg");
    let backdrop_path = (r.u32(..12) != 0).then(|| image_path(&mut r, ".jpg"));
    let collection = (r.u32(..8) == 0).then(|| {
        json!({
            "id": 500_000 + id,
            "name": format!("{title} Collection"),
            "poster_path": image_path(&mut r, ".jpg"),
            "backdrop_path": image_path(&mut r, ".jpg"),
        })
    });
    let homepage = if r.bool() { format!("https://example.com/movies/{id}") } else { String::new() };

    let value = json!({
        "id": id,
        "imdb_id": imdb_id,
        "title": title,
        "original_title": title,
        "original_language": lang_code,
        "overview": overview,
        "tagline": tagline,
        "status": "Released",
        "release_date": c.release.map(|d| d.to_string()).unwrap_or_default(),
        "runtime": runtime,
        "budget": budget,
        "revenue": revenue,
        "popularity": c.popularity,
        "vote_average": vote_average,
        "vote_count": vote_count,
        "poster_path": poster_path,
        "backdrop_path": backdrop_path,
        "genres": genres.iter().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>(),
        "production_companies": companies.iter().map(|(cid, name, country)| json!({
            "id": cid, "name": name, "logo_path": company_logo(*cid), "origin_country": country,
        })).collect::<Vec<_>>(),
        "production_countries": countries.iter().map(|c| json!({
            "iso_3166_1": c, "name": country_name(c),
        })).collect::<Vec<_>>(),
        "spoken_languages": spoken.iter().map(|(code, english, native, _)| json!({
            "iso_639_1": code, "english_name": english, "name": native,
        })).collect::<Vec<_>>(),
        "belongs_to_collection": collection,
        "homepage": homepage,
        "origin_country": [home],
        "adult": is_adult(cfg, id),
        "video": false,
    });
    match value {
        Value::Object(map) => Some(map),
        _ => unreachable!("json! object literal"),
    }
}

/// Details with the movie's patch merged in. Patch keys that name a part are left out here:
/// they replace that part instead (see [`part`]).
pub(crate) fn patched_details(cfg: &FakeTmdbConfig, id: u64, patches: &Patches) -> Option<Map<String, Value>> {
    let mut details = base_details(cfg, id)?;
    if let Some(patch) = patches.get(&id) {
        for (k, v) in patch {
            if !PARTS.contains(&k.as_str()) {
                details.insert(k.clone(), v.clone());
            }
        }
    }
    Some(details)
}

/// Details plus appended parts under their own keys; unknown part names are ignored, as TMDB
/// does. `None` when the id is not in the catalog.
pub(crate) fn details(cfg: &FakeTmdbConfig, id: u64, append: &[&str], patches: &Patches) -> Option<Value> {
    let mut d = patched_details(cfg, id, patches)?;
    for name in append {
        if let Some(v) = part(cfg, id, name, patches) {
            d.insert((*name).to_string(), v);
        }
    }
    Some(Value::Object(d))
}

/// A served fixture as `/movie/{id}` answers it: its fields, and of its parts only the appended
/// ones (as TMDB leaves out what was not asked for).
pub(crate) fn fixture_details(fixture: Map<String, Value>, append: &[&str]) -> Value {
    let asked = |key: &str| !PARTS.contains(&key) || append.contains(&key);
    Value::Object(fixture.into_iter().filter(|(key, _)| asked(key)).collect())
}

/// The list form of a movie (popular, now_playing, trending, similar), projected from its
/// patched details so that patches show up in lists too.
pub(crate) fn summary(cfg: &FakeTmdbConfig, id: u64, patches: &Patches) -> Option<Value> {
    let d = patched_details(cfg, id, patches)?;
    let field = |k: &str| d.get(k).cloned().unwrap_or(Value::Null);
    let genre_ids = d.get("genre_ids").cloned().unwrap_or_else(|| {
        let ids = d
            .get("genres")
            .and_then(Value::as_array)
            .map(|gs| gs.iter().filter_map(|g| g.get("id").cloned()).collect::<Vec<_>>())
            .unwrap_or_default();
        Value::Array(ids)
    });
    Some(json!({
        "id": field("id"),
        "title": field("title"),
        "original_title": field("original_title"),
        "original_language": field("original_language"),
        "overview": field("overview"),
        "release_date": field("release_date"),
        "popularity": field("popularity"),
        "vote_average": field("vote_average"),
        "vote_count": field("vote_count"),
        "poster_path": field("poster_path"),
        "backdrop_path": field("backdrop_path"),
        "genre_ids": genre_ids,
        "adult": field("adult"),
        "video": field("video"),
    }))
}

/// One part, in the shape it takes under `append_to_response` (no top-level `id`).
/// `None` for an unknown part name or an id outside the catalog.
pub(crate) fn part(cfg: &FakeTmdbConfig, id: u64, name: &str, patches: &Patches) -> Option<Value> {
    if !exists(cfg, id) {
        return None;
    }
    // A patch keyed by a part name replaces that part wholesale.
    if let Some(v) = patches.get(&id).and_then(|p| p.get(name)) {
        return Some(v.clone());
    }
    Some(match name {
        "credits" => credits(cfg, id),
        "videos" => videos(cfg, id),
        "similar" => similar(cfg, id, patches),
        "release_dates" => release_dates(cfg, id),
        "images" => images(cfg, id),
        "keywords" => keywords(cfg, id),
        "watch/providers" => watch_providers(cfg, id),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::test_config;

    #[test]
    fn same_seed_same_bytes_different_seed_different_data() {
        let a = test_config();
        let all: Vec<&str> = PARTS.to_vec();
        let one = serde_json::to_vec(&details(&a, 77, &all, &Patches::new())).unwrap();
        let two = serde_json::to_vec(&details(&a, 77, &all, &Patches::new())).unwrap();
        assert_eq!(one, two);
        let b = FakeTmdbConfig { seed: 43, ..test_config() };
        let other = serde_json::to_vec(&details(&b, 77, &all, &Patches::new())).unwrap();
        assert_ne!(one, other);
    }

    #[test]
    fn details_have_contract_fields() {
        let c = test_config();
        let d = base_details(&c, 1).unwrap();
        for key in [
            "id",
            "imdb_id",
            "title",
            "original_title",
            "original_language",
            "overview",
            "tagline",
            "status",
            "release_date",
            "runtime",
            "budget",
            "revenue",
            "popularity",
            "vote_average",
            "vote_count",
            "poster_path",
            "backdrop_path",
            "genres",
            "production_companies",
            "production_countries",
            "spoken_languages",
            "belongs_to_collection",
            "homepage",
            "origin_country",
            "adult",
            "video",
        ] {
            assert!(d.contains_key(key), "missing {key}");
        }
        assert!(base_details(&c, 0).is_none());
        assert!(base_details(&c, 10_001).is_none());
        // Every field that may be null or empty is so for some movies.
        let many: Vec<_> = (1..=2_000).filter_map(|id| base_details(&c, id)).collect();
        for key in ["imdb_id", "runtime", "backdrop_path", "belongs_to_collection"] {
            assert!(many.iter().any(|d| d[key].is_null()), "{key} never null");
            assert!(many.iter().any(|d| !d[key].is_null()), "{key} always null");
        }
        assert!(many.iter().any(|d| d["release_date"] == ""));
    }
}
