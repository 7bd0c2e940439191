//! BERT's masked-language-model corruption of a token sequence.

use rand::Rng;
use rand::rngs::StdRng;

use super::tokenizer::TextTokenizer;

/// Target of a position that is not predicted.
pub const IGNORE: i64 = -1;

/// Share of selected tokens replaced by `[MASK]`.
const MASK_SHARE: f64 = 0.8;
/// Share of selected tokens replaced by a random non-special token (the rest stay unchanged).
const RANDOM_SHARE: f64 = 0.1;

/// Corrupts `tokens` as BERT does and returns `(inputs, targets)`.
///
/// Every non-special token is selected with probability `select` (BERT: 0.15); special tokens
/// (ids below 5: `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`) never are. A selected token becomes
/// `[MASK]` with probability 0.8, a uniformly drawn non-special id below `vocab_size` with
/// probability 0.1, and stays as it is with probability 0.1. `targets[i]` is the original id at
/// selected positions and [`IGNORE`] (-1) elsewhere.
///
/// When a sequence has a non-special token but none was drawn, one of its non-special positions is
/// selected uniformly (and corrupted as above), so no sequence, and thus no batch, is without
/// targets.
pub fn mlm_mask(
    tokens: &[u32],
    vocab_size: usize,
    select: f64,
    rng: &mut StdRng,
) -> (Vec<u32>, Vec<i64>) {
    let mut inputs = tokens.to_vec();
    let mut targets = vec![IGNORE; tokens.len()];
    let mut any_selected = false;
    for (i, &token) in tokens.iter().enumerate() {
        if !TextTokenizer::is_special(token) && rng.random::<f64>() < select {
            inputs[i] = corrupt(token, vocab_size, rng);
            targets[i] = i64::from(token);
            any_selected = true;
        }
    }
    if !any_selected {
        let candidates: Vec<usize> = (0..tokens.len())
            .filter(|&i| !TextTokenizer::is_special(tokens[i]))
            .collect();
        if !candidates.is_empty() {
            let i = candidates[rng.random_range(0..candidates.len())];
            inputs[i] = corrupt(tokens[i], vocab_size, rng);
            targets[i] = i64::from(tokens[i]);
        }
    }
    (inputs, targets)
}

/// The input id for a selected token: `[MASK]`, a random non-special id, or the token itself.
fn corrupt(token: u32, vocab_size: usize, rng: &mut StdRng) -> u32 {
    let first_normal = TextTokenizer::NUM_SPECIAL;
    let draw = rng.random::<f64>();
    if draw < MASK_SHARE {
        TextTokenizer::MASK
    } else if draw < MASK_SHARE + RANDOM_SHARE && vocab_size > first_normal as usize {
        let top = u32::try_from(vocab_size).unwrap_or(u32::MAX);
        rng.random_range(first_normal..top)
    } else {
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const VOCAB: usize = 1000;

    /// `count` sequences of `len` tokens: `[CLS] ... [SEP] [PAD]...`, with some `[UNK]`s inside.
    fn sequences(count: usize, len: usize, seed: u64) -> Vec<Vec<u32>> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..count)
            .map(|_| {
                let used = rng.random_range(len / 2..=len);
                let mut s = vec![TextTokenizer::CLS];
                s.extend((2..used).map(|_| rng.random_range(1..VOCAB as u32)));
                s.push(TextTokenizer::SEP);
                s.resize(len, TextTokenizer::PAD);
                s
            })
            .collect()
    }

    #[test]
    fn shares_match_bert() {
        let data = sequences(2000, 128, 1);
        let mut rng = StdRng::seed_from_u64(2);
        let (mut normal, mut selected, mut masked, mut random, mut kept) = (0, 0, 0, 0, 0);
        for seq in &data {
            let (inputs, targets) = mlm_mask(seq, VOCAB, 0.15, &mut rng);
            assert_eq!((inputs.len(), targets.len()), (seq.len(), seq.len()));
            for ((&orig, &input), &target) in seq.iter().zip(&inputs).zip(&targets) {
                if TextTokenizer::is_special(orig) {
                    assert_eq!(
                        (input, target),
                        (orig, IGNORE),
                        "a special token was touched"
                    );
                    continue;
                }
                normal += 1;
                if target == IGNORE {
                    assert_eq!(input, orig, "an unselected token changed");
                    continue;
                }
                assert_eq!(target, i64::from(orig));
                selected += 1;
                if input == TextTokenizer::MASK {
                    masked += 1;
                } else if input == orig {
                    kept += 1;
                } else {
                    assert!(!TextTokenizer::is_special(input) && (input as usize) < VOCAB);
                    random += 1;
                }
            }
        }
        assert!(normal > 100_000, "{normal}");
        let share = |a: usize, b: usize| a as f64 / b as f64;
        let sel = share(selected, normal);
        assert!((sel - 0.15).abs() < 0.005, "selected share {sel}");
        let (m, r, k) = (
            share(masked, selected),
            share(random, selected),
            share(kept, selected),
        );
        assert!((m - 0.8).abs() < 0.01, "mask share {m}");
        assert!((r - 0.1).abs() < 0.01, "random share {r}");
        assert!((k - 0.1).abs() < 0.01, "kept share {k}");
    }

    #[test]
    fn one_target_is_forced_when_none_was_drawn() {
        let mut rng = StdRng::seed_from_u64(3);
        let seq = [2, 17, 18, 19, 3, 0, 0];
        for _ in 0..50 {
            let (_, targets) = mlm_mask(&seq, VOCAB, 0.0, &mut rng);
            let picked: Vec<usize> = (0..seq.len()).filter(|&i| targets[i] != IGNORE).collect();
            assert_eq!(picked.len(), 1);
            assert!((1..=3).contains(&picked[0]));
        }
        let only_special = [2, 3, 0, 0];
        let (inputs, targets) = mlm_mask(&only_special, VOCAB, 1.0, &mut rng);
        assert_eq!(inputs, only_special);
        assert!(targets.iter().all(|&t| t == IGNORE));
        // select = 1 selects every non-special token.
        let (_, targets) = mlm_mask(&seq, VOCAB, 1.0, &mut rng);
        assert_eq!(targets, [-1, 17, 18, 19, -1, -1, -1]);
    }

    #[test]
    fn same_seed_same_masks() {
        let data = sequences(20, 64, 4);
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            data.iter()
                .map(|s| mlm_mask(s, VOCAB, 0.15, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }
}
