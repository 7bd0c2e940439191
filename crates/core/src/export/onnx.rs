//! An ONNX graph (opset 17) built node by node from a trained module's weights: each encoder
//! writes its own forward here with the layer helpers below, and [`OnnxGraph::finish`] gives
//! the `.onnx` file's bytes. The named weights are also kept in PyTorch's layout and names
//! ([`OnnxGraph::state_dict`]: linear weights `[out, in]`, norms' `weight` and `bias`), for the
//! PyTorch module that mirrors the same forward.

use burn::nn::conv::{Conv1d, Conv2d};
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderLayer};
use burn::nn::{BatchNorm, LayerNorm, Linear, PaddingConfig1d, PaddingConfig2d};
use burn::prelude::*;

use super::proto::Message;
use super::torch::{Entry, Values};

/// The operator set every exported graph uses (LayerNormalization needs 17).
pub const OPSET: i64 = 17;
/// The ONNX IR version that goes with opset 17.
const IR_VERSION: i64 = 8;
const FLOAT: i64 = 1;
const INT64: i64 = 7;

/// An attribute of a node.
pub enum Attr<'a> {
    Int(&'a str, i64),
    Ints(&'a str, &'a [i64]),
    Float(&'a str, f32),
}

/// A graph being built: values are named by strings, as ONNX names them.
#[derive(Default)]
pub struct OnnxGraph {
    nodes: Vec<Message>,
    initializers: Vec<Message>,
    state: Vec<Entry>,
    described: Option<(String, serde_json::Map<String, serde_json::Value>)>,
    next: usize,
}

/// A graph input or output: its name and dimensions, `Err(name)` for a dimension left free
/// (the batch: `Err("batch")`); float32 unless `int64`.
pub struct Port<'a> {
    pub name: &'a str,
    pub dims: Vec<Result<usize, &'a str>>,
    pub int64: bool,
}

impl<'a> Port<'a> {
    pub fn float(name: &'a str, dims: Vec<Result<usize, &'a str>>) -> Self {
        Self {
            name,
            dims,
            int64: false,
        }
    }

    pub fn int64(name: &'a str, dims: Vec<Result<usize, &'a str>>) -> Self {
        Self {
            name,
            dims,
            int64: true,
        }
    }
}

impl OnnxGraph {
    pub fn new() -> Self {
        Self::default()
    }

    fn fresh(&mut self, stem: &str) -> String {
        self.next += 1;
        format!("{stem}_{}", self.next)
    }

    /// A float32 constant with a name (a weight, or a buffer such as a position table), kept
    /// in the state dict too.
    pub fn constant(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        self.keep(name, dims, data.to_vec());
        self.floats(name, dims, data)
    }

