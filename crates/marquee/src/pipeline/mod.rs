//! What the functions do, step by step, over the ports.

pub mod ingest;
