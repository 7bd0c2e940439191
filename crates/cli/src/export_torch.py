"""An autodidact encoder as a self-contained PyTorch module (written by `autodidact export
--format torch`; needs only torch). Its forward is the one autodidact's `embed` computes, the
preprocessing included; the state dict beside this file has matching names:

    import torch, encoder               # this file
    model = encoder.load()              # the module, its weights loaded, in eval mode
    z = model(x)                        # see INPUT below
"""

import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn


class ConvBnRelu(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Pixels(nn.Module):
    """Pixels 0 to 255 to the network's input scale."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x):
        return (x / 255.0 - self.mean) / self.std


class SmallCnn(nn.Module):
    def __init__(self, channels, mean, std, widths=(32, 64, 128, 256)):
        super().__init__()
        self.pixels = Pixels(mean, std)
        c_in, blocks = channels, []
        for i, width in enumerate(widths):
            blocks.append(ConvBnRelu(c_in, width, 1 if i == 0 else 2))
            c_in = width
        self.blocks = nn.ModuleList(blocks)

    def forward(self, pixels):
        x = self.pixels(pixels)
        for block in self.blocks:
            x = block(x)
        return x.mean((2, 3))


class Downsample(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return self.bn(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        change = stride != 1 or c_in != c_out
        self.downsample = Downsample(c_in, c_out, stride) if change else None

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    def __init__(self, channels, mean, std):
        super().__init__()
        self.pixels = Pixels(mean, std)
        self.stem = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(64)
        blocks, c_in = [], 64
        for stage, width in enumerate([64, 128, 256, 512]):
            blocks.append(BasicBlock(c_in, width, 1 if stage == 0 else 2))
            blocks.append(BasicBlock(width, width, 1))
            c_in = width
        self.blocks = nn.ModuleList(blocks)

    def forward(self, pixels):
        x = F.relu(self.stem_bn(self.stem(self.pixels(pixels))))
        for block in self.blocks:
            x = block(x)
        return x.mean((2, 3))


def attend(q, k, v, heads, bias=None):
    """Scaled dot-product attention over `[B, T, heads * d]` inputs, `bias` added to the scores."""
    b, t, d = q.shape
    split = lambda y: y.reshape(b, -1, heads, d // heads).transpose(1, 2)
    q, k, v = split(q), split(k), split(v)
    scores = q @ k.transpose(2, 3) / math.sqrt(d // heads)
    if bias is not None:
        scores = scores + bias
    context = torch.softmax(scores, dim=-1) @ v
    return context.transpose(1, 2).reshape(b, t, d)


class Attention(nn.Module):
    """Burn's multi-head attention: separate query, key, value and output projections."""

    def __init__(self, dim, heads):
        super().__init__()
        self.query, self.key = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.value, self.output = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.heads = heads

    def forward(self, x):
        return self.output(attend(self.query(x), self.key(x), self.value(x), self.heads))


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.linear_inner, self.linear_outer = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.linear_outer(F.gelu(self.linear_inner(x)))


class EncoderLayer(nn.Module):
    """Burn's pre-norm layer: `norm_2` before the attention, `norm_1` before the feed-forward."""

    def __init__(self, dim, heads):
        super().__init__()
        self.norm_2, self.mha = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm_1, self.pwff = nn.LayerNorm(dim), FeedForward(dim, 4 * dim)

    def forward(self, x):
        x = x + self.mha(self.norm_2(x))
        return x + self.pwff(self.norm_1(x))


class Layers(nn.Module):
    def __init__(self, dim, heads, depth):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(dim, heads) for _ in range(depth))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Vit(nn.Module):
    def __init__(self, channels, mean, std, patch, dim, depth, heads, side):
        super().__init__()
        self.pixels = Pixels(mean, std)
        self.patch, self.grid = patch, side // patch
        self.patch_embed = nn.Linear(patch * patch * channels, dim)
        self.register_buffer("position_embedding", torch.zeros(1, self.grid**2, dim))
        self.blocks = Layers(dim, heads, depth)
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, pixels):
        x = self.pixels(pixels)
        b, c, p, g = x.shape[0], x.shape[1], self.patch, self.grid
        x = x[:, :, : g * p, : g * p].reshape(b, c, g, p, g, p)
        patches = x.permute(0, 2, 4, 3, 5, 1).reshape(b, g * g, p * p * c)
        tokens = self.patch_embed(patches) + self.position_embedding
        return self.norm(self.blocks(tokens)).mean(1)


