"""Streaming log template mining, in the manner of Drain (He et al., ICWS 2017).

    miner = TemplateMiner()
    match = miner.add("connection refused to 10.0.0.1:5432")
    match.template_id, match.template      # "t1", "connection refused to <IP>"

Contract:

- `add(line)` assigns the line to a cluster at once and for good (clusters never merge), so a
  stream can be labelled line by line. The cluster's template may still generalise later: a
  token that differs between its lines becomes `<*>`. `Match.template` is the template as of
  that line; `templates()` gives the current ones.
- A line is first masked (`analysis.masking.mask`: numbers, hex, IPs, UUIDs, paths, durations,
  quoted strings, URLs, timestamps become typed placeholders such as `<IP>`), then split on
  whitespace. Lines of different token counts never share a cluster.
- Template ids are `t1`, `t2`, ... in order of creation. A hash of the template would change as
  the template generalises; a sequence number never does. Ids are deterministic for a given
  input in a given order, not comparable between miners fed different input.
- Memory is bounded: at most `max_clusters` clusters (None: unbounded). When a new cluster
  would exceed it, the least recently matched cluster is evicted with the part of the tree that
  only it used; if its template comes back it gets a new id. `evicted` counts evictions.
  The cache of recently seen masked lines holds at most `CACHE_SIZE` entries.
- Pure computation: no I/O, no threads; a miner is not safe to share between threads.

The tree: the first level is the token count, the next `depth - 2` levels the leading tokens
(a token holding a digit, and any token beyond `max_children` distinct ones at a node, goes to
a shared `<*>` child), and each leaf holds clusters. A line joins the most similar cluster of
its leaf if the similarity exceeds `similarity`. Strictly: at the default 0.5, a line equal to
a template in only half of its positions ("user alice logged in from <IP>" against "user alice
logged out after <DURATION>") is as likely to be another template.

Unlike Drain, a line that finds no cluster in its leaf is then compared with the
`FALLBACK_CLUSTERS` newest clusters of its token count elsewhere in the tree: a value the masks
miss among the leading tokens (the user name in "user alice logged in") would otherwise split
its template into one cluster per value. A cluster found that way is also filed under the
line's leaf, so the next line of that kind finds it directly. Only when both fail does the
line start a new cluster. A masked line seen recently skips all of this (a cache): it joins the
cluster it joined before, which still covers it since templates only ever gain wildcards.

Similarity differs from Drain's in one way, because masking runs first: positions where both
the template and the line hold the same placeholder count for nothing either way. Otherwise the
shared `<NUM>`, `<TS>`, ... of two unrelated messages would make them look alike, and a line
made mostly of values would look unlike its own template. So similarity is the share of equal
positions among the positions that are not such shared placeholders (1.0 if there are none);
a `<*>` in the template counts as unequal, as in Drain, so templates do not absorb everything.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

from analysis.masking import PLACEHOLDERS, mask

__all__ = ["CACHE_SIZE", "FALLBACK_CLUSTERS", "WILDCARD", "Match", "Template", "TemplateMiner", "mask"]

WILDCARD = "<*>"
"""The token of a template position whose lines differ."""

CACHE_SIZE = 65_536
"""Masked lines remembered with their cluster, so a repeated one skips the tree search."""

FALLBACK_CLUSTERS = 256
"""How many clusters of a token count a line that matches nothing in its leaf is compared with;
a bound on the cost of a new template when there are thousands of them."""

_HAS_DIGIT = re.compile(r"\d").search


@dataclass(frozen=True)
class Match:
    """Where `TemplateMiner.add` put a line."""

    template_id: str
    template: str
    """The cluster's template after this line joined it."""
    is_new: bool
    """True if this line started the cluster."""
    cluster_size: int
    """Lines in the cluster, this one included."""


@dataclass(frozen=True)
class Template:
    id: str
    template: str
    count: int
    example: str
    """The first line of the cluster, as given (not masked)."""


@dataclass(eq=False)
class _Cluster:
    seq: int
    id: str
    tokens: list[str]
    template: str
    example: str
    leaves: list[_Node]
    count: int = 1
    alive: bool = True


@dataclass(eq=False)
class _Node:
    parent: _Node | None
    key: str
    children: dict[str, _Node] = field(default_factory=dict)
    clusters: list[_Cluster] = field(default_factory=list)


