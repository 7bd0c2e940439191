//! autodidact's images: data flows one way, `data` (typed samples) -> `augment` (views) ->
//! `encoders` + `methods` (objective) -> `train` (the image side of the one loop) -> `eval`
//! (embeddings -> k-NN / linear probe / baseline). `train::pretrainer::Pretrainer` is the way
//! in for a library user.

pub mod augment;
pub mod bench;
pub mod data;
pub mod encoders;
pub mod eval;
pub mod methods;
pub mod train;
