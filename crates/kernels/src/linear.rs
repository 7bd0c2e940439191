//! A fully connected layer over the rows of a `[rows, d_in]` matrix, `y = x W + b`, and its
//! backward pass, each product one `gemm` call across the thread pool. Burn's CPU backend adds
//! the bias in a second pass and zeroes and copies every product's output buffer; here the
//! output starts as the bias rows and the product accumulates onto them.

use super::matmul::{matmul_parallel, matmul_parallel_onto_rows};

/// Sizes of one layer application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearShape {
    pub rows: usize,
    pub d_in: usize,
    pub d_out: usize,
}

/// `x W + b` for `x` `[rows, d_in]`, `W` `[d_in, d_out]`, `b` `[d_out]`.
pub fn linear_forward(x: &[f32], w: &[f32], b: &[f32], s: LinearShape) -> Vec<f32> {
    assert_eq!(x.len(), s.rows * s.d_in, "linear: x is not [rows, d_in]");
    assert_eq!(w.len(), s.d_in * s.d_out, "linear: W is not [d_in, d_out]");
    assert_eq!(b.len(), s.d_out, "linear: b is not [d_out]");
    let mut y = crate::output_buffer(s.rows * s.d_out);
    matmul_parallel_onto_rows(s.rows, s.d_out, s.d_in, &mut y, b, x, false, w, false);
    y
}

/// `(dx, dW, db)` from the output's gradient `dy` (`[rows, d_out]`).
pub fn linear_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    s: LinearShape,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert_eq!(
        dy.len(),
        s.rows * s.d_out,
        "linear: dy is not [rows, d_out]"
    );
    let mut dx = crate::output_buffer(s.rows * s.d_in);
    // dx = dy W^T; W is stored [d_in, d_out], read as its transpose.
    matmul_parallel(s.rows, s.d_in, s.d_out, &mut dx, false, dy, false, w, true);
    let mut dw = crate::output_buffer(s.d_in * s.d_out);
    // dW = x^T dy; x is stored [rows, d_in], read as its transpose.
    matmul_parallel(s.d_in, s.d_out, s.rows, &mut dw, false, x, true, dy, false);
    let mut db = vec![0.0; s.d_out];
    for row in dy.chunks_exact(s.d_out) {
        db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
    }
    (dx, dw, db)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_values as values;

    #[test]
    fn forward_and_backward_match_the_sums_they_stand_for() {
        // Big enough for the parallel product.
        let s = LinearShape {
            rows: 300,
            d_in: 70,
            d_out: 110,
        };
        let (x, w, b) = (values(300 * 70, 1), values(70 * 110, 2), values(110, 3));
        let dy = values(300 * 110, 4);
        let y = linear_forward(&x, &w, &b, s);
        let (dx, dw, db) = linear_backward(&x, &w, &dy, s);
        let close = |got: f32, want: f64, what: &str| {
            assert!(
                (got as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                "{what}: {got} vs {want}"
            );
        };
        for (r, o) in [(0, 0), (17, 109), (299, 55)] {
            let want: f64 = b[o] as f64
                + (0..70)
                    .map(|i| x[r * 70 + i] as f64 * w[i * 110 + o] as f64)
                    .sum::<f64>();
            close(y[r * 110 + o], want, "y");
        }
        for (r, i) in [(0, 0), (150, 69), (299, 3)] {
            let want: f64 = (0..110)
                .map(|o| dy[r * 110 + o] as f64 * w[i * 110 + o] as f64)
                .sum();
            close(dx[r * 70 + i], want, "dx");
        }
        for (i, o) in [(0, 0), (69, 109), (33, 7)] {
            let want: f64 = (0..300)
                .map(|r| x[r * 70 + i] as f64 * dy[r * 110 + o] as f64)
                .sum();
            close(dw[i * 110 + o], want, "dW");
        }
        for o in [0, 64, 109] {
            let want: f64 = (0..300).map(|r| dy[r * 110 + o] as f64).sum();
            close(db[o], want, "db");
        }
    }
}
