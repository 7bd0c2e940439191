"""`autodidact export --format torch`: the module file and its state dict give our embeddings
in PyTorch, for every encoder type that exports. PyTorch is too large for CI: skipped there,
run by bench/reference/torch_export.sh."""

import importlib.util

import numpy as np
import pytest

from conftest import ENCODER_TYPES

torch = pytest.importorskip("torch", reason="PyTorch is not installed (bench/reference/torch_export.sh)")

TOLERANCE = 1e-4


@pytest.mark.parametrize("kind", ENCODER_TYPES)
def test_the_pytorch_module_gives_our_embeddings(kind, exportable, tmp_path):
    run, ours, feeds = exportable(kind)
    weights = run.export("torch", out=tmp_path / "encoder.pt")
    spec = importlib.util.spec_from_file_location("encoder", weights.with_suffix(".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load()
    with torch.no_grad():
        theirs = model(*[torch.from_numpy(v) for v in feeds.values()]).numpy()
    assert theirs.shape == ours.shape
    gap = np.abs(theirs - ours).max()
    print(f"torch {kind}: largest gap {gap:.2e} over {ours.size} values up to {np.abs(ours).max():.3g}")
    assert gap < TOLERANCE