class TemplateMiner:
    """Clusters log lines into templates as they arrive; see the module docstring."""

    def __init__(
        self,
        similarity: float = 0.5,
        depth: int = 4,
        max_children: int = 100,
        max_clusters: int | None = 10_000,
    ) -> None:
        if not 0.0 <= similarity < 1.0:
            # A line must be *more* similar than this: at 1.0 nothing would ever match.
            raise ValueError("similarity must be at least 0 and below 1")
        if depth < 3:
            raise ValueError("depth must be at least 3 (the root, one token level, the leaves)")
        if max_children < 2:
            raise ValueError("max_children must be at least 2")
        if max_clusters is not None and max_clusters < 1:
            raise ValueError("max_clusters must be at least 1, or None for no bound")
        self.similarity = similarity
        self.depth = depth
        self.max_children = max_children
        self.max_clusters = max_clusters
        self.evicted = 0
        self._root = _Node(None, "")
        self._next_seq = 1
        # Ordered from least to most recently matched: the front is the next to evict.
        self._clusters: OrderedDict[str, _Cluster] = OrderedDict()
        self._cache: dict[str, _Cluster] = {}
        self._by_length: dict[int, list[_Cluster]] = {}

    def add(self, line: str) -> Match:
        """Assign `line` to a cluster, creating one if none is similar enough."""
        masked = mask(line)
        cluster = self._cache.get(masked)
        if cluster is not None and cluster.alive:
            # The line is already covered: templates only ever gain wildcards.
            cluster.count += 1
            if self.max_clusters is not None:
                self._clusters.move_to_end(cluster.id)
            return Match(cluster.id, cluster.template, False, cluster.count)
        tokens = masked.split()
        leaf = self._leaf(tokens)
        cluster = self._best(leaf.clusters, tokens)
        if cluster is None:
            cluster = self._best(self._by_length.get(len(tokens), [])[-FALLBACK_CLUSTERS:], tokens)
            if cluster is not None:
                cluster.leaves.append(leaf)
                leaf.clusters.append(cluster)
        if cluster is None:
            cluster = self._create(leaf, tokens, line)
            is_new = True
        else:
            self._generalise(cluster, tokens)
            cluster.count += 1
            if self.max_clusters is not None:
                self._clusters.move_to_end(cluster.id)
            is_new = False
        if len(self._cache) >= CACHE_SIZE:
            # Dropping everything is cheaper than tracking recency, and a cache miss only costs a search.
            self._cache.clear()
        self._cache[masked] = cluster
        return Match(cluster.id, cluster.template, is_new, cluster.count)

    def templates(self) -> list[Template]:
        """The live clusters, in order of creation."""
        clusters = sorted(self._clusters.values(), key=lambda c: c.seq)
        return [Template(c.id, c.template, c.count, c.example) for c in clusters]

    def _leaf(self, tokens: list[str]) -> _Node:
        node = self._root.children.get(str(len(tokens)))
        if node is None:
            node = self._root.children[str(len(tokens))] = _Node(self._root, str(len(tokens)))
        for token in tokens[: self.depth - 2]:
            # Tokens holding digits are likely values the masks missed (`user42`, `pod-7xk2q`):
            # keying on them would scatter one template over many branches.
            key = WILDCARD if _HAS_DIGIT(token) else token
            child = node.children.get(key)
            if child is None:
                if key != WILDCARD and len(node.children) >= self.max_children - 1:
                    # Keep one slot for the wildcard child, so a node never exceeds max_children.
                    key = WILDCARD
                    child = node.children.get(key)
                if child is None:
                    child = node.children[key] = _Node(node, key)
            node = child
        return node

    def _best(self, candidates: list[_Cluster], tokens: list[str]) -> _Cluster | None:
        best: _Cluster | None = None
        best_score = (-1.0, -1)
        for cluster in candidates:
            equal = counted = wildcards = 0
            for mine, theirs in zip(cluster.tokens, tokens, strict=True):
                if mine == theirs:
                    if mine not in PLACEHOLDERS:
                        equal += 1
                        counted += 1
                else:
                    counted += 1
                    if mine == WILDCARD:
                        wildcards += 1
            score = (equal / counted if counted else 1.0, wildcards)
            # Ties go to the more general template (as in Drain), then to the older cluster.
            if score > best_score:
                best, best_score = cluster, score
        if best is None or best_score[0] <= self.similarity:
            return None
        return best

    def _generalise(self, cluster: _Cluster, tokens: list[str]) -> None:
        merged = [mine if mine == theirs else WILDCARD for mine, theirs in zip(cluster.tokens, tokens, strict=True)]
        if merged != cluster.tokens:
            cluster.tokens = merged
            cluster.template = " ".join(merged)

    def _create(self, leaf: _Node, tokens: list[str], line: str) -> _Cluster:
        seq = self._next_seq
        self._next_seq += 1
        cluster = _Cluster(seq, f"t{seq}", tokens, " ".join(tokens), line, [leaf])
        leaf.clusters.append(cluster)
        self._by_length.setdefault(len(tokens), []).append(cluster)
        self._clusters[cluster.id] = cluster
        if self.max_clusters is not None and len(self._clusters) > self.max_clusters:
            self._evict(self._clusters.popitem(last=False)[1])
        return cluster

    def _evict(self, cluster: _Cluster) -> None:
        # Cache entries still point at it; `alive` makes them misses, and the next clear drops them.
        cluster.alive = False
        self.evicted += 1
        same_length = self._by_length[len(cluster.tokens)]
        same_length.remove(cluster)
        if not same_length:
            del self._by_length[len(cluster.tokens)]
        for leaf in cluster.leaves:
            leaf.clusters.remove(cluster)
            # Prune the branch it leaves empty, so the tree stays bounded along with the clusters.
            node = leaf
            while node.parent is not None and not node.clusters and not node.children:
                del node.parent.children[node.key]
                node = node.parent
