//! Trained encoders written for other runtimes: ONNX graphs ([`onnx`]) and PyTorch state
//! dicts ([`torch`]).

pub mod onnx;
mod proto;
pub mod torch;
mod zip;
