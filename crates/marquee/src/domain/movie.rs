//! Normalising one TMDB details response into what Marquee stores: the hot `works` columns,
//! the `works_meta` columns, the normalized facts (as JSON arrays, so each table is written by
//! one set-based statement), and the fields tracked by the change log.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Value as Json, json};

use super::images::ImageBase;
use super::states::ReleaseStatus;
use crate::tmdb::types::{ImageConfiguration, MovieDetails};

/// Why a movie is not admitted to the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Adult,
    MissingTitle,
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::Adult => "adult",
            Rejection::MissingTitle => "missing_title",
        }
    }
}

/// Everything written for one movie, derived from its TMDB response alone.
#[derive(Debug, Clone)]
pub struct MovieRecord {
    pub tmdb_id: i64,
    pub imdb_id: Option<String>,
    pub title: String,
    pub original_title: Option<String>,
    pub year: Option<i32>,
    pub release_date: Option<NaiveDate>,
    /// TMDB's status (`None` when absent or a word Marquee does not know); with the date, it
    /// decides the refresh tier.
    pub release_status: Option<ReleaseStatus>,
    pub popularity: Option<f64>,
    pub vote_average: Option<f64>,
    pub vote_count: i64,
    /// `works_meta` columns, as one JSON object (written with `jsonb_populate_record`).
    pub meta: Json,
    /// Normalized fact rows per table, each a JSON array of objects.
    pub facts: Facts,
    /// Field → value, compared between refreshes for the change log.
    pub tracked: BTreeMap<&'static str, Json>,
}

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub people: Json,
    pub credits: Json,
    pub genres: Json,
    pub keywords: Json,
    pub companies: Json,
    pub collection: Json,
    pub release_dates: Json,
    pub videos: Json,
    pub images: Json,
    pub providers: Json,
    pub provider_offers: Json,
    pub similar: Json,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Years PostgreSQL and ISO-8601 texts agree on (PostgreSQL has no year 0; five-digit years
/// print differently): a date outside them is no date.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

fn parse_date(s: &Option<String>) -> Option<NaiveDate> {
    non_empty(s)
        .and_then(|d| NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok())
        .filter(|d| YEARS.contains(&chrono::Datelike::year(d)))
}

/// A video's `published_at` (`2024-05-01T17:00:05.000Z`) as `timestamp` text to the second;
/// `None` when it is not such a time (TMDB's texts are; anything else must not fail the write).
fn published_at(text: Option<&str>) -> Option<String> {
    let text = text?.get(..19)?;
    let at = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())?;
    YEARS.contains(&chrono::Datelike::year(&at)).then(|| at.format("%Y-%m-%d %H:%M:%S").to_string())
}

pub fn runtime_display(minutes: i32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// The overview cut at a word boundary to at most `max` characters, with an ellipsis.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let at_word = cut.rfind(' ').map_or(cut.as_str(), |i| &cut[..i]);
    format!("{}…", at_word.trim_end_matches([',', '.', ';', ':']))
}

/// The US certification: theatrical (type 3) first, then any release that has one.
fn us_certification(details: &MovieDetails) -> Option<String> {
    let us = details.release_dates.results.iter().find(|c| c.iso_3166_1 == "US")?;
    let mut dates: Vec<_> = us.release_dates.iter().filter(|r| non_empty(&r.certification).is_some()).collect();
    dates.sort_by_key(|r| if r.kind == Some(3) { 0 } else { 1 });
    dates.first().and_then(|r| non_empty(&r.certification)).map(str::to_owned)
}

pub fn check(details: &MovieDetails) -> Result<(), Rejection> {
    if details.adult {
        return Err(Rejection::Adult);
    }
    if non_empty(&details.title).is_none() {
        return Err(Rejection::MissingTitle);
    }
    Ok(())
}

