"""Symmetric grids: exact mirror symmetry, exact centre and ends, odd sizes only."""

import pytest
import torch

from hessianlab.errors import ConfigError
from hessianlab.landscape import symmetric_grid


@pytest.mark.parametrize("radius", [0.1, 1.0, 3.7])
@pytest.mark.parametrize("num_points", [1, 3, 7, 21])
def test_grid_is_symmetric_and_contains_centre(radius: float, num_points: int) -> None:
    g = symmetric_grid(radius, num_points)
    assert g.dtype == torch.float64 and g.shape == (num_points,)
    mid = num_points // 2
    assert g[mid].item() == 0.0
    assert torch.equal(g, -g.flip(0))
    if num_points > 1:
        assert g[0].item() == -radius and g[-1].item() == radius
        assert bool((g[1:] > g[:-1]).all())
        torch.testing.assert_close(g, torch.linspace(-radius, radius, num_points, dtype=torch.float64),
                                   rtol=0, atol=1e-15 * radius * num_points)


def test_even_number_of_points_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError) as info:
        symmetric_grid(1.0, 20)
    message = str(info.value)
    assert "\n" not in message and "use 21" in message


@pytest.mark.parametrize("radius, num_points", [(0.0, 5), (-1.0, 5), (float("inf"), 5), (1.0, 0), (1.0, 2.0)])
def test_bad_grid_arguments_are_config_errors(radius: float, num_points: int) -> None:
    with pytest.raises(ConfigError):
        symmetric_grid(radius, num_points)
