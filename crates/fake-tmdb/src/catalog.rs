//! The synthetic catalog: every value is a pure function of `(config, id)` plus patches.
//!
//! Nothing here keeps state between calls. Each movie (and each part of it) draws from its own
//! RNG seeded by `(seed, id, salt)`, so asking for one movie never shifts the data of another,
//! and the same seed and catalog size give byte-identical JSON on every run.

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike, Days, NaiveDate};
use serde_json::{Map, Value, json};

use crate::FakeTmdbConfig;
use crate::words::*;

/// Patches set through `Faults::patch_movie`, by movie id: top-level keys to shallow-merge.
pub(crate) type Patches = HashMap<u64, Map<String, Value>>;

/// Part names accepted in `append_to_response` and as `/movie/{id}/{part}`.
pub(crate) const PARTS: [&str; 7] =
    ["credits", "videos", "similar", "release_dates", "images", "keywords", "watch/providers"];

/// Page size of popular, now_playing and trending (TMDB's fixed 20).
pub(crate) const LIST_PAGE_SIZE: usize = 20;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------------

/// SplitMix64 finaliser: a cheap, well-mixed hash of a u64.
pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, to turn a salt string into a number.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// An RNG private to one `(seed, id, salt)`: one per movie and per part, so generating one
/// piece of data never disturbs another.
pub(crate) fn rng(seed: u64, id: u64, salt: &str) -> fastrand::Rng {
    fastrand::Rng::with_seed(splitmix(splitmix(seed ^ fnv(salt)) ^ id))
}

fn pick<'a, T>(r: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[r.usize(..items.len())]
}

/// `/` + 27 alphanumerics + extension, like TMDB image paths.
fn image_path(r: &mut fastrand::Rng, ext: &str) -> String {
    let mut s = String::with_capacity(32);
    s.push('/');
    (0..27).for_each(|_| s.push(r.alphanumeric()));
    s.push_str(ext);
    s
}

/// 24 hex digits, like TMDB credit and video ids.
fn hex24(r: &mut fastrand::Rng) -> String {
    format!("{:012x}{:012x}", r.u64(..1 << 48), r.u64(..1 << 48))
}

/// Round to `places` decimals so floats serialise short and stable.
fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn days_before(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(Days::new(days)).unwrap_or(date)
}

fn days_after(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days)).unwrap_or(date)
}

// ---------------------------------------------------------------------------------------------
// Movies
// ---------------------------------------------------------------------------------------------

pub(crate) fn exists(cfg: &FakeTmdbConfig, id: u64) -> bool {
    id >= 1 && id <= u64::from(cfg.catalog_size)
}

/// The few fields that orderings need, cheap enough to compute for the whole catalog at start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Core {
    pub id: u64,
    pub popularity: f64,
    pub release: Option<NaiveDate>,
}

pub(crate) fn core(cfg: &FakeTmdbConfig, id: u64) -> Core {
    let mut r = rng(cfg.seed, id, "core");
    // ~2% have no known release date; ~4% came out in the last two months, which keeps
    // now_playing populated; the rest spread over 45 years.
    let release = if r.u32(..50) == 0 {
        None
    } else if r.u32(..100) < 4 {
        Some(days_before(cfg.reference_date, r.u64(0..=60)))
    } else {
        Some(days_before(cfg.reference_date, r.u64(61..=365 * 45)))
    };
    // Heavy-tailed, like real popularity: most movies near 1-10, a few hundred.
    let u = r.f64();
    let mut popularity = 0.6 + 12.0 * u.powi(3) + 900.0 * u.powi(40);
    if let Some(d) = release
        && (cfg.reference_date - d).num_days() <= 60
    {
        popularity *= 1.5 + 3.0 * r.f64();
    }
    Core { id, popularity: round(popularity, 3), release }
}

