//! Trained encoders written for other runtimes: ONNX graphs ([`onnx`]).

pub mod onnx;
mod proto;
