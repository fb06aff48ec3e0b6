"""Names and patterns are asked together in alternations prometheus-mcp accepts (metric names, the scope's names)."""

from __future__ import annotations

import re

from common.investigation.identity import MAX_PATTERN, alternations, quote_meta


def test_alternations_stay_within_the_servers_bound_and_select_every_name_they_join() -> None:
    names = [f"service-{i:03d}.example" for i in range(60)]
    groups = alternations([quote_meta(n) for n in names])

    assert len(groups) > 1
    assert all(len(group) <= MAX_PATTERN for group in groups)
    # Every name is selected by exactly one group, literally (the dot is no wildcard).
    assert all(sum(bool(re.fullmatch(g, n)) for g in groups) == 1 for n in names)
    assert not any(re.fullmatch(g, "service-000Xexample") for g in groups)


def test_a_regex_schemes_patterns_are_joined_whole() -> None:
    (group,) = alternations(["cart-[a-z0-9]{5}", "shop-[0-9]+"])

    assert re.fullmatch(group, "cart-x2x4z")
    assert re.fullmatch(group, "shop-0")
    assert not re.fullmatch(group, "cart-x2x4zshop-0")
