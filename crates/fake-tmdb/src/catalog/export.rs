//! TMDB's daily id export of the synthetic catalog (`movie_ids_MM_DD_YYYY.json.gz` on TMDB's
//! file server): one JSON object a line, `{"adult":false,"id":3924,"original_title":"Blondie",
//! "popularity":2.9,"video":false}`, in id order, gzipped.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::core_facts::{core, is_adult};
use super::details::{Patches, patched_details};
use super::title::title;
use crate::FakeTmdbConfig;

/// One line of the export (without its line break): the same facts the movie's details give.
pub(crate) fn export_line(cfg: &FakeTmdbConfig, id: u64, patches: &Patches) -> String {
    let entry = if patches.contains_key(&id) {
        // A patched movie (rare): its details say what it looks like now.
        let d = patched_details(cfg, id, patches).unwrap_or_default();
        let field = |k: &str| d.get(k).cloned().unwrap_or(Value::Null);
        json!({"adult": field("adult"), "id": id, "original_title": field("original_title"),
               "popularity": field("popularity"), "video": field("video")})
    } else {
        json!({"adult": is_adult(cfg, id), "id": id, "original_title": title(cfg.seed, id),
               "popularity": core(cfg, id).popularity, "video": false})
    };
    entry.to_string()
}

/// Writes the gzipped export of every catalog movie for which `absent` is false (TMDB drops
/// deleted movies from its export) to `out`; returns the number of lines.
pub(crate) fn write_export(
    cfg: &FakeTmdbConfig,
    patches: &Patches,
    absent: &dyn Fn(u64) -> bool,
    out: impl Write,
) -> io::Result<u64> {
    let mut gz = flate2::write::GzEncoder::new(io::BufWriter::new(out), flate2::Compression::fast());
    let mut lines = 0;
    for id in (1..=u64::from(cfg.catalog_size)).filter(|id| !absent(*id)) {
        gz.write_all(export_line(cfg, id, patches).as_bytes())?;
        gz.write_all(b"\n")?;
        lines += 1;
    }
    gz.finish()?.flush()?;
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{details, test_config};

    #[test]
    fn lines_say_what_the_details_say() {
        let cfg = FakeTmdbConfig { adult_percent: 10, ..test_config() };
        let mut adult = 0;
        for id in 1..=300 {
            let line: Value = serde_json::from_str(&export_line(&cfg, id, &Patches::new())).unwrap();
            let d = details(&cfg, id, &[], &Patches::new()).unwrap();
            for key in ["adult", "id", "original_title", "popularity", "video"] {
                assert_eq!(line[key], d[key], "movie {id}: {key}");
            }
            adult += usize::from(line["adult"] == true);
        }
        assert!((10..=60).contains(&adult), "{adult} adult of 300 at 10 %");
        let mut patches = Patches::new();
        patches.insert(7, serde_json::Map::from_iter([("popularity".to_owned(), json!(99.5))]));
        let line: Value = serde_json::from_str(&export_line(&cfg, 7, &patches)).unwrap();
        assert_eq!(line["popularity"], 99.5);
    }

    #[test]
    fn the_export_is_gzipped_json_lines_without_the_absent_ids() {
        let cfg = FakeTmdbConfig { catalog_size: 50, ..test_config() };
        let mut gz = Vec::new();
        assert_eq!(write_export(&cfg, &Patches::new(), &|id| id % 10 == 0, &mut gz).unwrap(), 45);
        let mut text = String::new();
        io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
        let ids: Vec<u64> =
            text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, (1..=50).filter(|id| id % 10 != 0).collect::<Vec<_>>());
    }
}
