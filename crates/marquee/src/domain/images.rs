//! Image URLs: `secure_base_url` + size + `file_path`, in the old schema's small / medium /
//! large / original sizes. Sizes come from TMDB's `/configuration` (cached); a size TMDB no
//! longer lists falls back to `original`.

use serde::{Deserialize, Serialize};

use crate::tmdb::types::ImageConfiguration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageUrls {
    pub small: String,
    pub medium: String,
    pub large: String,
    pub original: String,
}

pub struct ImageBase<'a>(pub &'a ImageConfiguration);

impl ImageBase<'_> {
    fn url(&self, available: &[String], size: &str, path: &str) -> String {
        let size = if available.iter().any(|s| s == size) { size } else { "original" };
        format!("{}{}{}", self.0.secure_base_url, size, path)
    }

    pub fn poster(&self, path: &str) -> ImageUrls {
        let s = &self.0.poster_sizes;
        ImageUrls {
            small: self.url(s, "w185", path),
            medium: self.url(s, "w342", path),
            large: self.url(s, "w500", path),
            original: self.url(s, "original", path),
        }
    }

    pub fn profile(&self, path: &str) -> ImageUrls {
        let s = &self.0.profile_sizes;
        ImageUrls {
            small: self.url(s, "w45", path),
            medium: self.url(s, "w185", path),
            large: self.url(s, "h632", path),
            original: self.url(s, "original", path),
        }
    }

    /// (desktop, mobile) backdrop URLs.
    pub fn backdrop(&self, path: &str) -> (String, String) {
        let s = &self.0.backdrop_sizes;
        (self.url(s, "w780", path), self.url(s, "w300", path))
    }

    pub fn still(&self, path: &str) -> String {
        self.url(&self.0.backdrop_sizes, "w1280", path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_configuration_and_fall_back_to_original() {
        let config = ImageConfiguration {
            secure_base_url: "https://image.tmdb.org/t/p/".into(),
            poster_sizes: ["w92", "w185", "w342", "original"].map(String::from).to_vec(),
            backdrop_sizes: vec![],
            profile_sizes: vec![],
        };
        let urls = ImageBase(&config).poster("/p.jpg");
        assert_eq!(urls.small, "https://image.tmdb.org/t/p/w185/p.jpg");
        assert_eq!(urls.medium, "https://image.tmdb.org/t/p/w342/p.jpg");
        assert_eq!(urls.large, "https://image.tmdb.org/t/p/original/p.jpg");
    }
}
