//! What the training loop asks of a self-supervised method, whatever its modality.

use burn::module::ModuleDisplay;
use burn::prelude::*;

/// What one step of a method computes.
pub struct StepOutput {
    /// Scalar loss to minimise.
    pub loss: Tensor<1>,
    /// Embeddings used by the collapse watch (e.g. the projections of the first view).
    pub embeddings: Tensor<2>,
    /// Detached tensors handed to [`Method::after_step`] once the optimiser has stepped (MoCo's
    /// new keys, which join its queue); empty for most methods.
    pub carry: Vec<Tensor<2>>,
    /// The method's own figures of this step (wav2vec 2.0's codebook perplexity), written to
    /// `metrics.jsonl` under `method` on logged steps.
    pub metrics: Vec<(&'static str, f64)>,
}

impl StepOutput {
    /// A step output with nothing to carry.
    pub fn new(loss: Tensor<1>, embeddings: Tensor<2>) -> Self {
        Self {
            loss,
            embeddings,
            carry: Vec::new(),
            metrics: Vec::new(),
        }
    }

    /// The same output with the method's figure `name` added.
    pub fn with_metric(mut self, name: &'static str, value: f64) -> Self {
        self.metrics.push((name, value));
        self
    }
}

/// Where the run stands after an optimiser step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AfterStep {
    /// Steps taken, this one included.
    pub step: usize,
    /// Share of the planned steps taken (0 while a time budget is still being timed).
    pub progress: f64,
}

/// A self-supervised method: a module holding one or more encoders and the heads and state its
/// objective needs, trained by [`crate::train::fit::fit`].
///
/// `step` is pure (`&self`); whatever it produces that must change the method's state after the
/// optimiser step (MoCo's keys) goes into [`StepOutput::carry`] and comes back in
/// [`Method::after_step`]. That state must live in the module (a `Param` without gradient for
/// tensors, counters included) so that checkpoints carry it and a resumed run continues exactly.
pub trait Method: Module + ModuleDisplay + Sized {
    /// What one step trains on (augmented views, a padded batch of series, token rows, pairs).
    type Batch;
    /// The network the run exports as `encoder.safetensors`.
    type Encoder: Module;

    /// Loss of one batch. The method's own randomness (masks, crops, shuffles) comes from
    /// `seed`, a pure function of the run's seed and the step; the device's generator is seeded
    /// with it too, so dropout is as reproducible.
    fn step(&self, batch: Self::Batch, seed: u64) -> StepOutput;

    /// Updates state that follows the optimiser step (EMA targets, queues, weight averages).
    fn after_step(self, _at: AfterStep, _carry: Vec<Tensor<2>>) -> Self {
        self
    }

    /// The network the run exports.
    fn encoder(&self) -> &Self::Encoder;

    /// Whether a low spread of [`StepOutput::embeddings`] means collapse. Reconstruction methods
    /// have a low uncentred spread by construction and cannot collapse to a constant.
    fn watches_collapse(&self) -> bool {
        true
    }

    /// A warning when the method's own figures of a logged step ([`StepOutput::metrics`]) show
    /// it failing in its known way (a codebook in use falling toward one entry); counted with
    /// the collapse warnings.
    fn health(&self, _metrics: &[(&'static str, f64)]) -> Option<String> {
        None
    }
}

/// The device `module`'s parameters live on (the autodiff device while training): where a
/// method puts the tensors it builds from its batch.
///
/// # Panics
/// When `module` has no parameters; every method has some.
pub fn device_of<M: Module>(module: &M) -> Device {
    module
        .devices()
        .into_iter()
        .next()
        .expect("a method has parameters")
}

/// A method's own hyper-parameters: the `[method_config]` table of its recipe and its run's
/// `config.toml`. Fields a file leaves out take their defaults (`#[serde(default)]`), so runs
/// saved before a field existed still load.
pub trait MethodSettings: Clone + Default + serde::Serialize + serde::de::DeserializeOwned {
    /// Checks every field against its accepted range; `s` names where the settings came from.
    fn validate(&self, s: &crate::train::limits::Settings) -> anyhow::Result<()>;
}

/// The settings of a method that has none: any table reads as it.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NoSettings {}

impl MethodSettings for NoSettings {
    fn validate(&self, _: &crate::train::limits::Settings) -> anyhow::Result<()> {
        Ok(())
    }
}

/// `C`'s defaults as a table: what a run's `config.toml` keeps under `[method_config]`.
pub fn default_settings<C: MethodSettings>() -> toml::Table {
    toml::Table::try_from(C::default()).unwrap_or_default()
}

/// `C`'s defaults with `recipe`'s `[method_config]` laid over them, as a table; a key `C` does not
/// have is an error that lists the ones it has.
pub fn recipe_settings<C: MethodSettings>(
    recipe: &crate::recipe::Recipe,
) -> anyhow::Result<toml::Table> {
    let settings = recipe.method_config(&C::default())?;
    toml::Table::try_from(settings).map_err(|e| anyhow::anyhow!("method settings: {e}"))
}

/// `table` read as `C` and checked: fields it lacks take their defaults, fields of other methods
/// are ignored (runs saved before each method owned its settings hold every method's).
pub fn read_settings<C: MethodSettings>(
    table: &toml::Table,
    s: &crate::train::limits::Settings,
) -> anyhow::Result<C> {
    let settings: C = table.clone().try_into().map_err(|e: toml::de::Error| {
        anyhow::anyhow!("{}: method_config: {}", s.source(), e.message())
    })?;
    settings.validate(s)?;
    Ok(settings)
}