pub fn normalize(details: &MovieDetails, images: &ImageConfiguration) -> Result<MovieRecord, Rejection> {
    check(details)?;
    let base = ImageBase(images);
    let d = details;
    let release_date = parse_date(&d.release_date);
    let certification = us_certification(d);
    let poster = non_empty(&d.poster_path).map(|p| base.poster(p));
    let backdrop = non_empty(&d.backdrop_path).map(|p| base.backdrop(p));
    let overview = non_empty(&d.overview).map(str::to_owned);

    let cast: Vec<Json> = d.credits.cast.iter().map(|c| {
        let photo = non_empty(&c.profile_path).map(|p| base.profile(p));
        json!({"person_id": c.id, "name": c.name, "character": non_empty(&c.character), "order": c.order, "gender": c.gender,
               "photo_url_small": photo.as_ref().map(|u| &u.small), "photo_url_medium": photo.as_ref().map(|u| &u.medium),
               "photo_url_large": photo.as_ref().map(|u| &u.large)})
    }).collect();
    let crew: Vec<Json> = d.credits.crew.iter().map(|c| {
        let photo = non_empty(&c.profile_path).map(|p| base.profile(p));
        json!({"person_id": c.id, "name": c.name, "job": c.job, "department": c.department,
               "photo_url_small": photo.as_ref().map(|u| &u.small), "photo_url_medium": photo.as_ref().map(|u| &u.medium)})
    }).collect();
    let trailers: Vec<Json> = d
        .videos
        .results
        .iter()
        .filter(|v| v.site == "YouTube" && matches!(v.kind.as_deref(), Some("Trailer" | "Teaser")))
        .map(|v| {
            json!({"key": v.key, "name": v.name, "type": v.kind, "official": v.official, "published_at": v.published_at,
                        "url": format!("https://www.youtube.com/watch?v={}", v.key),
                        "thumbnail_url": format!("https://img.youtube.com/vi/{}/hqdefault.jpg", v.key)})
        })
        .collect();
    let stills: Vec<Json> = d.images.backdrops.iter().take(10).map(|i| json!(base.still(&i.file_path))).collect();
    let streaming: serde_json::Map<String, Json> = d.watch_providers.results.iter().map(|(country, offers)| {
        let list = |ps: &[crate::tmdb::types::Provider]| ps.iter().map(|p| json!({"provider_id": p.provider_id, "name": p.provider_name,
            "logo_url": p.logo_path.as_deref().map(|l| format!("{}original{}", images.secure_base_url, l)), "display_priority": p.display_priority})).collect::<Vec<_>>();
        (country.clone(), json!({"link": offers.link, "flatrate": list(&offers.flatrate), "rent": list(&offers.rent), "buy": list(&offers.buy)}))
    }).collect();
    let genres: Vec<String> = d.genres.iter().map(|g| g.name.clone()).collect();
    let keywords: Vec<String> = d.keywords.keywords.iter().map(|k| k.name.clone()).collect();
    let companies: Vec<Json> = d
        .production_companies
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name, "logo_path": c.logo_path, "origin_country": c.origin_country}))
        .collect();
    let collection = d.belongs_to_collection.as_ref();

    let meta = json!({
        "runtime_minutes": d.runtime.filter(|r| *r > 0),
        "runtime_display": d.runtime.filter(|r| *r > 0).map(runtime_display),
        "tagline": non_empty(&d.tagline),
        "overview": overview,
        "overview_short": overview.as_deref().map(|o| shorten(o, 160)),
        "genres": genres,
        "certification": certification,
        "poster_url_small": poster.as_ref().map(|u| &u.small),
        "poster_url_medium": poster.as_ref().map(|u| &u.medium),
        "poster_url_large": poster.as_ref().map(|u| &u.large),
        "poster_url_original": poster.as_ref().map(|u| &u.original),
        "backdrop_url": backdrop.as_ref().map(|b| &b.0),
        "backdrop_url_mobile": backdrop.as_ref().map(|b| &b.1),
        "cast_members": cast,
        "crew_members": crew,
        "trailers": trailers,
        "still_images": stills,
        "streaming": streaming,
        "keywords": keywords,
        "production_companies": companies,
        "production_countries": d.production_countries.iter().map(|c| c.iso_3166_1.clone()).collect::<Vec<_>>(),
        "spoken_languages": d.spoken_languages.iter().map(|l| l.iso_639_1.clone()).collect::<Vec<_>>(),
        "budget": d.budget.filter(|b| *b > 0),
        "revenue_worldwide": d.revenue.filter(|r| *r > 0),
        "original_language": d.original_language,
        "release_status": d.status,
        "homepage": non_empty(&d.homepage),
        "collection_id": collection.map(|c| c.id),
    });

    let mut people: BTreeMap<i64, Json> = BTreeMap::new();
    for c in &d.credits.cast {
        people.insert(c.id, json!({"person_id": c.id, "name": c.name, "profile_path": c.profile_path, "gender": c.gender, "known_for_department": c.known_for_department, "popularity": c.popularity}));
    }
    for c in &d.credits.crew {
        people.entry(c.id).or_insert_with(|| json!({"person_id": c.id, "name": c.name, "profile_path": c.profile_path, "gender": c.gender, "known_for_department": c.known_for_department, "popularity": c.popularity}));
    }
    let mut credits: Vec<Json> = d.credits.cast.iter().map(|c| json!({"credit_id": c.credit_id, "person_id": c.id, "credit_type": "cast", "character": non_empty(&c.character), "job": null, "department": "Acting", "ord": c.order})).collect();
    credits.extend(d.credits.crew.iter().enumerate().map(|(i, c)| json!({"credit_id": c.credit_id, "person_id": c.id, "credit_type": "crew", "character": null, "job": c.job, "department": c.department, "ord": i})));
    dedup_by(&mut credits, &["credit_id"]);

    let mut release_dates = Vec::new();
    for country in &d.release_dates.results {
        for r in &country.release_dates {
            release_dates.push(json!({"country": country.iso_3166_1, "release_type": r.kind, "release_date": parse_date(&r.release_date),
                                      "certification": non_empty(&r.certification), "note": non_empty(&r.note)}));
        }
    }
    let mut videos: Vec<Json> = d
        .videos
        .results
        .iter()
        .map(|v| {
            json!({"site": v.site, "video_key": v.key, "video_type": v.kind, "name": v.name,
        "official": v.official, "published_at": published_at(v.published_at.as_deref()),
        "size": v.size, "language": v.iso_639_1, "country": v.iso_3166_1})
        })
        .collect();
    dedup_by(&mut videos, &["video_key"]);
    let mut images_rows = Vec::new();
    for (kind, list) in [("backdrop", &d.images.backdrops), ("poster", &d.images.posters), ("logo", &d.images.logos)] {
        for i in list {
            images_rows.push(json!({"kind": kind, "file_path": i.file_path, "width": i.width, "height": i.height, "aspect_ratio": i.aspect_ratio,
                                     "language": i.iso_639_1, "vote_average": i.vote_average, "vote_count": i.vote_count}));
        }
    }
    dedup_by(&mut images_rows, &["kind", "file_path"]);
    let mut providers: BTreeMap<i64, Json> = BTreeMap::new();
    let mut offers = Vec::new();
    for (country, o) in &d.watch_providers.results {
        for (offer_type, list) in [("flatrate", &o.flatrate), ("rent", &o.rent), ("buy", &o.buy)] {
            for p in list {
                providers.insert(
                    p.provider_id,
                    json!({"provider_id": p.provider_id, "name": p.provider_name, "logo_path": p.logo_path}),
                );
                offers.push(json!({"country": country, "offer_type": offer_type, "provider_id": p.provider_id, "display_priority": p.display_priority, "link": o.link}));
            }
        }
    }
    let mut similar_seen = std::collections::HashSet::new();
    dedup_by(&mut offers, &["country", "offer_type", "provider_id"]);
    let similar: Vec<Json> = d
        .similar
        .results
        .iter()
        .filter(|s| s.id != d.id && similar_seen.insert(s.id))
        .take(10)
        .enumerate()
        .map(|(i, s)| json!({"similar_tmdb_id": s.id, "rank_order": i + 1, "title": s.title}))
        .collect();

    let mut genre_rows: Vec<Json> = d.genres.iter().map(|g| json!({"genre_id": g.id, "name": g.name})).collect();
    dedup_by(&mut genre_rows, &["genre_id"]);
    let mut keyword_rows: Vec<Json> =
        d.keywords.keywords.iter().map(|k| json!({"keyword_id": k.id, "name": k.name})).collect();
    dedup_by(&mut keyword_rows, &["keyword_id"]);
    let mut company_rows: Vec<Json> = d.production_companies.iter().enumerate().map(|(i, c)| json!({"company_id": c.id, "name": c.name, "logo_path": c.logo_path, "origin_country": c.origin_country, "ord": i})).collect();
    dedup_by(&mut company_rows, &["company_id"]);
    let facts = Facts {
        people: Json::Array(people.into_values().collect()),
        credits: Json::Array(credits),
        genres: Json::Array(genre_rows),
        keywords: Json::Array(keyword_rows),
        companies: Json::Array(company_rows),
        collection: Json::Array(collection.map(|c| json!({"collection_id": c.id, "name": c.name, "poster_path": c.poster_path, "backdrop_path": c.backdrop_path})).into_iter().collect()),
        release_dates: Json::Array(release_dates),
        videos: Json::Array(videos),
        images: Json::Array(images_rows),
        providers: Json::Array(providers.into_values().collect()),
        provider_offers: Json::Array(offers),
        similar: Json::Array(similar),
    };

    let title = non_empty(&d.title).unwrap_or_default().to_owned();
    let tracked = BTreeMap::from([
        ("title", json!(title)),
        ("original_title", json!(d.original_title)),
        ("imdb_id", json!(d.imdb_id)),
        ("release_date", json!(release_date)),
        ("runtime", json!(d.runtime)),
        ("overview", json!(overview)),
        ("tagline", json!(non_empty(&d.tagline))),
        ("status", json!(d.status)),
        ("budget", json!(d.budget)),
        ("revenue", json!(d.revenue)),
        ("genres", json!(meta["genres"])),
        ("certification", json!(meta["certification"])),
        ("poster_path", json!(d.poster_path)),
        ("backdrop_path", json!(d.backdrop_path)),
        ("collection", json!(collection.map(|c| &c.name))),
        ("homepage", json!(meta["homepage"])),
        ("original_language", json!(d.original_language)),
    ]);

    Ok(MovieRecord {
        tmdb_id: d.id,
        imdb_id: non_empty(&d.imdb_id).map(str::to_owned),
        title,
        original_title: d.original_title.clone(),
        year: release_date.map(|r| chrono::Datelike::year(&r)),
        release_date,
        release_status: d.status.as_deref().and_then(ReleaseStatus::parse),
        popularity: d.popularity,
        vote_average: d.vote_average,
        vote_count: d.vote_count.unwrap_or(0),
        meta,
        facts,
        tracked,
    })
}

