"""A causal self-attention sequential recommender (SASRec family) with item side features.

An item's representation is its id embedding plus the mean of its attribute embeddings and the
embeddings of its category, brand and price bucket (and a projection of its dense features). The
same table embeds the input sequence and scores the whole catalogue at the output (weight tying),
so an item seldom seen in training still borrows signal from its attributes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class RankerConfig:
    """Shape and regularisation of the ranker; vocabulary sizes count the padding index 0."""

    n_items: int  # catalogue size N; item indices are 1..N, 0 is padding
    n_attributes: int = 1  # attribute vocabulary (1 = no attributes)
    n_categories: int = 1  # category vocabulary (1 = no categories)
    n_brands: int = 1  # brand vocabulary (1 = no brands)
    n_price_buckets: int = 1  # price-bucket vocabulary (1 = no prices)
    n_dense: int = 0  # number of dense numeric item features
    n_behaviors: int = 1  # behaviour vocabulary (pv/cart/fav/buy...); 1 = not embedded
    max_len: int = 50  # longest input sequence; older events are dropped
    # Width of every embedding and hidden state. 128 with TrainConfig's weight decay 0.1, over
    # 3 seeds (bench/RESULTS.md): Beauty NDCG@10 .0593 -> .0615, Toys .0673 -> .0680 (64, no decay).
    d_model: int = 128
    n_layers: int = 2  # Transformer blocks
    n_heads: int = 1  # attention heads per block
    dropout: float = 0.5  # dropout on embeddings, residual branches and feed-forward
    attn_dropout: float = 0.5  # dropout on attention weights
    use_side: bool = True  # add attribute/category/brand/price/dense embeddings to item embeddings
    use_behavior: bool = True  # add the behaviour type of each input event
    head: str = "dot"  # "dot": score = h·e; "hadamard": score = w·(h ⊙ e), w learned
    loss: str = "ce"  # "ce": softmax over all items; "sampled": softmax over sampled negatives
    n_negatives: int = 512  # negatives per batch for loss="sampled" (shared across the batch)
    # Frequency branch beside attention (BSARec's, made causal; 0 = off): each block mixes
    # alpha * (low-pass + beta^2 * high-pass of its input) with (1 - alpha) * attention.
    # On seed 42's validation NDCG@10: Beauty .0712 -> .0735, Toys .0768 -> .0789 (RESULTS.md).
    freq_alpha: float = 0.7
    freq_cutoff: int = 5  # BSARec's c: the low-pass keeps the c // 2 + 1 lowest frequencies
    # Contrastive term (DuoRec's unsupervised view, 0 = off): in training each batch is encoded
    # twice (two dropout draws); InfoNCE pulls a position's two states together against the
    # batch's other positions, positions sharing its target never counted as negatives.
    cl_weight: float = 0.0
    cl_temp: float = 1.0  # temperature of the dot-product similarity


class ItemEncoder(nn.Module):
    """Embeds every catalogue item from its id and side features: one (N+1, d) table."""

    def __init__(self, cfg: RankerConfig):
        super().__init__()
        d = cfg.d_model
        self.use_side = cfg.use_side
        self.item = nn.Embedding(cfg.n_items + 1, d, padding_idx=0)
        if cfg.use_side:
            self.attr = nn.EmbeddingBag(cfg.n_attributes, d, mode="mean", padding_idx=0)
            self.category = nn.Embedding(cfg.n_categories, d, padding_idx=0)
            self.brand = nn.Embedding(cfg.n_brands, d, padding_idx=0)
            self.price = nn.Embedding(cfg.n_price_buckets, d, padding_idx=0)
            self.dense = nn.Linear(cfg.n_dense, d, bias=False) if cfg.n_dense else None

    def forward(self, side: dict[str, torch.Tensor]) -> torch.Tensor:
        e = self.item.weight  # (N+1, d)
        if self.use_side:
            e = e + self.attr(side["attributes"])  # (N+1, d), mean over each item's attributes
            e = e + self.category(side["category"]) + self.brand(side["brand"])  # (N+1, d)
            e = e + self.price(side["price_bucket"])  # (N+1, d)
            if self.dense is not None:
                e = e + self.dense(side["dense"])  # (N+1, d)
        return e


# What a checkpoint written before a field existed was trained with (its config lacks the field).
_BEFORE = {"freq_alpha": 0.0}


def config_from(saved: dict) -> RankerConfig:
    """The RankerConfig a checkpoint's ``model_config`` describes, whatever its age."""
    return RankerConfig(**{**_BEFORE, **saved})


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t sees positions <= t that are not padding."""

    def __init__(self, cfg: RankerConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_heads == 0
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.attn_dropout = cfg.attn_dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)  # 3 x (B, L, d)
        q = q.view(B, L, self.n_heads, d // self.n_heads).transpose(1, 2)  # (B, h, L, d/h)
        k = k.view(B, L, self.n_heads, d // self.n_heads).transpose(1, 2)  # (B, h, L, d/h)
        v = v.view(B, L, self.n_heads, d // self.n_heads).transpose(1, 2)  # (B, h, L, d/h)
        p = self.attn_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)  # (B,h,L,d/h)
        y = y.transpose(1, 2).reshape(B, L, d)  # (B, L, d)
        return self.proj(y)  # (B, L, d)


def causal_lowpass(max_len: int, cutoff: int) -> torch.Tensor:
    """(max_len, max_len) lower-triangular filter: row t is the low-pass of the events <= t.

    BSARec low-passes a sequence with an FFT over its max_len positions, keeping the
    ``cutoff // 2 + 1`` lowest frequencies, and reads the result at the last position; trained
    on every prefix, that reading is a causal convolution with the kernel g below (the last row
    of the circulant projection). So each position t gets sum_k g[k] x[t - k] and never sees a
    later event, which lets the ranker train on every position at once.
    """
    n, kept = max_len, cutoff // 2 + 1
    k = torch.arange(n, dtype=torch.float64)
    g = torch.ones(n, dtype=torch.float64)
    for f in range(1, kept):
        g += (1.0 if 2 * f == n else 2.0) * torch.cos(2 * math.pi * f * k / n)
    g /= n
    lag = k.unsqueeze(1) - k.unsqueeze(0)  # (n, n): t - s
    w = torch.where(lag >= 0, g[lag.clamp(min=0).long()], torch.zeros((), dtype=torch.float64))
    return w.float()


class FrequencyMixer(nn.Module):
    """Low-pass of the events so far plus a learned share (beta^2, per channel) of the rest."""

    def __init__(self, cfg: RankerConfig):
        super().__init__()
        self.register_buffer("lowpass", causal_lowpass(cfg.max_len, cfg.freq_cutoff),
                             persistent=False)
        self.sqrt_beta = nn.Parameter(torch.randn(cfg.d_model))

    def forward(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        x = x * real.unsqueeze(-1)  # (B, L, d): padding contributes nothing
        low = self.lowpass[:L, :L] @ x  # (B, L, d); any L x L corner is the same Toeplitz
        return low + self.sqrt_beta ** 2 * (x - low)  # (B, L, d)


class Block(nn.Module):
    """Pre-norm Transformer block: attention then a GELU feed-forward, each residual."""

    def __init__(self, cfg: RankerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.alpha = cfg.freq_alpha
        self.freq = FrequencyMixer(cfg) if cfg.freq_alpha > 0 else None
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, 4 * cfg.d_model),
            nn.GELU(),
            nn.Linear(4 * cfg.d_model, cfg.d_model),
            nn.Dropout(cfg.dropout),
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor,
                real: torch.Tensor | None = None) -> torch.Tensor:
        z = self.ln1(x)  # (B, L, d)
        y = self.attn(z, allowed)  # (B, L, d)
        if self.freq is not None:
            y = self.alpha * self.freq(z, real) + (1 - self.alpha) * y  # (B, L, d)
        x = x + self.drop(y)  # (B, L, d)
        x = x + self.ff(self.ln2(x))  # (B, L, d)
        return x


class SeqRanker(nn.Module):
    """Encodes a user's recent events and scores every catalogue item as the next one."""

    def __init__(self, cfg: RankerConfig, side: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.cfg = cfg
        self.items = ItemEncoder(cfg)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        self.behavior = (nn.Embedding(cfg.n_behaviors, cfg.d_model, padding_idx=0)
                         if cfg.use_behavior and cfg.n_behaviors > 2 else None)
        self.emb_ln = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head_w = nn.Parameter(torch.ones(cfg.d_model)) if cfg.head == "hadamard" else None
        # Side features are data, not weights: buffers follow .to(device) but stay out of the
        # optimizer; not persistent: the checkpoint stores the data itself, once.
        for name, t in (side or empty_side(cfg)).items():
            self.register_buffer(f"side_{name}", t, persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding | nn.EmbeddingBag):
            nn.init.normal_(m.weight, std=0.02)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()

    def item_table(self) -> torch.Tensor:
        """(N+1, d) representation of every item; row 0 (padding) is never scored.

        In inference (eval mode, no autograd) the table is computed once and kept until a
        weight or side tensor changes (in place, as an optimizer step or ``load_state_dict``
        does, or replaced): every request and scoring batch otherwise rebuilt all N rows from
        their attribute, category, brand and price embeddings.
        """
        side = {k: getattr(self, f"side_{k}") for k in SIDE_KEYS}
        if self.training or torch.is_grad_enabled():
            return self.items(side)  # (N+1, d)
        key = tuple((id(t), t._version, t.device) for t in (*self.items.parameters(),
                                                             *side.values()))
        cached = self.__dict__.get("_item_table")
        if cached is None or cached[0] != key:
            cached = (key, self.items(side))
            self.__dict__["_item_table"] = cached  # not a module attribute: never saved
        return cached[1]

    def encode(self, seq: torch.Tensor, beh: torch.Tensor | None, table: torch.Tensor):
        """Hidden state after each position of left-padded sequences ``seq`` (B, L)."""
        B, L = seq.shape
        real = seq > 0  # (B, L)
        # Left padding keeps the newest event in the last column, so position p of column j is
        # max_len - L + j: a batch cropped to its longest sequence scores exactly as a full one.
        pos = torch.arange(self.cfg.max_len - L, self.cfg.max_len, device=seq.device)  # (L,)
        x = table[seq] * math.sqrt(self.cfg.d_model) + self.pos(pos)  # (B, L, d)
        if self.behavior is not None and beh is not None:
            x = x + self.behavior(beh)  # (B, L, d)
        x = self.drop(self.emb_ln(x)) * real.unsqueeze(-1)  # (B, L, d)
        causal = torch.ones(L, L, dtype=torch.bool, device=seq.device).tril()  # (L, L)
        # A padding row may see itself only, so no attention row is empty (no NaN).
        allowed = (causal & real.unsqueeze(1)) | torch.eye(L, dtype=torch.bool, device=seq.device)
        allowed = allowed.unsqueeze(1)  # (B, 1, L, L)
        for block in self.blocks:
            x = block(x, allowed, real)  # (B, L, d)
        return self.ln_f(x)  # (B, L, d)

    def score(self, h: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Scores of every item for hidden states ``h`` (M, d); the padding column is -inf."""
        if self.head_w is not None:
            h = h * self.head_w  # (M, d): w·(h ⊙ e) = (w ⊙ h)·e
        s = h @ table.T  # (M, N+1)
        s[:, 0] = float("-inf")
        return s

    def forward(self, seq: torch.Tensor, beh: torch.Tensor | None = None,
                targets: torch.Tensor | None = None):
        """Without targets: (scores of the next item after each sequence (B, N+1), None).

        With targets (B, L), the next item after every position (0 = no target): (scores at the
        positions that have a target (M, N+1), mean cross-entropy over those positions); in
        training mode the scores are None (the loss never holds them all at once).
        """
        table = self.item_table()  # (N+1, d)
        h = self.encode(seq, beh, table)  # (B, L, d)
        if targets is None:
            return self.score(h[:, -1], table), None  # (B, N+1)
        keep = targets > 0  # (B, L)
        h, y = h[keep], targets[keep]  # (M, d), (M,)
        extra = h.new_zeros(())
        if self.training and self.cfg.cl_weight > 0:
            h2 = self.encode(seq, beh, table)[keep]  # (M, d): the same positions, other dropout
            extra = self.cfg.cl_weight * contrastive_loss(h, h2, y, self.cfg.cl_temp)
        if self.cfg.loss == "sampled" and self.training:
            return None, self._sampled_loss(h, y, table) + extra
        # Full softmax in chunks of rows: on CPU, one (M, N+1) block is allocated fresh (and
        # page-faulted) by every elementwise op, several times slower than cache-sized chunks.
        scores, loss = [], h.new_zeros(())
        for hc, yc in zip(h.split(CE_CHUNK), y.split(CE_CHUNK), strict=True):
            sc = self.score(hc, table)  # (C, N+1)
            loss = loss + F.cross_entropy(sc, yc, reduction="sum")
            scores.append(sc.detach())
        scores = None if self.training else torch.cat(scores)  # (M, N+1) when evaluating
        return scores, loss / max(len(y), 1) + extra

    def _sampled_loss(self, h: torch.Tensor, y: torch.Tensor, table: torch.Tensor):
        """Softmax over the positive and ``n_negatives`` uniform items shared by the batch."""
        if self.head_w is not None:
            h = h * self.head_w  # (M, d)
        neg = torch.randint(1, self.cfg.n_items + 1, (self.cfg.n_negatives,), device=h.device)
        pos = (h * table[y]).sum(-1, keepdim=True)  # (M, 1)
        negs = h @ table[neg].T  # (M, K)
        negs = negs.masked_fill(neg.unsqueeze(0) == y.unsqueeze(1), float("-inf"))  # (M, K)
        logits = torch.cat([pos, negs], dim=1)  # (M, 1+K)
        return F.cross_entropy(logits, torch.zeros_like(y))


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, targets: torch.Tensor,
                     temp: float) -> torch.Tensor:
    """NT-Xent over two views ``a``, ``b`` (M, d) of the same M positions: each state's positive
    is its other view; every other state is a negative unless it has the same target item."""
    m = len(a)
    z = torch.cat([a, b])  # (2M, d)
    sim = z @ z.T / temp  # (2M, 2M)
    positive = torch.arange(2 * m, device=a.device).roll(m)  # (2M,): i's other view
    y = torch.cat([targets, targets])  # (2M,)
    excluded = y.unsqueeze(0) == y.unsqueeze(1)  # (2M, 2M): itself and same-target states
    excluded[torch.arange(2 * m, device=a.device), positive] = False
    return F.cross_entropy(sim.masked_fill(excluded, float("-inf")), positive)


CE_CHUNK = 128  # rows of the (M, N+1) score matrix the softmax loss handles at a time
SIDE_KEYS = ("attributes", "category", "brand", "price_bucket", "dense")


def empty_side(cfg: RankerConfig) -> dict[str, torch.Tensor]:
    """Side features of a catalogue without any: every item unknown."""
    n = cfg.n_items + 1
    return {
        "attributes": torch.zeros(n, 1, dtype=torch.long),
        "category": torch.zeros(n, dtype=torch.long),
        "brand": torch.zeros(n, dtype=torch.long),
        "price_bucket": torch.zeros(n, dtype=torch.long),
        "dense": torch.zeros(n, cfg.n_dense),
    }
