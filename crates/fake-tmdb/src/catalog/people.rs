//! People and credits. A person derives from their id alone, so they look the same in every
//! movie they appear in.

use serde_json::{Value, json};

use super::random::{hex24, image_path, pick, rng, round};
use crate::FakeTmdbConfig;
use crate::words::*;

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

pub(super) fn credits(cfg: &FakeTmdbConfig, id: u64) -> Value {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::FakeTmdbConfig;
    use crate::catalog::details::{Patches, part};
    use crate::catalog::test_config;

    #[test]
    fn credits_respect_config_and_people_recur() {
        let c = FakeTmdbConfig { cast_per_movie: 7, crew_per_movie: 3, ..test_config() };
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
}
