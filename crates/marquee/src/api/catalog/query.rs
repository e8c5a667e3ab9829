//! The catalog API's query strings, decoded and checked: every rule answers 400 with a message
//! that names the parameter. Unknown and repeated parameters are refused too, so a typo
//! (`?sotr=title`) is an error instead of a silently different answer.

use std::collections::BTreeMap;

use crate::db::browse::{Browse, Filters, Order, Sort};
use crate::db::search::MAX_QUERY_CHARS;
use crate::error::{Error, Result};

/// The parameters of `GET /api/works`.
pub const BROWSE: &[&str] = &[
    "genre",
    "year",
    "year_from",
    "year_to",
    "person",
    "company",
    "keyword",
    "language",
    "min_votes",
    "sort",
    "order",
    "limit",
    "cursor",
];
/// The parameters of `GET /api/search`.
pub const SEARCH: &[&str] = &["q", "limit"];
/// The parameters of the admin routes that list keys and usage.
pub const CUSTOMER: &[&str] = &["customer"];

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
pub const MIN_YEAR: i64 = 1870;
pub const MAX_YEAR: i64 = 2100;

fn bad(message: String) -> Error {
    Error::BadRequest(message)
}

/// A query string's parameters, percent-decoded, each given at most once and each one of
/// `allowed`.
pub fn parameters(raw: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if !allowed.contains(&name.as_ref()) {
            let name: String = name.chars().take(40).collect();
            return Err(bad(if allowed.is_empty() {
                format!("this route takes no query parameters, got `{name}`")
            } else {
                format!("unknown parameter `{name}`; this route takes {}", allowed.join(", "))
            }));
        }
        if out.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(bad(format!("`{name}` is given twice")));
        }
    }
    Ok(out)
}

/// An integer parameter within `min..=max` (ASCII digits, an optional minus sign).
fn int(params: &BTreeMap<String, String>, name: &str, min: i64, max: i64) -> Result<Option<i64>> {
    let Some(raw) = params.get(name) else { return Ok(None) };
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let parsed = if !digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit()) {
        raw.parse::<i64>().ok()
    } else {
        None
    };
    match parsed {
        Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
        _ => Err(bad(format!("`{name}` must be an integer from {min} to {max}"))),
    }
}

/// A TMDB id parameter (genre, person, company, keyword).
fn id(params: &BTreeMap<String, String>, name: &str) -> Result<Option<i64>> {
    int(params, name, 1, i32::MAX as i64)
}

pub fn limit(params: &BTreeMap<String, String>) -> Result<i64> {
    Ok(int(params, "limit", 1, MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT))
}

