//! Text readers: plain corpora and labelled TSV/CSV sets.
