"""The ranker's modules: shapes, causality, padding, side features, overfitting one batch."""

from __future__ import annotations

import pytest
import torch

from ranker.model import RankerConfig, SeqRanker, empty_side


def _tiny(**kw) -> RankerConfig:
    base = dict(n_items=30, n_attributes=5, n_categories=4, n_brands=3, n_price_buckets=3,
                n_dense=1, n_behaviors=4, max_len=8, d_model=16, n_layers=2, n_heads=2,
                dropout=0.0, attn_dropout=0.0)
    return RankerConfig(**{**base, **kw})


def _side(cfg: RankerConfig) -> dict:
    g = torch.Generator().manual_seed(0)
    n = cfg.n_items + 1
    side = {
        "attributes": torch.randint(0, cfg.n_attributes, (n, 3), generator=g),
        "category": torch.randint(0, cfg.n_categories, (n,), generator=g),
        "brand": torch.randint(0, cfg.n_brands, (n,), generator=g),
        "price_bucket": torch.randint(0, cfg.n_price_buckets, (n,), generator=g),
        "dense": torch.randn(n, cfg.n_dense, generator=g),
    }
    side["attributes"][0] = 0
    return side


def _model(**kw) -> SeqRanker:
    torch.manual_seed(0)
    cfg = _tiny(**kw)
    return SeqRanker(cfg, _side(cfg)).eval()


SEQ = torch.tensor([[0, 0, 0, 3, 7, 2, 9, 4], [0, 0, 0, 0, 0, 0, 5, 6]])
BEH = torch.tensor([[0, 0, 0, 1, 2, 1, 3, 1], [0, 0, 0, 0, 0, 0, 1, 1]])


def test_scores_cover_the_catalogue_and_never_padding():
    m = _model()
    scores, loss = m(SEQ, BEH)
    assert scores.shape == (2, 31) and loss is None
    assert torch.isinf(scores[:, 0]).all() and torch.isfinite(scores[:, 1:]).all()


def test_training_loss_is_cross_entropy_over_target_positions():
    m = _model()
    targets = torch.roll(SEQ, -1, dims=1) * (SEQ > 0)
    targets[:, -1] = torch.tensor([11, 12])
    scores, loss = m(SEQ, BEH, targets)
    keep = targets > 0
    assert scores.shape == (int(keep.sum()), 31)
    expected = torch.nn.functional.cross_entropy(scores, targets[keep])
    assert loss.item() == pytest.approx(expected.item())


def test_attention_is_causal():
    m = _model()
    table = m.item_table()
    h = m.encode(SEQ, BEH, table)
    later = SEQ.clone()
    later[0, -1] = 20  # changing the newest event must not change earlier positions
    h2 = m.encode(later, BEH, table)
    assert torch.allclose(h[0, :-1], h2[0, :-1], atol=1e-6)
    assert not torch.allclose(h[0, -1], h2[0, -1])


def test_extra_left_padding_does_not_change_scores():
    m = _model()
    full, _ = m(SEQ[1:], BEH[1:])
    cropped, _ = m(SEQ[1:, -2:], BEH[1:, -2:])  # the same user, without the padding columns
    assert torch.allclose(full, cropped, atol=1e-5)


def test_side_features_change_item_representations():
    m = _model()
    side_on = m.item_table()
    m_off = _model(use_side=False)
    assert not torch.allclose(side_on, m_off.item_table())
    # items sharing every side feature differ only through their id embeddings
    cfg = _tiny()
    bare = SeqRanker(cfg, empty_side(cfg))
    t = bare.item_table()
    assert torch.allclose(t, bare.items.item.weight)


def test_behaviour_type_is_embedded():
    m = _model()
    a, _ = m(SEQ, BEH)
    b, _ = m(SEQ, torch.where(SEQ > 0, 2, 0))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("kw", [{}, {"head": "hadamard"}, {"loss": "sampled", "n_negatives": 8},
                                {"freq_alpha": 0.0}])
