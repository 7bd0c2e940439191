//! `autodidact export`: a run's encoder for another runtime, without autodidact: an ONNX graph
//! (`--format onnx`, its preprocessing inside the graph and stated in the file's metadata) or a
//! self-contained PyTorch module file and its state dict (`--format torch`). Both come from one
//! walk of the encoder ([`OnnxGraph`] keeps the weights in PyTorch's layout as it goes).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::prelude::*;
use clap::{Args, ValueEnum};

use super::methods::Modality;
use super::run_dir::{load_run, load_series_run, load_text_run, run_modality};
use autodidact_core::export::onnx::{OnnxGraph, Port};
use autodidact_core::export::torch::state_dict_file;
use autodidact_vision::augment::image::{NORM_MEAN, NORM_STD};
use autodidact_vision::encoders::Pooling;

/// The PyTorch module classes the `torch` format's file holds (the run's own settings follow).
const TORCH_MODULES: &str = include_str!("export_torch.py");

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// An ONNX graph (opset 17).
    Onnx,
    /// A PyTorch module file (FILE.py) and its state dict (FILE.pt, `torch.load`).
    Torch,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run folder written by `autodidact pretrain`.
    #[arg(long)]
    run: PathBuf,
    /// What to write.
    #[arg(long, value_enum)]
    format: Format,
    /// Output file [default: RUN/encoder.onnx, or RUN/encoder.pt with RUN/encoder.py beside it].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One walk of a run's encoder: the graph, its ports and what the file says about them.
struct Exported {
    graph: OnnxGraph,
    inputs: Vec<Port<'static>>,
    output: (String, Port<'static>),
    metadata: Vec<(&'static str, String)>,
    what: String,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let extension = match args.format {
        Format::Onnx => "onnx",
        Format::Torch => "pt",
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.run.join(format!("encoder.{extension}")));
    super::flags::output_file("--out", &out)?;
    let module = out.with_extension("py");
    if args.format == Format::Torch && module == out {
        bail!(
            "--out {}: the module file takes its name with .py; name the weights .pt",
            out.display()
        );
    }
    if !args.run.is_dir() {
        bail!("{}: no such run folder", args.run.display());
    }
    let modality = run_modality(&args.run)?;
    let exported = match modality {
        Modality::Image => image_graph(&args.run)?,
        Modality::Series => series_graph(&args.run)?,
        Modality::Text => text_graph(&args.run)?,
        Modality::Audio => audio_graph(&args.run)?,
        other => bail!(
            "{}: export writes one encoder; a {other} run has two towers (export their own runs)",
            args.run.display()
        ),
    };
    match args.format {
        Format::Onnx => {
            let Exported {
                graph,
                inputs,
                output: (last, port),
                metadata,
                what,
            } = exported;
            write_new(&out, &graph.finish(&inputs, (&last, port), &metadata))?;
            println!("wrote {what} as ONNX to {}", out.display());
        }
        Format::Torch => {
            let folder = out
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| !s.is_empty())
                .unwrap_or("encoder");
            let weights = state_dict_file(exported.graph.state_dict(), folder);
            write_new(&out, &weights)?;
            write_new(&module, torch_module(&exported)?.as_bytes())?;
            println!(
                "wrote {} as a PyTorch module to {} and its state dict to {}",
                exported.what,
                module.display(),
                out.display()
            );
        }
    }
    Ok(())
}

/// The module file: the classes, then which one this run is, its sizes and what it reads.
fn torch_module(exported: &Exported) -> anyhow::Result<String> {
    let Some((encoder, settings)) = exported.graph.description() else {
        bail!("the encoder did not describe itself for PyTorch");
    };
    let mut text = TORCH_MODULES.to_string();
    let settings = serde_json::to_string(settings)?;
    text.push_str(&format!(
        "\n\nENCODER = {encoder:?}\nSETTINGS = json.loads({settings:?})\n"
    ));
    for (key, value) in &exported.metadata {
        // The metadata's own encoder name is a description; ENCODER names the class above.
        if let Some(key) = key.strip_prefix("autodidact.").filter(|k| *k != "encoder") {
            text.push_str(&format!("{} = {value:?}\n", key.to_uppercase()));
        }
    }
    Ok(text)
}

/// Writes through a temporary file beside `out`, so that a failed write leaves no half file.
fn write_new(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, out))
        .with_context(|| format!("{}: cannot write", out.display()))
}