class DilatedConv(nn.Module):
    def __init__(self, c_in, c_out, dilation):
        super().__init__()
        self.taps = nn.Conv1d(c_in, c_out, 3, padding=dilation, dilation=dilation)

    def forward(self, x):
        return self.taps(x)


class ConvBlock(nn.Module):
    def __init__(self, c_in, c_out, dilation):
        super().__init__()
        self.conv1 = DilatedConv(c_in, c_out, dilation)
        self.conv2 = DilatedConv(c_out, c_out, dilation)
        self.projection = nn.Linear(c_in, c_out) if c_in != c_out else None

    def forward(self, h):
        residual = h if self.projection is None else self.projection(h)
        a = self.conv1(F.gelu(h).transpose(1, 2))
        a = self.conv2(F.gelu(a)).transpose(1, 2)
        return a + residual


class Scaler(nn.Module):
    """Each channel standardised by the training set's mean and standard deviation."""

    def __init__(self, channels):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, channels, 1))
        self.register_buffer("std", torch.ones(1, channels, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class SeriesEncoder(nn.Module):
    """Fully observed series `[B, channels, T]` of raw values -> `[B, out_dim]`."""

    def __init__(self, channels, hidden, out_dim, depth):
        super().__init__()
        self.scaler = Scaler(channels)
        self.input = nn.Linear(channels, hidden)
        widths, blocks, c_in = [hidden] * depth + [out_dim], [], hidden
        for i, c_out in enumerate(widths):
            blocks.append(ConvBlock(c_in, c_out, 2**i))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)

    def forward(self, series):
        h = self.input(self.scaler(series).transpose(1, 2))
        for block in self.blocks:
            h = block(h)
        return h.max(1).values


class Block(nn.Module):
    """autodidact's pre-norm block: one `qkv` projection, `proj`, and a GELU MLP."""

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.qkv, self.proj = nn.LayerNorm(dim), nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.norm2, self.fc1, self.fc2 = nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.heads = heads

    def forward(self, x, bias=None):
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        x = x + self.proj(attend(q, k, v, self.heads, bias))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class TextEncoder(nn.Module):
    """Token ids and their valid mask, `[B, T]` each -> the mean of the valid tokens' states."""

    def __init__(self, vocab, d_model, layers, heads, max_len, causal):
        super().__init__()
        self.token = nn.Embedding(vocab, d_model)
        self.position = nn.Embedding(max_len, d_model)
        if causal:
            self.register_buffer("causal_mask", torch.zeros(max_len, max_len))
        self.causal = causal
        self.blocks = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, ids, valid):
        t = ids.shape[1]
        x = self.token(ids) + self.position.weight[:t]
        bias = (valid[:, None, None, :] - 1.0) * 1e9
        if self.causal:
            bias = bias + self.causal_mask[:t, :t]
        for block in self.blocks:
            x = block(x, bias)
        weights = valid[:, :, None]
        return (self.norm(x) * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class ConvLayer(nn.Module):
    def __init__(self, c_in, c_out, kernel, stride):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride)
        self.norm = nn.LayerNorm(c_out)

    def forward(self, x):
        return F.gelu(self.norm(self.conv(x).transpose(1, 2))).transpose(1, 2)


