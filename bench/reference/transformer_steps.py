"""PyTorch references for the Transformer step workloads of `autodidact bench` (bench.py runs them).

- vit-step: MAE on recipes/mnist-mae.toml's shapes: 1x28x28 digits in 7x7 patches (16 tokens, 75%
  hidden, a fresh mask every step), encoder width 128 with 4 pre-norm blocks of 4 heads, decoder 64
  wide with 2 blocks, normalised-pixel loss on the hidden patches, batch 128, AdamW (wd 0.05).
- text-step: a nanoGPT-style causal LM on recipes/tinyshakespeare-clm.toml's shapes: 4 blocks of
  192 with 4 heads, context 128, batch 32, 65 tokens, tied head, every position's next token.
- mlm-step: a BERT-style masked LM on recipes/sst2-mlm.toml's shapes: the same blocks, 64 rows of
  64 tokens, 8,000 pieces; each row packed with texts of 12, 9, 20, 15, 8, 14 tokens in turn (a
  token attends to its own text only, positions restart per text); 15% selected (80/10/10), the
  loss on the selected tokens only.

Every model uses the fused attention of PyTorch (`F.scaled_dot_product_attention`) and exact GELU.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

PACKED_LENGTHS = [12, 9, 20, 15, 8, 14]


class Block(nn.Module):
    """Pre-norm: x + attn(ln(x)), then x + mlp(ln(x)), MLP 4x wide with GELU."""

    def __init__(self, d, heads, eps=1e-5):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=eps)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x, mask=None, causal=False):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TextTransformer(nn.Module):
    """Token and learned position embeddings, blocks, final LayerNorm, head tied to the embedding."""

    def __init__(self, vocab, d, layers, heads, max_len):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def hidden(self, ids, positions, mask=None, causal=False):
        x = self.tok(ids) + self.pos(positions)
        for blk in self.blocks:
            x = blk(x, mask, causal)
        return self.ln(x)

    def logits(self, h):
        return h @ self.tok.weight.t()


def sincos_2d(dim, gh, gw):
    """MAE's fixed 2-D sine-cosine positions, [gh * gw, dim]: rows first, then columns."""
    quarter = dim // 4
    omega = 1.0 / 10_000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    parts = []
    for pos in (rows.reshape(-1), cols.reshape(-1)):
        a = pos[:, None].double() * omega[None]
        parts += [a.sin(), a.cos()]
    return torch.cat(parts, dim=1).float()


