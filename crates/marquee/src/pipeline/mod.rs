//! What the functions do, step by step, over the ports.

pub mod audit;
pub mod batch;
pub mod capacity;
pub mod drain;
pub mod import;
pub mod ingest;
pub mod persist;
pub mod refresh;
pub mod run;
pub mod runner;
pub mod scheduled;