/// Drops later rows whose `key` columns repeat (TMDB occasionally lists a credit, an image or a
/// provider twice): the facts are exactly the rows stored under the table's primary key, which
/// the audit compares them with.
fn dedup_by(rows: &mut Vec<Json>, key: &[&str]) {
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| seen.insert(key.iter().map(|k| r[*k].to_string()).collect::<Vec<_>>()));
}

/// Field-level differences, as the change log stores them: `{"field": [old, new]}`.
pub fn changes(
    old: &BTreeMap<&'static str, Json>,
    new: &BTreeMap<&'static str, Json>,
) -> serde_json::Map<String, Json> {
    new.iter()
        .filter_map(|(field, value)| {
            let before = old.get(field).cloned().unwrap_or(Json::Null);
            (before != *value).then(|| (field.to_string(), json!([before, value])))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_cuts_at_a_word() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("one two three four", 12), "one two…");
    }

    #[test]
    fn runtime_reads_like_the_old_system() {
        assert_eq!(runtime_display(139), "2h 19m");
        assert_eq!(runtime_display(45), "45m");
        assert_eq!(runtime_display(120), "2h");
    }

    #[test]
    fn adult_and_untitled_movies_are_rejected() {
        let mut d = MovieDetails { id: 1, title: Some("A".into()), ..Default::default() };
        assert!(check(&d).is_ok());
        d.adult = true;
        assert_eq!(check(&d), Err(Rejection::Adult));
        d.adult = false;
        d.title = Some("  ".into());
        assert_eq!(check(&d), Err(Rejection::MissingTitle));
    }

    #[test]
    fn dates_and_times_postgresql_cannot_read_are_none() {
        let date = |s: &str| parse_date(&Some(s.to_owned()));
        assert_eq!(date("1999-10-15"), NaiveDate::from_ymd_opt(1999, 10, 15));
        assert_eq!(date("0000-01-01"), None, "PostgreSQL has no year 0");
        assert_eq!(date("+10000-01-01"), None);
        assert_eq!(date("2024-02-30"), None);
        assert_eq!(published_at(Some("2024-05-01T17:00:05.000Z")).as_deref(), Some("2024-05-01 17:00:05"));
        assert_eq!(published_at(Some("2024-05-01 17:00:05")).as_deref(), Some("2024-05-01 17:00:05"));
        for bad in [
            "garbage-garbage-garbage",
            "2024-13-01T00:00:00",
            "0000-01-01T00:00:00",
            "2024-05-01",
            "é2024-05-01T17:00:05",
        ] {
            assert_eq!(published_at(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn changes_list_only_fields_that_differ() {
        let old = BTreeMap::from([("title", json!("Old")), ("runtime", json!(100))]);
        let new = BTreeMap::from([("title", json!("New")), ("runtime", json!(100))]);
        let diff = changes(&old, &new);
        assert_eq!(Json::Object(diff), json!({"title": ["Old", "New"]}));
    }
}