    fn floats(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name, dims, FLOAT, &bytes)
    }

    /// Keeps a weight for the state dict under PyTorch's name for it.
    fn keep(&mut self, name: &str, dims: &[usize], values: Vec<f32>) {
        let name = match name.rsplit_once('.') {
            Some((layer, "gamma")) => format!("{layer}.weight"),
            Some((layer, "beta")) => format!("{layer}.bias"),
            _ => name.to_string(),
        };
        self.state.push(Entry {
            name,
            dims: dims.to_vec(),
            values: Values::F32(values),
        });
    }

    /// Names the encoder the graph computes and its sizes: the PyTorch module that mirrors it
    /// and that module's constructor arguments.
    pub fn describe(&mut self, encoder: &str, settings: serde_json::Value) {
        let settings = match settings {
            serde_json::Value::Object(map) => map,
            _ => Default::default(),
        };
        self.described = Some((encoder.to_string(), settings));
    }

    /// Adds one constructor argument to the description.
    pub fn describe_more(&mut self, key: &str, value: serde_json::Value) {
        if let Some((_, settings)) = self.described.as_mut() {
            settings.insert(key.to_string(), value);
        }
    }

    /// The encoder's name and constructor arguments, once described.
    pub fn description(&self) -> Option<(&str, &serde_json::Map<String, serde_json::Value>)> {
        self.described.as_ref().map(|(e, s)| (e.as_str(), s))
    }

    /// The named weights in PyTorch's layout, in the order the forward reads them.
    pub fn state_dict(&self) -> &[Entry] {
        &self.state
    }

    /// A trained tensor as a constant named `name`.
    pub fn tensor<const D: usize>(&mut self, name: &str, t: Tensor<D>) -> String {
        let dims = t.dims();
        let data = t
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 data");
        self.constant(name, &dims, &data)
    }

    /// An int64 constant (shapes and axes).
    pub fn ints(&mut self, values: &[i64]) -> String {
        let name = self.fresh("ints");
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(&name, &[values.len()], INT64, &bytes)
    }

    /// A float32 scalar constant (not a weight).
    pub fn scalar(&mut self, value: f32) -> String {
        let name = self.fresh("scalar");
        self.floats(&name, &[], &[value])
    }

    fn initializer(&mut self, name: &str, dims: &[usize], kind: i64, raw: &[u8]) -> String {
        let mut t = Message::new();
        for &d in dims {
            t.int(1, d as i64);
        }
        t.int(2, kind).string(8, name).bytes(9, raw);
        self.initializers.push(t);
        name.to_string()
    }

    /// A node of `op` on `inputs` with one output, which it returns.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: &[Attr]) -> String {
        let out = self.fresh(op);
        let mut n = Message::new();
        for i in inputs {
            n.string(1, i);
        }
        n.string(2, &out).string(3, &out).string(4, op);
        for a in attrs {
            let mut m = Message::new();
            match a {
                Attr::Int(name, v) => m.string(1, name).int(3, *v).int(20, 2),
                Attr::Float(name, v) => m.string(1, name).float(2, *v).int(20, 1),
                Attr::Ints(name, vs) => {
                    m.string(1, name);
                    for v in *vs {
                        m.int(8, *v);
                    }
                    m.int(20, 7)
                }
            };
            n.message(5, &m);
        }
        self.nodes.push(n);
        out
    }

    /// The model file: `inputs` feed the graph, `output` (the value named by the last node
    /// written for it) is renamed to `output.name`; `metadata` goes into the file as key-value
    /// pairs.
    pub fn finish(
        mut self,
        inputs: &[Port],
        output: (&str, Port),
        metadata: &[(&str, String)],
    ) -> Vec<u8> {
        let (last, port) = output;
        self.node_named("Identity", &[last], port.name);
        let mut g = Message::new();
        for n in &self.nodes {
            g.message(1, n);
        }
        g.string(2, "encoder");
        for t in &self.initializers {
            g.message(5, t);
        }
        for input in inputs {
            g.message(11, &value_info(input));
        }
        g.message(12, &value_info(&port));
        let mut model = Message::new();
        model
            .int(1, IR_VERSION)
            .string(2, "autodidact")
            .string(3, env!("CARGO_PKG_VERSION"))
            .message(7, &g);
        let mut opset = Message::new();
        opset.string(1, "").int(2, OPSET);
        model.message(8, &opset);
        for (key, value) in metadata {
            let mut kv = Message::new();
            kv.string(1, key).string(2, value);
            model.message(14, &kv);
        }
        model.into_bytes()
    }

    fn node_named(&mut self, op: &str, inputs: &[&str], out: &str) {
        let mut n = Message::new();
        for i in inputs {
            n.string(1, i);
        }
        n.string(2, out).string(3, out).string(4, op);
        self.nodes.push(n);
    }

    // The layers, each as Burn computes it.

    pub fn conv2d(&mut self, name: &str, conv: &Conv2d, x: &str) -> String {
        let w = self.tensor(&format!("{name}.weight"), conv.weight.val());
        let mut inputs = vec![x.to_string(), w];
        if let Some(b) = &conv.bias {
            inputs.push(self.tensor(&format!("{name}.bias"), b.val()));
        }
        let pads: [i64; 4] = match conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) => {
                [top as i64, left as i64, bottom as i64, right as i64]
            }
            PaddingConfig2d::Valid => [0; 4],
            PaddingConfig2d::Same => {
                let [kh, kw] = conv.kernel_size.map(|k| k as i64);
                [(kh - 1) / 2, (kw - 1) / 2, kh / 2, kw / 2]
            }
        };
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.node(
            "Conv",
            &refs,
            &[
                Attr::Ints("strides", &conv.stride.map(|s| s as i64)),
                Attr::Ints("dilations", &conv.dilation.map(|d| d as i64)),
                Attr::Ints("pads", &pads),
                Attr::Int("group", conv.groups as i64),
            ],
        )
    }

    pub fn conv1d(&mut self, name: &str, conv: &Conv1d, x: &str) -> String {
        let w = self.tensor(&format!("{name}.weight"), conv.weight.val());
        let mut inputs = vec![x.to_string(), w];
        if let Some(b) = &conv.bias {
            inputs.push(self.tensor(&format!("{name}.bias"), b.val()));
        }
        let k = conv.kernel_size as i64;
        let d = conv.dilation as i64;
        let pads: [i64; 2] = match conv.padding {
            PaddingConfig1d::Explicit(left, right) => [left as i64, right as i64],
            PaddingConfig1d::Valid => [0, 0],
            PaddingConfig1d::Same => {
                let reach = d * (k - 1);
                [reach / 2, reach - reach / 2]
            }
        };
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.node(
            "Conv",
            &refs,
            &[
                Attr::Ints("strides", &[conv.stride as i64]),
                Attr::Ints("dilations", &[d]),
                Attr::Ints("pads", &pads),
                Attr::Int("group", conv.groups as i64),
            ],
        )
    }

    /// Batch norm in inference mode (running statistics), over axis 1.
    pub fn batch_norm(&mut self, name: &str, bn: &BatchNorm, x: &str) -> String {
        let scale = self.tensor(&format!("{name}.gamma"), bn.gamma.val());
        let bias = self.tensor(&format!("{name}.beta"), bn.beta.val());
        let mean = self.tensor(&format!("{name}.running_mean"), bn.running_mean.value());
        let var = self.tensor(&format!("{name}.running_var"), bn.running_var.value());
        self.state.push(Entry {
            name: format!("{name}.num_batches_tracked"),
            dims: Vec::new(),
            values: Values::I64(vec![0]),
        });
        self.node(
            "BatchNormalization",
            &[x, &scale, &bias, &mean, &var],
            &[Attr::Float("epsilon", bn.epsilon as f32)],
        )
    }

    /// `x W + b` over the last axis (Burn's `[in, out]` weight is ONNX's MatMul operand).
    pub fn linear(&mut self, name: &str, linear: &Linear, x: &str) -> String {
        let weight = linear.weight.val();
        let [d_in, d_out] = weight.dims();
        let values = weight
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 data");
        let transposed = (0..d_out * d_in)
            .map(|i| values[(i % d_in) * d_out + i / d_in])
            .collect();
        let w = format!("{name}.weight");
        self.keep(&w, &[d_out, d_in], transposed);
        let w = self.floats(&w, &[d_in, d_out], &values);
        let y = self.node("MatMul", &[x, &w], &[]);
        match &linear.bias {
            Some(b) => {
                let b = self.tensor(&format!("{name}.bias"), b.val());
                self.node("Add", &[&y, &b], &[])
            }
            None => y,
        }
    }

    pub fn layer_norm(&mut self, name: &str, norm: &LayerNorm, epsilon: f64, x: &str) -> String {
        let scale = self.tensor(&format!("{name}.gamma"), norm.gamma.val());
        let mut inputs = vec![x.to_string(), scale];
        if let Some(b) = &norm.beta {
            inputs.push(self.tensor(&format!("{name}.beta"), b.val()));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.node(
            "LayerNormalization",
            &refs,
            &[
                Attr::Int("axis", -1),
                Attr::Float("epsilon", epsilon as f32),
            ],
        )
    }

    pub fn relu(&mut self, x: &str) -> String {
        self.node("Relu", &[x], &[])
    }

    /// The exact GELU, `x/2 (1 + erf(x / sqrt 2))`.
    pub fn gelu(&mut self, x: &str) -> String {
        let root2 = self.scalar(std::f32::consts::SQRT_2);
        let half = self.scalar(0.5);
        let one = self.scalar(1.0);
        let scaled = self.node("Div", &[x, &root2], &[]);
        let erf = self.node("Erf", &[&scaled], &[]);
        let plus = self.node("Add", &[&erf, &one], &[]);
        let times = self.node("Mul", &[x, &plus], &[]);
        self.node("Mul", &[&times, &half], &[])
    }

    /// Mean over `axes`, dropping them.
    pub fn mean(&mut self, x: &str, axes: &[i64]) -> String {
        self.node(
            "ReduceMean",
            &[x],
            &[Attr::Ints("axes", axes), Attr::Int("keepdims", 0)],
        )
    }

    /// A pre-norm Transformer encoder with GELU, every token attending to every token, on
    /// `x: [B, T, D]` (as `transformer::encoder_forward` computes it).
    pub fn transformer(
        &mut self,
        name: &str,
        encoder: &TransformerEncoder,
        epsilon: f64,
        x: &str,
    ) -> String {
        let mut x = x.to_string();
        for (i, layer) in encoder.layers.iter().enumerate() {
            x = self.transformer_layer(&format!("{name}.layers.{i}"), layer, epsilon, &x);
        }
        x
    }

    fn transformer_layer(
        &mut self,
        name: &str,
        layer: &TransformerEncoderLayer,
        epsilon: f64,
        x: &str,
    ) -> String {
        let normed = self.layer_norm(&format!("{name}.norm_2"), &layer.norm_2, epsilon, x);
        let attended = self.attention(&format!("{name}.mha"), layer, &normed);
        let x = self.node("Add", &[x, &attended], &[]);
        let normed = self.layer_norm(&format!("{name}.norm_1"), &layer.norm_1, epsilon, &x);
        let ff = &layer.pwff;
        let h = self.linear(
            &format!("{name}.pwff.linear_inner"),
            &ff.linear_inner,
            &normed,
        );
        let h = self.gelu(&h);
        let h = self.linear(&format!("{name}.pwff.linear_outer"), &ff.linear_outer, &h);
        self.node("Add", &[&x, &h], &[])
    }

    fn attention(&mut self, name: &str, layer: &TransformerEncoderLayer, x: &str) -> String {
        let mha = &layer.mha;
        let q = self.linear(&format!("{name}.query"), &mha.query, x);
        let k = self.linear(&format!("{name}.key"), &mha.key, x);
        let v = self.linear(&format!("{name}.value"), &mha.value, x);
        let context = self.multi_head(&q, &k, &v, mha.n_heads, mha.d_k, None);
        self.linear(&format!("{name}.output"), &mha.output, &context)
    }

    /// Scaled dot-product attention of `q`, `k`, `v` (`[B, T, heads * d_k]` each, head `h` in
    /// columns `h d_k ..`) with `bias` (`[B or 1, 1, T or 1, T]`) added to the scores:
    /// `[B, T, heads * d_k]`.
    pub fn multi_head(
        &mut self,
        q: &str,
        k: &str,
        v: &str,
        heads: usize,
        d_k: usize,
        bias: Option<&str>,
    ) -> String {
        let (heads, d_k) = (heads as i64, d_k as i64);
        let split = self.ints(&[0, 0, heads, d_k]);
        let heads_of = |g: &mut Self, y: &str, perm: &[i64]| {
            let y = g.node("Reshape", &[y, &split], &[]);
            g.node("Transpose", &[&y], &[Attr::Ints("perm", perm)])
        };
        let q = heads_of(self, q, &[0, 2, 1, 3]);
        let k = heads_of(self, k, &[0, 2, 3, 1]);
        let v = heads_of(self, v, &[0, 2, 1, 3]);
        let scores = self.node("MatMul", &[&q, &k], &[]);
        let scale = self.scalar(1.0 / (d_k as f32).sqrt());
        let mut scores = self.node("Mul", &[&scores, &scale], &[]);
        if let Some(bias) = bias {
            scores = self.node("Add", &[&scores, bias], &[]);
        }
        let weights = self.node("Softmax", &[&scores], &[Attr::Int("axis", -1)]);
        let context = self.node("MatMul", &[&weights, &v], &[]);
        let context = self.node(
            "Transpose",
            &[&context],
            &[Attr::Ints("perm", &[0, 2, 1, 3])],
        );
        let merge = self.ints(&[0, 0, heads * d_k]);
        self.node("Reshape", &[&context, &merge], &[])
    }

    /// Columns `start..end` of the last axis.
    pub fn columns(&mut self, x: &str, start: usize, end: usize) -> String {
        let starts = self.ints(&[start as i64]);
        let ends = self.ints(&[end as i64]);
        let axes = self.ints(&[-1]);
        self.node("Slice", &[x, &starts, &ends, &axes], &[])
    }
}

fn value_info(port: &Port) -> Message {
    let mut shape = Message::new();
    for d in &port.dims {
        let mut dim = Message::new();
        match d {
            Ok(n) => dim.int(1, *n as i64),
            Err(name) => dim.string(2, name),
        };
        shape.message(1, &dim);
    }
    let mut tensor = Message::new();
    tensor
        .int(1, if port.int64 { INT64 } else { FLOAT })
        .message(2, &shape);
    let mut ty = Message::new();
    ty.message(1, &tensor);
    let mut v = Message::new();
    v.string(1, port.name).message(2, &ty);
    v
}
