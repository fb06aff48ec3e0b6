"""Template mining on generated logs whose templates are known, and masking of each kind of value."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

import pytest

from analysis.templates import TemplateMiner, mask


def grouping_accuracy(truth: Sequence[int], predicted: Sequence[str]) -> float:
    """Share of lines whose cluster holds exactly the lines of their true template, no more, no fewer.

    The "grouping accuracy" of Zhu et al. (ICSE-SEIP 2019): a template split over two clusters,
    or two templates merged into one, makes all of their lines count as wrong.
    """
    pairs = Counter(zip(predicted, truth, strict=True))
    cluster_sizes, template_sizes = Counter(predicted), Counter(truth)
    return sum(n for (c, t), n in pairs.items() if n == cluster_sizes[c] == template_sizes[t]) / len(truth)


def adjusted_rand_index(truth: Sequence[int], predicted: Sequence[str]) -> float:
    """Agreement of two partitions over all pairs of lines, corrected for chance: 1 identical, ~0 random."""

    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    joint = sum(pairs(n) for n in Counter(zip(predicted, truth, strict=True)).values())
    a = sum(pairs(n) for n in Counter(predicted).values())
    b = sum(pairs(n) for n in Counter(truth).values())
    expected = a * b / pairs(len(truth))
    return (joint - expected) / ((a + b) / 2 - expected)


def _fields(r: random.Random) -> dict[str, Callable[[], str]]:
    return {
        "ip": lambda: ".".join(str(r.randrange(256)) for _ in range(4)),
        "port": lambda: str(r.randrange(1, 65536)),
        "n": lambda: str(r.randrange(10 ** r.randrange(1, 7))),
        "f": lambda: f"{r.uniform(0, 1000):.{r.randrange(1, 4)}f}",
        "dur": lambda: r.choice(
            [f"{r.randrange(1000)}ms", f"{r.uniform(0, 60):.1f}s", f"{r.randrange(1, 9)}m{r.randrange(60)}s"]
        ),
        "uuid": lambda: "-".join(f"{r.getrandbits(4 * k):0{k}x}" for k in (8, 4, 4, 4, 12)),
        "hex": lambda: f"0x{r.getrandbits(32):x}",
        "path": lambda: (
            "/" + "/".join(r.choice(["srv", "data", "log", "app", "v2", "tmp"]) for _ in range(r.randrange(1, 5)))
        ),
        "q": lambda: (
            (quote := r.choice("\"'")) + " ".join(r.choice(["no", "such", "key", "bad"]) for _ in range(3)) + quote
        ),
        "user": lambda: r.choice(["alice", "bob", "carol", "dave", "erin"]),
        "size": lambda: f"{r.randrange(1, 999)}{r.choice(['KB', 'MB', 'GiB'])}",
        "ts": lambda: (
            f"2026-11-{r.randrange(1, 29):02d}T{r.randrange(24):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}Z"
        ),
    }


TEMPLATES = [
    "connection refused to {ip}:{port}",
    "connection to {ip}:{port} closed after {dur}",
    "user {user} logged in from {ip}",
    "user {user} logged out",
    "GET {path} took {dur}",
    "request {uuid} failed with status {n}",
    "request {uuid} succeeded in {dur}",
    "cache miss for key {q}",
    "cache evicted {n} entries, {size} freed",
    "worker {n} restarted, exit code {n}",
    "opened file {path} with mode {q}",
    "segment {hex} flushed to {path}",
    "temperature sensor reads {f} degrees",
    "queue depth is {n}, threshold {n}",
    "backup finished at {ts}, {size} written",
    "retrying {ip} in {dur} (attempt {n} of {n})",
    "invalid token for user {user}: {q}",
    "allocated {size} for buffer {hex}",
    "health check on port {port} ok",
    "shutting down: {q}",
]


def generate(n: int, seed: int) -> tuple[list[str], list[int]]:
    r = random.Random(seed)
    fields = _fields(r)
    lines, truth = [], []
    for _ in range(n):
        index = r.randrange(len(TEMPLATES))
        pieces = TEMPLATES[index].split("{")
        line = pieces[0] + "".join(fields[p.split("}")[0]]() + p.split("}")[1] for p in pieces[1:])
        lines.append(line)
        truth.append(index)
    return lines, truth


def test_lines_of_known_templates_are_grouped_with_accuracy_of_at_least_95_percent() -> None:
    lines, truth = generate(20_000, seed=4)
    miner = TemplateMiner()
    predicted = [miner.add(line).template_id for line in lines]
    assert grouping_accuracy(truth, predicted) >= 0.95
    assert adjusted_rand_index(truth, predicted) >= 0.95
    assert len(miner.templates()) == len(TEMPLATES)


def test_the_same_message_to_another_address_shares_the_template() -> None:
    miner = TemplateMiner()
    first = miner.add("connection refused to 10.0.0.1:5432")
    second = miner.add("connection refused to 10.0.0.2:5432")
    assert (first.template_id, first.is_new, first.cluster_size) == ("t1", True, 1)
    assert (second.template_id, second.is_new, second.cluster_size) == ("t1", False, 2)
    assert second.template == "connection refused to <IP>"


def test_ids_follow_creation_order_and_survive_generalisation() -> None:
    miner = TemplateMiner()
    assert miner.add("job alpha started on node one").template_id == "t1"
    assert miner.add("disk full").template_id == "t2"
    widened = miner.add("job alpha started on node two")
    assert (widened.template_id, widened.template) == ("t1", "job alpha started on node <*>")
    assert [(t.id, t.template, t.count, t.example) for t in miner.templates()] == [
        ("t1", "job alpha started on node <*>", 2, "job alpha started on node one"),
        ("t2", "disk full", 1, "disk full"),
    ]


def test_the_same_input_gets_the_same_ids_in_another_miner() -> None:
    lines, _ = generate(2_000, seed=9)
    first, second = TemplateMiner(), TemplateMiner()
    assert [first.add(line) for line in lines] == [second.add(line) for line in lines]


def test_a_value_the_masks_miss_among_the_leading_tokens_does_not_split_the_template() -> None:
    miner = TemplateMiner()
    ids = {miner.add(f"{name} joined the cluster as voter").template_id for name in ("ant", "bee", "cat", "dog")}
    assert ids == {"t1"}
    assert miner.templates()[0].template == "<*> joined the cluster as voter"


def test_unrelated_messages_sharing_only_values_stay_apart() -> None:
    miner = TemplateMiner()
    a = miner.add("2026-11-22T10:00:00Z INFO request 42 done in 3ms code 200")
    b = miner.add("2026-11-22T10:00:01Z INFO batch 43 saved after 4ms rows 100")
    assert a.template_id != b.template_id


def test_two_templates_that_agree_on_half_their_words_stay_apart() -> None:
    miner = TemplateMiner()
    out = miner.add("user alice logged out after 36.12s")
    assert miner.add("user alice logged in from 10.1.2.3").template_id != out.template_id
    assert miner.add("user bob logged out after 5ms").template_id == out.template_id


def test_lines_of_different_token_counts_never_share_a_cluster() -> None:
    miner = TemplateMiner(similarity=0.0)
    assert miner.add("a b c").template_id != miner.add("a b c d").template_id


def test_clusters_beyond_max_clusters_evict_the_least_recently_matched() -> None:
    miner = TemplateMiner(max_clusters=5)
    # Different token counts: eight templates that can never merge.
    lines = [" ".join(["event"] * k) for k in range(1, 9)]
    for line in lines[:5]:
        miner.add(line)
    miner.add(lines[0])  # the first is now the most recently matched
    miner.add(lines[5])  # evicts the second, now the least recently matched
    live = [t.template for t in miner.templates()]
    assert live == [lines[0], lines[2], lines[3], lines[4], lines[5]]
    assert miner.evicted == 1
    # A template that comes back after eviction starts over, with a new id.
    returned = miner.add(lines[1])
    assert (returned.template_id, returned.is_new) == ("t7", True)


def test_memory_stays_bounded_over_a_stream_of_new_templates() -> None:
    miner = TemplateMiner(max_clusters=50)
    r = random.Random(1)
    vocabulary = [f"w{chr(97 + i)}{chr(97 + j)}" for i in range(26) for j in range(26)]
    for _ in range(20_000):
        miner.add(" ".join(r.choice(vocabulary).replace("w", "") for _ in range(r.randrange(2, 12))))
    assert len(miner.templates()) <= 50
    assert miner.evicted > 1000
    # The tree is pruned with its clusters: count its nodes (a white-box check of the bound).
    nodes, stack = 0, [miner._root]
    while stack:
        node = stack.pop()
        nodes += 1
        stack.extend(node.children.values())
    assert nodes <= 1 + 50 * (miner.depth - 1)


def test_empty_and_blank_lines_form_one_template() -> None:
    miner = TemplateMiner()
    assert miner.add("").template_id == miner.add("   ").template_id == "t1"


@pytest.mark.parametrize(
    "kwargs",
    [{"similarity": 1.5}, {"depth": 2}, {"max_children": 1}, {"max_clusters": 0}],
)
def test_invalid_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        TemplateMiner(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("took 42 and -7 and 3.14 and 1,234.5 and 1e9", "took <NUM> and -<NUM> and <NUM> and <NUM> and <NUM>"),
        ("sent 10KB, 3.2GiB, 512Mi at 99%", "sent <NUM>, <NUM>, <NUM> at <NUM>"),
        ("port=8080 host:8080 req_42", "port=<NUM> host:<NUM> req_<NUM>"),
        ("took 12ms, 3.5s, 1h30m, 2min, 250us", "took <DURATION>, <DURATION>, <DURATION>, <DURATION>, <DURATION>"),
        ("addr 0x7ffd1234 trace 4bf92f3577b34da6a3ce929d0e0e4736", "addr <HEX> trace <HEX>"),
        ("from 10.0.0.1:5432 and 192.168.1.0/24", "from <IP> and <IP>"),
        ("from fe80::1, [::1]:8080 and 2001:db8:0:0:0:0:0:1", "from <IP>, <IP> and <IP>"),
        ("id 550e8400-e29b-41d4-a716-446655440000 done", "id <UUID> done"),
        ("open /var/log/app.log ./rel/x ~/y C:\\Users\\x\\a.txt", "open <PATH> <PATH> <PATH> <PATH>"),
        ("say \"hello world\" and 'bye now'", "say <STR> and <STR>"),
        ('{"user": "bob", "n": 5}', '{"user": <STR>, "n": <NUM>}'),
        ("mail bob@example.com via https://hooks.example.com/a?b=1", "mail <EMAIL> via <URL>"),
        ("at 2026-11-22T10:00:00.123+01:00 and 2026-11-22 10:00:00Z", "at <TS> and <TS>"),
        ("at 10:00:00.5 [22/Nov/2026:10:00:00 +0000]", "at <TS> [<TS>]"),
    ],
)
def test_each_kind_of_value_is_masked_with_its_placeholder(line: str, masked: str) -> None:
    assert mask(line) == masked


@pytest.mark.parametrize(
    "line",
    ["http2 upgrade for sha256 v1.2.3", "can't reach std::vector", "deadbeef face-to-face and/or", "INFO ok"],
)
def test_identifiers_and_words_are_not_masked(line: str) -> None:
    assert mask(line) == line
