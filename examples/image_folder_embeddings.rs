//! Pre-train on a folder of images and write their embeddings: SimCLR with the command line's
//! defaults (fewer epochs here), the trained encoder read through its mean pooling, one row per
//! image in a float32 `.npy` matrix.
//!
//! `cargo run --release --example image_folder_embeddings [-- DIR]` where `DIR` holds
//! `train/<class>/*.png` (and optionally `test/...`); without it a small folder is generated.

use std::path::Path;
use std::sync::Arc;

use autodidact::data::{ImageFormat, load_images};
use autodidact::encoders::Pooling;
use autodidact::eval::embed::embed_images;
use autodidact::eval::npy::write_npy;
use autodidact::methods::MethodKind;
use autodidact::train::pretrainer::Pretrainer;

fn main() -> anyhow::Result<()> {
    // Optional, and the caller's decision: keep freed step buffers in the process (glibc), about
    // 1.6x faster training steps; it changes this whole process's allocator.
    autodidact::alloc::keep_freed_memory();
    let work = tempfile::tempdir()?;
    let folder = match std::env::args().nth(1) {
        Some(dir) => dir.into(),
        None => {
            let dir = work.path().join("shapes");
            write_shapes(&dir, 48)?;
            dir
        }
    };
    let images = Arc::new(load_images(&folder, ImageFormat::Auto, None, None)?.train);
    println!(
        "{} images of {}x{} from {}",
        images.len(),
        images.height,
        images.width,
        folder.display()
    );

    let trained = Pretrainer::new(MethodKind::Simclr)
        .epochs(5)
        .batch_size(32)
        .fit(images.clone(), &work.path().join("run"))?;
    println!(
        "SimCLR: {} steps, final loss {:.3}",
        trained.summary.steps, trained.summary.final_loss
    );

    let device = trained.config.device.device()?;
    let size = trained.config.image_size;
    let embeddings = embed_images(&trained.encoder, Pooling::Mean, &images, size, &device);
    let out = work.path().join("embeddings.npy");
    write_npy(&out, &embeddings.data, &[embeddings.n, embeddings.dim])?;
    println!(
        "wrote {} x {} embeddings to {}",
        embeddings.n,
        embeddings.dim,
        out.display()
    );
    Ok(())
}

/// `train/{disc,bar}/<i>.png`: 16x16 grey discs and bars at shifting places.
fn write_shapes(root: &Path, per_class: u32) -> anyhow::Result<()> {
    for class in ["disc", "bar"] {
        let dir = root.join("train").join(class);
        std::fs::create_dir_all(&dir)?;
        for i in 0..per_class {
            let (cx, cy) = (4 + (i * 3) % 8, 4 + (i * 5) % 8);
            let img = image::GrayImage::from_fn(16, 16, |x, y| {
                let (dx, dy) = (x as i32 - cx as i32, y as i32 - cy as i32);
                let inside = match class {
                    "disc" => dx * dx + dy * dy <= 9,
                    _ => dx.abs() <= 5 && dy.abs() <= 1,
                };
                image::Luma([if inside {
                    220
                } else {
                    30 + ((x + y + i) % 20) as u8
                }])
            });
            img.save(dir.join(format!("{i}.png")))?;
        }
    }
    Ok(())
}
