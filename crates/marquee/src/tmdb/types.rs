//! TMDB response shapes (see `docs/tmdb-contract.md`). Lenient on purpose: optional and missing
//! fields default, because TMDB omits or nulls fields freely.

use serde::{Deserialize, Serialize};

/// The parts `ingest-movie` appends to one details request (one request per movie).
pub const APPENDED_PARTS: &str = "credits,videos,similar,release_dates,images,keywords,watch/providers";

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MovieDetails {
    pub id: i64,
    pub imdb_id: Option<String>,
    pub title: Option<String>,
    pub original_title: Option<String>,
    pub original_language: Option<String>,
    pub overview: Option<String>,
    pub tagline: Option<String>,
    pub status: Option<String>,
    pub release_date: Option<String>,
    pub runtime: Option<i32>,
    pub budget: Option<i64>,
    pub revenue: Option<i64>,
    pub popularity: Option<f64>,
    pub vote_average: Option<f64>,
    pub vote_count: Option<i64>,
    pub poster_path: Option<String>,
    pub backdrop_path: Option<String>,
    pub homepage: Option<String>,
    pub adult: bool,
    pub genres: Vec<Named>,
    pub production_companies: Vec<Company>,
    pub production_countries: Vec<Country>,
    pub spoken_languages: Vec<SpokenLanguage>,
    pub belongs_to_collection: Option<Collection>,
    pub credits: Credits,
    pub videos: Results<Video>,
    pub similar: Results<MovieSummary>,
    pub release_dates: Results<CountryReleases>,
    pub images: Images,
    pub keywords: Keywords,
    #[serde(rename = "watch/providers")]
    pub watch_providers: WatchProviders,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Company {
    pub id: i64,
    pub name: String,
    pub logo_path: Option<String>,
    pub origin_country: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Country {
    pub iso_3166_1: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SpokenLanguage {
    pub iso_639_1: String,
    pub english_name: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Collection {
    pub id: i64,
    pub name: String,
    pub poster_path: Option<String>,
    pub backdrop_path: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Credits {
    pub cast: Vec<CastMember>,
    pub crew: Vec<CrewMember>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CastMember {
    pub id: i64,
    pub name: String,
    pub character: Option<String>,
    pub order: Option<i32>,
    pub profile_path: Option<String>,
    pub gender: Option<i32>,
    pub known_for_department: Option<String>,
    pub popularity: Option<f64>,
    pub credit_id: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CrewMember {
    pub id: i64,
    pub name: String,
    pub job: Option<String>,
    pub department: Option<String>,
    pub profile_path: Option<String>,
    pub gender: Option<i32>,
    pub known_for_department: Option<String>,
    pub popularity: Option<f64>,
    pub credit_id: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Results<T> {
    pub results: Vec<T>,
}

impl<T> Default for Results<T> {
    fn default() -> Self {
        Self { results: Vec::new() }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Video {
    pub id: Option<String>,
    pub key: String,
    pub site: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub official: Option<bool>,
    pub published_at: Option<String>,
    pub size: Option<i32>,
    pub iso_639_1: Option<String>,
    pub iso_3166_1: Option<String>,
}

/// A list entry (popular, now playing, trending, similar).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MovieSummary {
    pub id: i64,
    pub title: Option<String>,
    pub original_title: Option<String>,
    pub release_date: Option<String>,
    pub popularity: Option<f64>,
    pub vote_average: Option<f64>,
    pub vote_count: Option<i64>,
    pub poster_path: Option<String>,
    pub adult: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CountryReleases {
    pub iso_3166_1: String,
    pub release_dates: Vec<ReleaseDate>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ReleaseDate {
    pub certification: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<i32>,
    pub release_date: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Images {
    pub backdrops: Vec<Image>,
    pub posters: Vec<Image>,
    pub logos: Vec<Image>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Image {
    pub file_path: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub aspect_ratio: Option<f64>,
    pub iso_639_1: Option<String>,
    pub vote_average: Option<f64>,
    pub vote_count: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Keywords {
    pub keywords: Vec<Named>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct WatchProviders {
    pub results: std::collections::BTreeMap<String, CountryProviders>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CountryProviders {
    pub link: Option<String>,
    pub flatrate: Vec<Provider>,
    pub rent: Vec<Provider>,
    pub buy: Vec<Provider>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Provider {
    pub provider_id: i64,
    pub provider_name: String,
    pub logo_path: Option<String>,
    pub display_priority: Option<i32>,
}

/// The lists scheduled ingest reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovieList {
    Popular,
    NowPlaying,
    TrendingWeek,
}

impl MovieList {
    pub fn endpoint(self) -> &'static str {
        match self {
            MovieList::Popular => "/movie/popular",
            MovieList::NowPlaying => "/movie/now_playing",
            MovieList::TrendingWeek => "/trending/movie/week",
        }
    }

    /// The name callers use (`source` of scheduled-ingest).
    pub fn name(self) -> &'static str {
        match self {
            MovieList::Popular => "popular",
            MovieList::NowPlaying => "now_playing",
            MovieList::TrendingWeek => "trending",
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ListPage {
    pub page: u32,
    pub results: Vec<MovieSummary>,
    pub total_pages: u32,
    pub total_results: u64,
}

/// One page of `/movie/changes`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ChangesPage {
    pub page: u32,
    pub results: Vec<ChangedMovie>,
    pub total_pages: u32,
    pub total_results: u64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ChangedMovie {
    pub id: i64,
    pub adult: Option<bool>,
}

/// `GET /configuration`: only the image part is used.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TmdbConfiguration {
    pub images: ImageConfiguration,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ImageConfiguration {
    pub secure_base_url: String,
    pub poster_sizes: Vec<String>,
    pub backdrop_sizes: Vec<String>,
    pub profile_sizes: Vec<String>,
}

/// TMDB's error body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TmdbErrorBody {
    pub status_code: i64,
    pub status_message: String,
}
