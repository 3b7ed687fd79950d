import pytest
import torch

from wiseft_core.errors import WiseftError
from wiseft_core.pair import load_pair, resolve_device


def test_pair_endpoints_share_memory_with_the_engine(tiny_pair_files):
    zs, ft, _ = tiny_pair_files
    pair = load_pair(zs, ft)
    flat0 = pair.endpoints.flat0[torch.float32]
    start, end = flat0.data_ptr(), flat0.data_ptr() + flat0.numel() * 4
    assert all(start <= p.data_ptr() < end for p in pair.zeroshot.model.parameters())
    assert not pair.differs_only_in_head()


def test_new_interpolators_are_independent(tiny_pair_files):
    zs, ft, _ = tiny_pair_files
    pair = load_pair(zs, ft)
    a, b = pair.new_interpolator(), pair.new_interpolator()
    a.set_alpha(0.0)
    b.set_alpha(1.0)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(a.model(x), pair.zeroshot.model(x))
    torch.testing.assert_close(b.model(x), pair.finetuned.model(x))


def test_cuda_on_a_machine_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(WiseftError, match="no usable CUDA"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
