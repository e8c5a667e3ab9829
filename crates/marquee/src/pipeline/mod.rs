//! What the functions do, step by step, over the ports.

pub mod batch;
pub mod batch_work;
pub mod drain;
pub mod ingest;
pub mod refresh;
pub mod run;
pub mod scheduled;
