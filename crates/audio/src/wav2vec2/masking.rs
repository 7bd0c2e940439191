//! Which frames wav2vec 2.0 hides, and the distractors each hidden frame is contrasted against.

use rand::Rng;
use rand::rngs::StdRng;

/// The hidden frames of one clip of `frames` frames, fairseq's way: `floor(p * frames / span + u)`
/// spans (u uniform in [0, 1), at least `min_spans`) of `span` frames each, starting anywhere a
/// whole span fits; spans may overlap, so fewer than `spans * span` frames may be hidden. A clip
/// shorter than two spans gets spans of half its length. At least one frame stays visible.
pub fn span_mask(
    frames: usize,
    p: f64,
    span: usize,
    min_spans: usize,
    rng: &mut StdRng,
) -> Vec<bool> {
    let mut mask = vec![false; frames];
    if frames < 2 {
        return mask;
    }
    let span = span.min(frames / 2).max(1);
    let drawn = (p * frames as f64 / span as f64 + rng.random::<f64>()).floor() as usize;
    let spans = drawn.max(min_spans);
    for _ in 0..spans {
        let start = rng.random_range(0..=frames - span);
        mask[start..start + span].fill(true);
    }
    if mask.iter().all(|&m| m) {
        let keep = rng.random_range(0..frames);
        mask[keep] = false;
    }
    mask
}

/// For each of `n` hidden frames of one clip, `k` distractors: indices of other hidden frames of
/// the same clip drawn uniformly with replacement, never the frame itself. A clip with a single
/// hidden frame has no other to draw: its distractors are `None`.
pub fn sample_distractors(n: usize, k: usize, rng: &mut StdRng) -> Option<Vec<Vec<usize>>> {
    if n < 2 {
        return None;
    }
    Some(
        (0..n)
            .map(|i| {
                (0..k)
                    .map(|_| {
                        // Draw from the n - 1 others: skip over i.
                        let j = rng.random_range(0..n - 1);
                        if j >= i { j + 1 } else { j }
                    })
                    .collect()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn spans_have_the_requested_length_count_and_stay_inside_the_clip() {
        let mut rng = StdRng::seed_from_u64(1);
        let (frames, p, span) = (200, 0.065, 10);
        let draws = 2000;
        let mut hidden = 0usize;
        for _ in 0..draws {
            let mask = span_mask(frames, p, span, 2, &mut rng);
            assert_eq!(mask.len(), frames);
            // Every hidden run is a union of whole spans: at least `span` long.
            let mut run = 0;
            for &m in mask.iter().chain(std::iter::once(&false)) {
                if m {
                    run += 1;
                } else {
                    assert!(run == 0 || run >= span, "a run of {run} hidden frames");
                    run = 0;
                }
            }
            hidden += mask.iter().filter(|&&m| m).count();
        }
        // p * T / span + 0.5 = 1.8 spans on average, but at least 2: always 2 here (1.3 + u < 3).
        // Two spans of 10 in 200 overlap with probability about 0.1: about 19.5 frames hidden.
        let mean = hidden as f64 / draws as f64;
        assert!((mean - 19.5).abs() < 0.5, "mean hidden frames {mean}");

        let (frames, p) = (1000, 0.2);
        let mut spans_hidden = 0usize;
        for _ in 0..draws {
            spans_hidden += span_mask(frames, p, span, 0, &mut rng)
                .iter()
                .filter(|&&m| m)
                .count();
        }
        // 20 spans on average; the share hidden is 1 - (1 - p/span)^span... about 1 - e^{-p}
        // ignoring edges: 18.1 %.
        let share = spans_hidden as f64 / (draws * frames) as f64;
        assert!((share - 0.181).abs() < 0.01, "hidden share {share}");
    }

    #[test]
    fn short_clips_keep_a_visible_frame_and_get_shorter_spans() {
        let mut rng = StdRng::seed_from_u64(2);
        for frames in 2..12 {
            for _ in 0..50 {
                let mask = span_mask(frames, 0.5, 10, 2, &mut rng);
                assert!(
                    mask.iter().any(|&m| m),
                    "{frames} frames: something is hidden"
                );
                assert!(
                    mask.iter().any(|&m| !m),
                    "{frames} frames: something is visible"
                );
            }
        }
        assert!(span_mask(1, 0.5, 10, 2, &mut rng).iter().all(|&m| !m));
    }

    #[test]
    fn distractors_are_other_hidden_frames_of_the_clip_never_the_positive() {
        let mut rng = StdRng::seed_from_u64(3);
        for n in 2..20 {
            let d = sample_distractors(n, 50, &mut rng).expect("two or more frames");
            assert_eq!(d.len(), n);
            for (i, row) in d.iter().enumerate() {
                assert_eq!(row.len(), 50);
                assert!(row.iter().all(|&j| j != i && j < n), "frame {i}: {row:?}");
            }
        }
        // Every other frame is drawn (uniform over the others).
        let d = sample_distractors(3, 200, &mut rng).expect("three frames");
        assert!(d[1].contains(&0) && d[1].contains(&2));
        assert!(sample_distractors(1, 5, &mut rng).is_none());
    }
}