fn image_graph(run: &Path) -> anyhow::Result<Exported> {
    let loaded = load_run(run)?;
    let (c, side) = (loaded.config.channels, loaded.config.image_size);
    let encoder = loaded.encoder.valid();
    let mut g = OnnxGraph::new();
    let scale = g.scalar(255.0);
    let mean = g.scalar(NORM_MEAN);
    let std = g.scalar(NORM_STD);
    let x = g.node("Div", &["pixels", &scale], &[]);
    let x = g.node("Sub", &[&x, &mean], &[]);
    let x = g.node("Div", &[&x, &std], &[]);
    let z = encoder.onnx(&mut g, &x, side);
    g.describe_more("mean", NORM_MEAN.into());
    g.describe_more("std", NORM_STD.into());
    let dim = encoder.out_dim();
    let pooling = loaded.config.method.pooling();
    let mut metadata = vec![
        (
            "autodidact.input",
            format!(
                "pixels: float32 [batch, {c}, {side}, {side}], values 0 to 255 ({} channel(s); resize to {side}x{side} first)",
                if c == 1 { "grey" } else { "RGB" }
            ),
        ),
        (
            "autodidact.preprocessing",
            format!("inside the graph: (pixels / 255 - {NORM_MEAN}) / {NORM_STD}"),
        ),
        (
            "autodidact.output",
            format!(
                "embedding: float32 [batch, {dim}], the encoder's mean-pooled representation (autodidact embed --pool mean)"
            ),
        ),
        (
            "autodidact.encoder",
            loaded.config.encoder.name().to_string(),
        ),
        ("autodidact.method", loaded.config.method.name().to_string()),
    ];
    if pooling != Pooling::Mean {
        metadata.push((
            "autodidact.note",
            format!(
                "the run's own evaluation pools by {}; the graph gives the mean-pooled representation",
                pooling.name()
            ),
        ));
    }
    metadata.push(("autodidact.run", run.display().to_string()));
    let input = Port::float("pixels", vec![Err("batch"), Ok(c), Ok(side), Ok(side)]);
    let output = Port::float("embedding", vec![Err("batch"), Ok(dim)]);
    Ok(Exported {
        graph: g,
        inputs: vec![input],
        output: (z, output),
        metadata,
        what: format!("the {} encoder", loaded.config.encoder.name()),
    })
}

fn series_graph(run: &Path) -> anyhow::Result<Exported> {
    let loaded = load_series_run(run)?;
    let encoder = loaded.encoder.valid();
    let c = encoder.channels();
    let dim = encoder.out_dim();
    let scaler = &loaded.config.scaler;
    let mut g = OnnxGraph::new();
    let z = encoder.onnx(&mut g, "series", &scaler.mean, &scaler.std);
    let metadata = vec![
        (
            "autodidact.input",
            format!(
                "series: float32 [batch, {c}, time], raw values of fully observed series (no NaN; a series with gaps goes through autodidact embed)"
            ),
        ),
        (
            "autodidact.preprocessing",
            format!(
                "inside the graph: each channel standardised by the training set's mean {:?} and standard deviation {:?}",
                scaler.mean, scaler.std
            ),
        ),
        (
            "autodidact.output",
            format!("embedding: float32 [batch, {dim}], max-pooled over time"),
        ),
        ("autodidact.encoder", "dilated-cnn".to_string()),
        ("autodidact.method", loaded.config.method.name().to_string()),
        ("autodidact.run", run.display().to_string()),
    ];
    let input = Port::float("series", vec![Err("batch"), Ok(c), Err("time")]);
    let output = Port::float("embedding", vec![Err("batch"), Ok(dim)]);
    Ok(Exported {
        graph: g,
        inputs: vec![input],
        output: (z, output),
        metadata,
        what: "the series encoder".to_string(),
    })
}