def test_overfits_one_batch(kw):
    torch.manual_seed(0)
    cfg = _tiny(**kw)
    m = SeqRanker(cfg, _side(cfg))
    targets = torch.tensor([[0, 0, 0, 7, 2, 9, 4, 11], [0, 0, 0, 0, 0, 0, 6, 13]])
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    m.train()
    for _ in range(150):
        _, loss = m(SEQ, BEH, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    m.eval()
    scores, full_loss = m(SEQ, BEH, targets)
    assert full_loss.item() < 0.1
    keep = targets > 0
    assert (scores.argmax(1) == targets[keep]).all()  # every target ranked first


def test_inference_keeps_the_item_table_until_a_weight_changes():
    model = _model().eval()
    seq = torch.tensor([[0, 3, 5, 7]])
    calls = []
    real = model.items.forward
    model.items.forward = lambda side: calls.append(1) or real(side)
    with torch.no_grad():
        first, _ = model(seq)
        again, _ = model(seq)
    assert len(calls) == 1 and torch.equal(first, again)
    # The same scores as without the cache (autograd on: computed every time).
    fresh, _ = model(seq)
    assert len(calls) == 2 and torch.allclose(fresh, first)
    # A weight changed in place (an optimizer step, load_state_dict) is seen at once.
    with torch.no_grad():
        model.items.item.weight[3] += 1.0
        changed, _ = model(seq)
    assert len(calls) == 3 and not torch.equal(changed, first)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.items.item.weight.zero_()
        model.load_state_dict(state)
        restored, _ = model(seq)
    assert len(calls) == 4 and torch.equal(restored, changed)
    # Training mode never caches.
    model.train()
    with torch.no_grad():
        model(seq)
        model(seq)
    assert len(calls) == 6


# --- the frequency branch (BSARec's, made causal) ---------------------------------------------

FREQ = {"freq_alpha": 0.7, "freq_cutoff": 5}


@pytest.mark.parametrize("cutoff", [1, 3, 5, 9])
def test_causal_lowpass_is_bsarecs_filter_read_at_the_end_of_each_prefix(cutoff):
    """Row t of the filter gives what BSARec computes for the prefix ending at t: the prefix
    left-padded to max_len, an FFT over those positions keeping the cutoff // 2 + 1 lowest
    frequencies, the inverse FFT, the last position."""
    from ranker.model import causal_lowpass

    n = 12
    w = causal_lowpass(n, cutoff).double()  # (n, n)
    g = torch.Generator().manual_seed(cutoff)
    x = torch.randn(n, 4, generator=g, dtype=torch.float64)  # (n, d)
    for t in range(n):
        prefix = torch.zeros(n, 4, dtype=torch.float64)
        prefix[n - 1 - t:] = x[:t + 1]
        spectrum = torch.fft.rfft(prefix, dim=0, norm="ortho")
        spectrum[cutoff // 2 + 1:] = 0
        low = torch.fft.irfft(spectrum, n=n, dim=0, norm="ortho")
        assert torch.allclose(w[t] @ x, low[-1], atol=1e-6)
    assert torch.equal(w, w.tril())  # causal: no position reads a later one


def test_frequency_branch_is_causal_and_mixes_into_every_block():
    m = _model(**FREQ)
    assert all(b.freq is not None and b.alpha == 0.7 for b in m.blocks)
    table = m.item_table()
    h = m.encode(SEQ, BEH, table)
    later = SEQ.clone()
    later[0, -1] = 20
    h2 = m.encode(later, BEH, table)
    assert torch.allclose(h[0, :-1], h2[0, :-1], atol=1e-6)
    assert not torch.allclose(h[0, -1], h2[0, -1])
    off = _model(freq_alpha=0.0)
    assert all(b.freq is None for b in off.blocks)
    assert not torch.allclose(h, off.encode(SEQ, BEH, off.item_table()))
    m.train()
    _, loss = m(SEQ, BEH, torch.where(SEQ > 0, 1, 0))
    loss.backward()
    assert all(b.freq.sqrt_beta.grad.abs().sum() > 0 for b in m.blocks)  # beta is learned


def test_frequency_branch_ignores_left_padding():
    m = _model(**FREQ)
    full, _ = m(SEQ[1:], BEH[1:])
    cropped, _ = m(SEQ[1:, -2:], BEH[1:, -2:])
    assert torch.allclose(full, cropped, atol=1e-5)


def test_a_checkpoint_config_from_before_the_branch_loads_without_it():
    from dataclasses import asdict

    from ranker.model import config_from

    saved = asdict(_tiny())
    del saved["freq_alpha"], saved["freq_cutoff"]  # as written before the fields existed
    cfg = config_from(saved)
    assert cfg.freq_alpha == 0.0 and cfg == _tiny(freq_alpha=0.0)
    assert all(b.freq is None for b in SeqRanker(cfg, _side(cfg)).blocks)
    assert config_from(asdict(_tiny(**FREQ))).freq_alpha == 0.7


def test_contrastive_loss_is_nt_xent_without_same_target_negatives():
    from ranker.model import contrastive_loss

    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    targets = torch.tensor([5, 8, 5])  # states 0 and 2 share a target: never each other's negative
    z, y, temp = torch.cat([a, b]), torch.cat([targets, targets]), 0.5
    expected = 0.0
    for i in range(6):
        positive = (i + 3) % 6
        others = [j for j in range(6) if j == positive or y[j] != y[i]]
        logits = torch.stack([z[i] @ z[j] / temp for j in others])
        expected -= (logits[others.index(positive)] - torch.logsumexp(logits, 0)).item()
    assert contrastive_loss(a, b, targets, temp).item() == pytest.approx(expected / 6, rel=1e-5)


def test_contrastive_term_is_added_in_training_only():
    from ranker.model import contrastive_loss

    targets = torch.tensor([[0, 0, 0, 7, 2, 9, 4, 11], [0, 0, 0, 0, 0, 0, 6, 13]])
    plain, with_cl = _model(), _model(cl_weight=0.5, cl_temp=2.0)
    assert _model().state_dict().keys() == with_cl.state_dict().keys()  # no new weights
    _, eval_loss = with_cl(SEQ, BEH, targets)
    assert eval_loss.item() == pytest.approx(plain(SEQ, BEH, targets)[1].item())
    plain.train(), with_cl.train()  # no dropout: both views are the same states
    h = with_cl.encode(SEQ, BEH, with_cl.item_table())[targets > 0]
    term = 0.5 * contrastive_loss(h, h, targets[targets > 0], 2.0)
    _, train_loss = with_cl(SEQ, BEH, targets)
    assert term.item() > 0.1
    assert train_loss.item() == pytest.approx(plain(SEQ, BEH, targets)[1].item() + term.item(),
                                              rel=1e-5)