/// `GET /api/works`: everything but the cursor, which needs the signing key
/// ([`super::cursor::decode`]).
pub fn browse(params: &BTreeMap<String, String>) -> Result<Browse> {
    let sort = match params.get("sort") {
        None => Sort::Popularity,
        Some(s) => Sort::ALL.iter().find(|(name, _)| name == s).map(|(_, sort)| *sort).ok_or_else(|| {
            let names: Vec<&str> = Sort::ALL.iter().map(|(n, _)| *n).collect();
            bad(format!("`sort` must be one of {}, got {:?}", names.join(", "), s.chars().take(40).collect::<String>()))
        })?,
    };
    let order = match params.get("order").map(String::as_str) {
        None => sort.default_order(),
        Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        Some(other) => {
            return Err(bad(format!(
                "`order` must be asc or desc, got {:?}",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    let year = int(params, "year", MIN_YEAR, MAX_YEAR)?;
    let (year_from, year_to) =
        (int(params, "year_from", MIN_YEAR, MAX_YEAR)?, int(params, "year_to", MIN_YEAR, MAX_YEAR)?);
    if year.is_some() && (year_from.is_some() || year_to.is_some()) {
        return Err(bad("give `year`, or `year_from` and/or `year_to`, not both".into()));
    }
    if let (Some(from), Some(to)) = (year_from, year_to)
        && from > to
    {
        return Err(bad(format!("`year_from` ({from}) is after `year_to` ({to})")));
    }
    let language = match params.get("language") {
        None => None,
        Some(l) if l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()) => Some(l.clone()),
        Some(l) => {
            return Err(bad(format!(
                "`language` must be an ISO 639-1 code like \"en\", got {:?}",
                l.chars().take(40).collect::<String>()
            )));
        }
    };
    Ok(Browse {
        sort,
        order,
        filters: Filters {
            genre: id(params, "genre")?,
            person: id(params, "person")?,
            company: id(params, "company")?,
            keyword: id(params, "keyword")?,
            language,
            year_from: year.or(year_from),
            year_to: year.or(year_to),
            min_votes: int(params, "min_votes", 0, 1_000_000_000)?,
        },
        limit: limit(params)?,
        after: None,
    })
}

/// `GET /api/search`: the query (trimmed, 1 to 200 characters) and the limit.
pub fn search(params: &BTreeMap<String, String>) -> Result<(String, i64)> {
    let q = params.get("q").map(|q| q.trim()).unwrap_or("");
    if q.is_empty() {
        return Err(bad("`q` is required: the title to search for".into()));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(bad(format!("`q` must be at most {MAX_QUERY_CHARS} characters")));
    }
    if q.chars().any(char::is_control) {
        return Err(bad("`q` must not contain control characters".into()));
    }
    Ok((q.to_owned(), limit(params)?))
}

/// A numeric path parameter (`:person_id`, `:key_id`): a positive integer.
pub fn path_id(value: Option<&str>, name: &str) -> Result<i64> {
    value
        .filter(|v| !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v >= 1)
        .ok_or_else(|| bad(format!("`{name}` must be a positive integer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn browse_of(q: &str) -> Result<Browse> {
        browse(&parameters(Some(q), BROWSE)?)
    }

    #[test]
    fn defaults_are_popularity_descending_twenty() {
        let b = browse_of("").unwrap();
        assert_eq!((b.sort, b.order, b.limit), (Sort::Popularity, Order::Desc, 20));
        assert_eq!(browse_of("sort=title").unwrap().order, Order::Asc);
    }

    #[test]
    fn filters_are_read() {
        let b =
            browse_of("genre=18&year=1999&language=fr&min_votes=10&person=3&company=4&keyword=5&limit=100").unwrap();
        assert_eq!(
            b.filters,
            Filters {
                genre: Some(18),
                person: Some(3),
                company: Some(4),
                keyword: Some(5),
                language: Some("fr".into()),
                year_from: Some(1999),
                year_to: Some(1999),
                min_votes: Some(10),
            }
        );
        assert_eq!(b.limit, 100);
    }

    #[test]
    fn bad_parameters_are_refused() {
        for q in [
            "sort=rating",
            "order=up",
            "limit=0",
            "limit=1000",
            "limit=abc",
            "limit=1.5",
            "genre=abc",
            "genre=0",
            "genre=-3",
            "person=99999999999",
            "year=1800",
            "year=2000&year_from=1990",
            "year_from=2001&year_to=2000",
            "language=english",
            "language=EN",
            "min_votes=-1",
            "sotr=title",
            "sort=title&sort=score",
            "limit=+5",
        ] {
            assert!(matches!(browse_of(q), Err(Error::BadRequest(_))), "{q}");
        }
    }

    #[test]
    fn search_needs_a_query() {
        let p = |q: &str| search(&parameters(Some(q), SEARCH).unwrap());
        assert_eq!(p("q=am%C3%A9lie").unwrap(), ("amélie".to_owned(), 20));
        assert_eq!(p("q=+godfathr+&limit=5").unwrap(), ("godfathr".to_owned(), 5));
        for q in ["", "q=", "q=%20", "limit=5", &format!("q={}", "a".repeat(201)), "q=a%00b"] {
            assert!(matches!(p(q), Err(Error::BadRequest(_))), "{q}");
        }
    }

    #[test]
    fn routes_without_parameters_refuse_any() {
        assert!(matches!(parameters(Some("x=1"), &[]), Err(Error::BadRequest(m)) if m.contains("no query")));
        assert!(parameters(Some(""), &[]).unwrap().is_empty());
        assert!(parameters(None, &[]).unwrap().is_empty());
    }

    #[test]
    fn path_ids_are_positive_integers() {
        assert_eq!(path_id(Some("287"), "person_id").unwrap(), 287);
        for bad in [None, Some(""), Some("0"), Some("-1"), Some("1e3"), Some("99999999999999999999"), Some("x")] {
            assert!(path_id(bad, "person_id").is_err(), "{bad:?}");
        }
    }
}