class Wav2Vec2Encoder(nn.Module):
    """Clips of one length `[B, 1, samples]` -> the mean over frames of the mean of every
    Transformer block's output."""

    def __init__(self, conv_channels, kernels, strides, d_model, layers, heads, pos_kernel, pos_groups):
        super().__init__()
        c_in, convs = 1, []
        for k, s in zip(kernels, strides):
            convs.append(ConvLayer(c_in, conv_channels, k, s))
            c_in = conv_channels
        self.convs = nn.ModuleList(convs)
        self.feature_norm = nn.LayerNorm(conv_channels)
        self.projection = nn.Linear(conv_channels, d_model)
        self.pos_conv = nn.Conv1d(d_model, d_model, pos_kernel, groups=pos_groups)
        self.pos_pad = (pos_kernel // 2, (pos_kernel - 1) // 2)
        self.blocks = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, wave):
        mean = wave.mean(2, keepdim=True)
        var = ((wave - mean) ** 2).mean(2, keepdim=True)
        x = (wave - mean) / torch.sqrt(var + 1e-7)
        for conv in self.convs:
            x = conv(x)
        x = self.projection(self.feature_norm(x.transpose(1, 2)))
        pos = self.pos_conv(F.pad(x.transpose(1, 2), self.pos_pad)).transpose(1, 2)
        x = x + F.gelu(pos)
        states = []
        for block in self.blocks:
            x = block(x)
            states.append(x)
        last = states.pop() if states else x
        states.append(self.final_norm(last))
        return (sum(states) / len(states)).mean(1)


class LogMel(nn.Module):
    """The log-mel spectrogram: the windowed DFT as a strided convolution, the squares through
    the mel filters, the floor and log; each spectrogram standardised on its own."""

    def __init__(self, window, hop, bins, n_mels):
        super().__init__()
        self.register_buffer("dft", torch.zeros(2 * bins, 1, window))
        self.register_buffer("mel", torch.zeros(2 * bins, n_mels))
        self.hop = hop

    def forward(self, wave):
        parts = F.conv1d(F.pad(wave, (0, self.hop - 1)), self.dft, stride=self.hop)
        energy = (parts * parts).transpose(1, 2) @ self.mel
        log_mel = energy.clamp_min(1e-10).log()
        mean = log_mel.mean((1, 2), keepdim=True)
        std = ((log_mel - mean) ** 2).mean((1, 2), keepdim=True).sqrt()
        return (log_mel - mean) / (std + 1e-5)


class SpectrogramBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SpectrogramCnn(nn.Module):
    """audio-byol's encoder: clips of one length `[B, 1, samples]` -> the mean and the maximum
    over frames of its frame features."""

    def __init__(self, window, hop, bins, n_mels, widths, frame_dim):
        super().__init__()
        self.features = LogMel(window, hop, bins, n_mels)
        c_in, blocks, bands = 1, [], n_mels
        for width in widths:
            blocks.append(SpectrogramBlock(c_in, width))
            c_in, bands = width, (bands + 1) // 2
        self.blocks = nn.ModuleList(blocks)
        self.frame = nn.Linear(c_in * bands, frame_dim)

    def forward(self, wave):
        x = self.features(wave)[:, None]
        for block in self.blocks:
            x = block(x)
        b, c, t, m = x.shape
        frames = F.relu(self.frame(x.transpose(1, 2).reshape(b, t, c * m)))
        return torch.cat([frames.mean(1), frames.max(1).values], dim=-1)


ENCODERS = {
    "audio-byol": SpectrogramCnn,
    "cnn": SmallCnn,
    "resnet18": ResNet18,
    "vit": Vit,
    "series": SeriesEncoder,
    "text": TextEncoder,
    "wav2vec2": Wav2Vec2Encoder,
}


def load(weights=None):
    """The encoder with its weights (by default the `.pt` file beside this one), in eval mode."""
    model = ENCODERS[ENCODER](**SETTINGS)
    weights = weights or os.path.splitext(os.path.abspath(__file__))[0] + ".pt"
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()
