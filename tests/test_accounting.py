"""Counted FLOPs match hand counts; records carry stage, parameters and a positive time."""

import torch

from coala_lib.accounting import measure


def test_matmul_flops_are_counted_exactly() -> None:
    a, b = torch.randn(64, 32), torch.randn(32, 16)
    with measure("matmul", n=64) as record:
        a @ b
    assert record.flops == 2 * 64 * 32 * 16
    assert record.seconds > 0
    assert record.to_dict()["params"] == {"n": 64}


def test_linear_layer_forward_flops() -> None:
    layer = torch.nn.Linear(10, 7, bias=False)
    x = torch.randn(5, 10)
    with measure("linear") as record:
        layer(x)
    assert record.flops == 2 * 5 * 10 * 7


def test_flop_counting_can_be_switched_off() -> None:
    with measure("timed-only", count_flops=False) as record:
        torch.randn(8, 8) @ torch.randn(8, 8)
    assert record.flops == 0 and record.seconds > 0


def test_cpu_memory_growth_is_recorded() -> None:
    with measure("alloc", count_flops=False) as record:
        block = torch.ones(64, 1024, 1024)  # 256 MiB, touched
        block.add_(1)
    assert record.memory_kind == "cpu_rss_growth"
    assert record.peak_memory_bytes > 100 * 2**20