fn text_graph(run: &Path) -> anyhow::Result<Exported> {
    use autodidact_text::tokenizer::TextTokenizer;
    let loaded = load_text_run(run)?;
    let encoder = loaded.encoder.valid();
    let (dim, max_len) = (encoder.d_model(), encoder.max_len());
    let mut g = OnnxGraph::new();
    let z = encoder.onnx(&mut g, "ids", "valid");
    let metadata = vec![
        (
            "autodidact.input",
            format!(
                "ids: int64 [batch, tokens], valid: float32 [batch, tokens]; tokens at most {max_len}"
            ),
        ),
        (
            "autodidact.preprocessing",
            format!(
                "outside the graph: each text's ids are [{}] ([CLS]) then its tokens from the run's tokenizer.json, cut to {max_len}; shorter rows padded with {} where valid is 0 (1 elsewhere)",
                TextTokenizer::CLS,
                TextTokenizer::PAD
            ),
        ),
        (
            "autodidact.output",
            format!(
                "embedding: float32 [batch, {dim}], the mean of the valid tokens' final hidden states"
            ),
        ),
        ("autodidact.encoder", "transformer".to_string()),
        ("autodidact.method", loaded.config.method.name().to_string()),
        ("autodidact.run", run.display().to_string()),
    ];
    let inputs = vec![
        Port::int64("ids", vec![Err("batch"), Err("tokens")]),
        Port::float("valid", vec![Err("batch"), Err("tokens")]),
    ];
    let output = Port::float("embedding", vec![Err("batch"), Ok(dim)]);
    Ok(Exported {
        graph: g,
        inputs,
        output: (z, output),
        metadata,
        what: "the text Transformer".to_string(),
    })
}

fn audio_graph(run: &Path) -> anyhow::Result<Exported> {
    use autodidact_audio::encoder::AudioEncoding;
    use autodidact_audio::methods::AudioMethodKind;
    use autodidact_audio::train::{AudioRunConfig, EncoderVisitor, with_run_encoder};
    struct Graph(u32);
    impl EncoderVisitor for Graph {
        type Output = anyhow::Result<(OnnxGraph, String, usize)>;
        fn visit<E: AudioEncoding>(self, encoder: E) -> Self::Output {
            let mut g = OnnxGraph::new();
            let z = encoder.onnx(&mut g, "wave", self.0)?;
            Ok((g, z, encoder.dim()))
        }
    }
    let config = AudioRunConfig::load(&run.join("config.toml"))?;
    let (g, z, dim) = with_run_encoder(&config, run, &Device::flex(), Graph(config.rate))
        .and_then(|made| made)
        .with_context(|| format!("{}: cannot export", run.display()))?;
    let rate = config.rate;
    let (inside, output, encoder, what) = match config.method {
        AudioMethodKind::Wav2Vec2 => (
            "each clip standardised to mean 0, variance 1",
            "the mean over frames of the mean of every Transformer block's output",
            "wav2vec2",
            "the wav2vec 2.0 encoder",
        ),
        AudioMethodKind::AudioByol => (
            "the log-mel spectrogram (25 ms Hann frames every 10 ms, 40 HTK-mel bands, natural log over a 1e-10 floor; the windowed DFT as a strided convolution), each spectrogram standardised to mean 0, deviation 1",
            "the mean and the maximum over frames of the spectrogram CNN's frame features",
            "audio-byol",
            "the spectrogram CNN (with its log-mel features)",
        ),
    };
    let metadata = vec![
        (
            "autodidact.input",
            format!(
                "wave: float32 [batch, 1, samples], clips of one length (at least 25 ms) at {rate} Hz, values in [-1, 1]"
            ),
        ),
        (
            "autodidact.preprocessing",
            format!("outside the graph: resample to {rate} Hz, mono; inside: {inside}"),
        ),
        (
            "autodidact.output",
            format!("embedding: float32 [batch, {dim}], {output}"),
        ),
        ("autodidact.encoder", encoder.to_string()),
        ("autodidact.method", config.method.name().to_string()),
        ("autodidact.run", run.display().to_string()),
    ];
    let input = Port::float("wave", vec![Err("batch"), Ok(1), Err("samples")]);
    let output = Port::float("embedding", vec![Err("batch"), Ok(dim)]);
    Ok(Exported {
        graph: g,
        inputs: vec![input],
        output: (z, output),
        metadata,
        what: what.to_string(),
    })
}
