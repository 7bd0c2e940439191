"""`autodidact export --format onnx`: ONNX Runtime gives our embeddings, for every encoder type
that exports."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import ENCODER_TYPES

TOLERANCE = 1e-4


@pytest.mark.parametrize("kind", ENCODER_TYPES)
def test_onnx_runtime_gives_our_embeddings(kind, exportable):
    run, ours, feeds = exportable(kind)
    graph = run.export("onnx")
    metadata = {p.key: p.value for p in onnx.load(str(graph)).metadata_props}
    assert {"autodidact.input", "autodidact.preprocessing", "autodidact.output"} <= set(metadata)
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(feeds)
    theirs = session.run(None, feeds)[0]
    assert theirs.shape == ours.shape
    gap = np.abs(theirs - ours).max()
    print(f"onnx {kind}: largest gap {gap:.2e} over {ours.size} values up to {np.abs(ours).max():.3g}")
    assert gap < TOLERANCE