/// A unique, title-like string for every id.
///
/// The id is mapped through a seeded pseudo-random permutation of `[0, 16000)` onto
/// (prefix, adjective, noun); ids past 16000 get a sequel number. A permutation keeps titles
/// unique, and a random-looking one keeps neighbouring ids from sharing visible patterns.
pub(crate) fn title(seed: u64, id: u64) -> String {
    const CAP: u64 = (ADJECTIVES.len() * NOUNS.len() * TITLE_PREFIXES.len()) as u64;
    let k = id.saturating_sub(1);
    let (sequel, k) = (k / CAP, k % CAP);
    // Cycle-walking: the Feistel network permutes [0, 2^14); walking until the value lands
    // below CAP again restricts it to a permutation of [0, CAP).
    let mut p = feistel14(seed, k);
    while p >= CAP {
        p = feistel14(seed, p);
    }
    let adjective = ADJECTIVES[(p % 40) as usize];
    let noun = NOUNS[(p / 40 % 50) as usize];
    let prefix = TITLE_PREFIXES[(p / 2000) as usize];
    if sequel == 0 {
        format!("{prefix}{adjective} {noun}")
    } else {
        format!("{prefix}{adjective} {noun} {}", sequel + 1)
    }
}

/// A seeded bijection of `[0, 2^14)`: four Feistel rounds over two 7-bit halves.
fn feistel14(seed: u64, x: u64) -> u64 {
    let (mut left, mut right) = (x >> 7, x & 0x7f);
    for round in 0..4u64 {
        let f = splitmix(seed ^ (round << 32) ^ right) & 0x7f;
        (left, right) = (right, left ^ f);
    }
    (left << 7) | right
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

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

fn provider_logo(provider_id: u64) -> String {
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
        "adult": false,
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

// ---------------------------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------------------------

struct Person {
    id: u64,
    name: String,
    gender: u8,
    known_for_department: &'static str,
    popularity: f64,
    profile_path: Option<String>,
}

/// Everything about a person derives from their id alone, so someone who appears in several
/// movies looks the same in each.
fn person(seed: u64, person_id: u64) -> Person {
    let mut r = rng(seed, person_id, "person");
    let gender = match r.u32(..20) {
        0 => 0,
        1..=9 => 1,
        _ => 2,
    };
    let first = match gender {
        1 => *pick(&mut r, &FEMALE_FIRST),
        2 => *pick(&mut r, &MALE_FIRST),
        _ => {
            let names = if r.bool() { &FEMALE_FIRST } else { &MALE_FIRST };
            *pick(&mut r, names)
        }
    };
    let last = *pick(&mut r, &LAST_NAMES);
    let known_for_department = match r.u32(..20) {
        0 => "Directing",
        1 => "Writing",
        2 => "Production",
        _ => "Acting",
    };
    Person {
        id: person_id,
        name: format!("{first} {last}"),
        gender,
        known_for_department,
        popularity: round(0.5 + 60.0 * r.f64().powi(6), 3),
        profile_path: (r.u32(..7) != 0).then(|| image_path(&mut r, ".jpg")),
    }
}

/// Draws distinct people from a pool shared by the whole catalog. The draw is skewed towards
/// the start of the pool, so some people recur in many movies, like stars do.
fn draw_people(cfg: &FakeTmdbConfig, r: &mut fastrand::Rng, count: usize) -> Vec<u64> {
    let pool = (5_000 + 2 * u64::from(cfg.catalog_size)).max(2 * count as u64);
    let mut chosen: Vec<u64> = Vec::with_capacity(count);
    while chosen.len() < count {
        let mut idx = (pool as f64 * r.f64().powi(2)) as u64 % pool;
        // Linear probing after a collision keeps this terminating however small the pool.
        while chosen.contains(&(1_000 + idx)) {
            idx = (idx + 1) % pool;
        }
        chosen.push(1_000 + idx);
    }
    chosen
}

fn credits(cfg: &FakeTmdbConfig, id: u64) -> Value {
    let mut r = rng(cfg.seed, id, "credits");
    let people = draw_people(cfg, &mut r, cfg.cast_per_movie + cfg.crew_per_movie);
    let (cast_ids, crew_ids) = people.split_at(cfg.cast_per_movie);
    let cast: Vec<Value> = cast_ids
        .iter()
        .enumerate()
        .map(|(order, pid)| {
            let p = person(cfg.seed, *pid);
            let first = if r.bool() { *pick(&mut r, &FEMALE_FIRST) } else { *pick(&mut r, &MALE_FIRST) };
            let character = format!("{}{} {}", pick(&mut r, &CHARACTER_PREFIXES), first, pick(&mut r, &LAST_NAMES));
            json!({
                "id": p.id,
                "name": p.name,
                "character": character,
                "order": order,
                "profile_path": p.profile_path,
                "gender": p.gender,
                "known_for_department": p.known_for_department,
                "popularity": p.popularity,
                "credit_id": hex24(&mut r),
            })
        })
        .collect();
    let crew: Vec<Value> = crew_ids
        .iter()
        .enumerate()
        .map(|(i, pid)| {
            let p = person(cfg.seed, *pid);
            // Every movie with a crew has exactly one director, listed first.
            let (job, department) =
                if i == 0 { ("Director", "Directing") } else { CREW_JOBS[(i - 1) % CREW_JOBS.len()] };
            json!({
                "id": p.id,
                "name": p.name,
                "job": job,
                "department": department,
                "profile_path": p.profile_path,
                "credit_id": hex24(&mut r),
            })
        })
        .collect();
    json!({ "cast": cast, "crew": crew })
}

// ---------------------------------------------------------------------------------------------
// Other parts
// ---------------------------------------------------------------------------------------------

fn videos(cfg: &FakeTmdbConfig, id: u64) -> Value {
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

fn similar(cfg: &FakeTmdbConfig, id: u64, patches: &Patches) -> Value {
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

fn release_dates(cfg: &FakeTmdbConfig, id: u64) -> Value {
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

fn images(cfg: &FakeTmdbConfig, id: u64) -> Value {
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

fn keywords(cfg: &FakeTmdbConfig, id: u64) -> Value {
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

fn watch_providers(cfg: &FakeTmdbConfig, id: u64) -> Value {
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

// ---------------------------------------------------------------------------------------------
// Catalog-wide orderings
// ---------------------------------------------------------------------------------------------

/// Orderings over the whole catalog, computed once when the server starts. They come from the
/// unpatched data: a patch changes what a list shows, not where a movie sits in it.
pub(crate) struct Catalog {
    pub popular: Vec<u64>,
    pub now_playing: Vec<u64>,
    pub now_playing_dates: (NaiveDate, NaiveDate),
    pub trending_day: Vec<u64>,
    pub trending_week: Vec<u64>,
}

/// Movies released this many days before the reference date, or fewer, are "now playing".
const NOW_PLAYING_DAYS: u64 = 40;

impl Catalog {
    pub(crate) fn build(cfg: &FakeTmdbConfig) -> Catalog {
        let cores: Vec<Core> = (1..=u64::from(cfg.catalog_size)).map(|id| core(cfg, id)).collect();
        let ranked = |score: &dyn Fn(&Core) -> f64, keep: &dyn Fn(&Core) -> bool| {
            let mut v: Vec<(f64, u64)> = cores.iter().filter(|c| keep(c)).map(|c| (score(c), c.id)).collect();
            v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            v.into_iter().map(|(_, id)| id).collect::<Vec<u64>>()
        };
        let today = cfg.reference_date;
        let earliest = days_before(today, NOW_PLAYING_DAYS);
        let age = |c: &Core| c.release.map_or(i64::MAX, |d| (today - d).num_days());
        // Trending is popularity weighted by a seeded per-window factor and boosted for recent
        // releases: related to popular, but a clearly different order.
        let trending = |salt: &'static str, recent_days: i64| {
            move |c: &Core| {
                let factor = 0.25 + 1.75 * rng(cfg.seed, c.id, salt).f64();
                let boost = if (0..=recent_days).contains(&age(c)) { 3.0 } else { 1.0 };
                c.popularity * factor * boost
            }
        };
        Catalog {
            popular: ranked(&|c| c.popularity, &|_| true),
            now_playing: ranked(&|c| c.popularity, &|c| c.release.is_some_and(|d| d >= earliest && d <= today)),
            now_playing_dates: (earliest, today),
            trending_day: ranked(&trending("trending/day", 7), &|_| true),
            trending_week: ranked(&trending("trending/week", 30), &|_| true),
        }
    }
}

/// Catalog ids that changed on `day`: a deterministic ~2% of the catalog per day.
pub(crate) fn changed_on(cfg: &FakeTmdbConfig, day: NaiveDate) -> impl Iterator<Item = u64> + '_ {
    let day_key = splitmix(cfg.seed ^ 0x6368_616e_6765 ^ (i64::from(day.num_days_from_ce()) as u64));
    (1..=u64::from(cfg.catalog_size)).filter(move |id| splitmix(day_key ^ id).is_multiple_of(50))
}

/// Catalog ids changed on any day of `[start, end]`, in id order.
pub(crate) fn changed_between(cfg: &FakeTmdbConfig, start: NaiveDate, end: NaiveDate) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    let mut day = start;
    while day <= end {
        out.extend(changed_on(cfg, day));
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

/// The `/configuration` answer: TMDB's real image base URLs and size lists.
pub(crate) fn configuration() -> Value {
    json!({
        "images": {
            "base_url": "http://image.tmdb.org/t/p/",
            "secure_base_url": "https://image.tmdb.org/t/p/",
            "backdrop_sizes": ["w300", "w780", "w1280", "original"],
            "logo_sizes": ["w45", "w92", "w154", "w185", "w300", "w500", "original"],
            "poster_sizes": ["w92", "w154", "w185", "w342", "w500", "w780", "original"],
            "profile_sizes": ["w45", "w185", "h632", "original"],
            "still_sizes": ["w92", "w185", "w300", "original"],
        },
        "change_keys": [
            "adult", "air_date", "also_known_as", "alternative_titles", "biography", "birthday",
            "budget", "cast", "certifications", "character_names", "created_by", "crew",
            "deathday", "episode", "episode_number", "episode_run_time", "freebase_id",
            "freebase_mid", "general", "genres", "guest_stars", "homepage", "images", "imdb_id",
            "languages", "name", "network", "origin_country", "original_name", "original_title",
            "overview", "parts", "place_of_birth", "plot_keywords", "production_code",
            "production_companies", "production_countries", "releases", "revenue", "runtime",
            "season", "season_number", "season_regular", "spoken_languages", "status", "tagline",
            "title", "translations", "tvdb_id", "tvrage_id", "type", "video", "videos",
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> FakeTmdbConfig {
        FakeTmdbConfig { reference_date: NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(), ..FakeTmdbConfig::default() }
    }

    #[test]
    fn same_seed_same_bytes_different_seed_different_data() {
        let a = cfg();
        let all: Vec<&str> = PARTS.to_vec();
        let one = serde_json::to_vec(&details(&a, 77, &all, &Patches::new())).unwrap();
        let two = serde_json::to_vec(&details(&a, 77, &all, &Patches::new())).unwrap();
        assert_eq!(one, two);
        let b = FakeTmdbConfig { seed: 43, ..cfg() };
        let other = serde_json::to_vec(&details(&b, 77, &all, &Patches::new())).unwrap();
        assert_ne!(one, other);
    }

    #[test]
    fn titles_are_unique_and_title_like() {
        for seed in [0, 42, 7_777] {
            let mut seen = std::collections::HashSet::new();
            for id in 1..=40_000 {
                let t = title(seed, id);
                assert!(t.chars().next().unwrap().is_ascii_uppercase(), "{t}");
                assert!(seen.insert(t.clone()), "duplicate title {t} for id {id}");
            }
        }
    }

    #[test]
    fn details_have_contract_fields() {
        let c = cfg();
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

    #[test]
    fn credits_respect_config_and_people_recur() {
        let c = FakeTmdbConfig { cast_per_movie: 7, crew_per_movie: 3, ..cfg() };
        let credits = part(&c, 5, "credits", &Patches::new()).unwrap();
        assert_eq!(credits["cast"].as_array().unwrap().len(), 7);
        assert_eq!(credits["crew"].as_array().unwrap().len(), 3);
        assert_eq!(credits["crew"][0]["job"], "Director");
        let mut counts = HashMap::<u64, u32>::new();
        for id in 1..=300 {
            for p in part(&c, id, "credits", &Patches::new()).unwrap()["cast"].as_array().unwrap() {
                *counts.entry(p["id"].as_u64().unwrap()).or_default() += 1;
            }
        }
        assert!(counts.values().any(|&n| n >= 3), "nobody appears in several movies");
    }

    #[test]
    fn orderings_are_sane() {
        let c = cfg();
        let cat = Catalog::build(&c);
        assert_eq!(cat.popular.len(), 10_000);
        let pop = |id: u64| core(&c, id).popularity;
        assert!(cat.popular.windows(2).all(|w| pop(w[0]) >= pop(w[1])));
        assert!(cat.now_playing.len() > 20, "now_playing too short: {}", cat.now_playing.len());
        assert_ne!(cat.popular[..20], cat.trending_day[..20]);
        assert_ne!(cat.trending_day[..20], cat.trending_week[..20]);
        let changed = changed_between(&c, c.reference_date, c.reference_date);
        assert!((100..=300).contains(&changed.len()), "{} changed in a day", changed.len());
    }
}