class Mae(nn.Module):
    def __init__(self, channels=1, size=28, patch=7, d=128, depth=4, heads=4, dd=64, ddepth=2, dheads=4):
        super().__init__()
        self.patch, self.g = patch, size // patch
        n, pd = self.g * self.g, patch * patch * channels
        self.embed = nn.Linear(pd, d)
        self.register_buffer("pos", sincos_2d(d, self.g, self.g)[None])
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.dec_embed = nn.Linear(d, dd)
        self.mask_token = nn.Parameter(torch.randn(1, 1, dd) * 0.02)
        self.register_buffer("dec_pos", sincos_2d(dd, self.g, self.g)[None])
        self.dec_blocks = nn.ModuleList(Block(dd, dheads) for _ in range(ddepth))
        self.dec_norm = nn.LayerNorm(dd, eps=1e-6)
        self.pred = nn.Linear(dd, pd)
        self.n = n

    def patchify(self, x):
        b, c, h, w = x.shape
        p, g = self.patch, self.g
        return x.reshape(b, c, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(b, g * g, p * p * c)

    def loss(self, x, mask_ratio=0.75):
        patches = self.patchify(x)
        b, n, _ = patches.shape
        keep = int(n * (1 - mask_ratio))
        ids_shuffle = torch.rand(b, n, device=x.device).argsort(dim=1)
        ids_restore = ids_shuffle.argsort(dim=1)
        tokens = self.embed(patches) + self.pos
        d = tokens.shape[2]
        h = tokens.gather(1, ids_shuffle[:, :keep, None].expand(-1, -1, d))
        for blk in self.blocks:
            h = blk(h)
        h = self.dec_embed(self.norm(h))
        y = torch.cat([h, self.mask_token.expand(b, n - keep, -1)], dim=1)
        y = y.gather(1, ids_restore[:, :, None].expand(-1, -1, y.shape[2])) + self.dec_pos
        for blk in self.dec_blocks:
            y = blk(y)
        pred = self.pred(self.dec_norm(y))
        mean = patches.mean(dim=-1, keepdim=True)
        var = patches.var(dim=-1, keepdim=True, unbiased=False)
        target = (patches - mean) / (var + 1e-6).sqrt()
        hidden = (ids_restore >= keep).float()
        per_patch = ((pred - target) ** 2).mean(dim=-1)
        return (per_patch * hidden).sum() / hidden.sum()


def packed_rows(b, t, device):
    """Block-diagonal attention mask [b, 1, t, t] (True where allowed) and per-text positions."""
    seg = torch.zeros(b, t, dtype=torch.long)
    pos = torch.zeros(b, t, dtype=torch.long)
    lengths = iter(PACKED_LENGTHS * (b * t))
    for r in range(b):
        filled, s = 0, 0
        while filled < t:
            n = min(next(lengths), t - filled)
            s += 1
            seg[r, filled : filled + n] = s
            pos[r, filled : filled + n] = torch.arange(n)
            filled += n
    mask = seg[:, None, :, None] == seg[:, None, None, :]
    return mask.to(device), pos.to(device)


def bert_mask(ids, vocab, select=0.15, first=5, mask_id=3):
    """BERT's selection: 15% of tokens; of those 80% [MASK], 10% a random piece, 10% unchanged."""
    chosen = torch.rand(ids.shape, device=ids.device) < select
    roll = torch.rand(ids.shape, device=ids.device)
    inputs = ids.clone()
    inputs[chosen & (roll < 0.8)] = mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = torch.randint(first, vocab, (int(swap.sum()),), device=ids.device)
    return inputs, chosen


def build(workload, batch_size, device):
    """The model, its optimiser and a function computing one step's loss, for `workload`."""
    torch.manual_seed(0)
    if workload == "vit-step":
        model = Mae().to(device)
        x = torch.rand(batch_size, 1, 28, 28, device=device) * 2 - 1
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
        return model, opt, lambda: model.loss(x), batch_size
    if workload == "text-step":
        vocab, t = 65, 128
        model = TextTransformer(vocab, 192, 4, 4, t).to(device)
        ids = torch.randint(0, vocab, (batch_size, t + 1), device=device)
        positions = torch.arange(t, device=device)[None].expand(batch_size, -1)

        def loss():
            h = model.hidden(ids[:, :-1], positions, causal=True)
            return F.cross_entropy(model.logits(h).reshape(-1, vocab), ids[:, 1:].reshape(-1))

        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        return model, opt, loss, batch_size * t
    if workload == "mlm-step":
        vocab, t = 8000, 64
        model = TextTransformer(vocab, 192, 4, 4, t).to(device)
        ids = torch.randint(5, vocab, (batch_size, t), device=device)
        mask, positions = packed_rows(batch_size, t, device)

        def loss():
            inputs, chosen = bert_mask(ids, vocab)
            h = model.hidden(inputs, positions, mask=mask)
            return F.cross_entropy(model.logits(h[chosen]), ids[chosen])

        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        return model, opt, loss, batch_size * t
    raise ValueError(workload)


def check_shapes():
    """A quick self-test of the pieces (python transformer_steps.py)."""
    mask, pos = packed_rows(2, 40, "cpu")
    assert mask.shape == (2, 1, 40, 40) and pos[0, :12].tolist() == list(range(12)) and pos[0, 12] == 0
    assert pos[1, 0] == 0 and int(mask[1, 0, 0].sum()) == 15
    assert sincos_2d(8, 2, 3).shape == (6, 8)
    for w in ["vit-step", "text-step", "mlm-step"]:
        model, opt, loss, items = build(w, 4, "cpu")
        value = loss()
        assert math.isfinite(value.item()), w
        value.backward()
    print("ok")


if __name__ == "__main__":
    check_shapes()
