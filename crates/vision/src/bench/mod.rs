//! Micro-benchmarks behind `autodidact bench`: each measures one workload and returns a
//! [`BenchResult`]. Ratios against PyTorch come from `bench/compare.sh`, which runs these beside
//! `bench/reference/bench.py` in one go.

pub mod augment;
pub mod forward;
pub mod knn;
pub mod simclr_step;
pub mod vit_step;

pub use autodidact_core::bench::{BenchResult, median, peak_rss_mib, pseudo_random, time_repeats};
