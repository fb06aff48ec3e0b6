"""Ranking on facts shaped like the bundled scenarios' incidents (the readers that find them are tested apart)."""

from __future__ import annotations

from analysis.ranking import ChangeFact, Facts, LogRise, SignalShift, rank

ONSET = 1_800_000_000.0
MIN = 60.0


def shift(
    resource: str, signal: str, kind: str, *, minutes: float = 0, direction: str = "up", **more: float
) -> SignalShift:
    return SignalShift(
        evidence_id=f"e-{resource}-{signal}",
        resource=resource,
        signal=signal,
        kind=kind,
        at=ONSET + minutes * MIN,
        direction=direction,
        magnitude=more.get("magnitude", 1.0),
        score=more.get("score", 20.0),
    )


def change(resource: str | None, type: str, minutes_before: float, ref: str | None = None) -> ChangeFact:
    return ChangeFact(f"c-{resource}-{type}", ONSET - minutes_before * MIN, type, resource, ref)


ERRORS = shift("checkout", "error_ratio", "symptom")


def facts(**kwargs: object) -> Facts:
    base: dict[str, object] = {
        "service": "checkout",
        "namespace": "prod",
        "dependencies": ("payments", "cart-db"),
        "onset": ONSET,
        "shifts": (ERRORS,),
    }
    return Facts(**{**base, **kwargs})  # type: ignore[arg-type]


def test_a_deployment_just_before_the_onset_ranks_first_with_its_version() -> None:
    top = rank(facts(changes=(change("checkout", "deployment", 2, "v2.4.0"),)))[0]
    assert (top.kind, top.target.resource, top.target.ref) == ("deployment", "checkout", "v2.4.0")
    assert top.confidence > 0.6
    assert top.evidence_ids[0] == "c-checkout-deployment"
    assert "e-checkout-error_ratio" in top.evidence_ids


def test_a_change_on_an_unrelated_service_is_no_candidate() -> None:
    """The red herrings: a deploy of a service that is neither the alerting one nor a dependency."""
    ranked = rank(
        facts(
            changes=(change("frontend", "deployment", 3, "v9"),),
            shifts=(ERRORS, shift("payments", "error_ratio", "symptom")),
        )
    )
    assert ranked[0].kind == "dependency"
    assert ranked[0].target.resource == "payments"
    assert all(h.target.resource != "frontend" for h in ranked)


def test_a_config_change_on_a_dependency_that_broke_beats_the_bare_dependency() -> None:
    ranked = rank(
        facts(
            changes=(change("cart-db", "config_change", 4, "maxmemory"),),
            shifts=(ERRORS, shift("cart-db", "anomaly:redis_evicted_keys_total", "anomaly")),
        )
    )
    assert (ranked[0].kind, ranked[0].target.resource, ranked[0].target.ref) == (
        "config_change",
        "cart-db",
        "maxmemory",
    )
    assert ranked[1].kind == "dependency"


def test_an_old_change_loses_to_what_broke_at_the_onset() -> None:
    ranked = rank(
        facts(
            changes=(change("checkout", "deployment", 180, "v2.3.9"),),
            shifts=(ERRORS, shift("payments", "up", "availability", direction="down")),
            log_rises=(LogRise("l1", "checkout", "connection refused to payments:<NUM>", True, 12.0, ("payments",)),),
        )
    )
    assert (ranked[0].kind, ranked[0].target.resource) == ("dependency", "payments")
    assert "l1" in ranked[0].evidence_ids


def test_a_change_after_the_onset_is_no_cause() -> None:
    ranked = rank(facts(changes=(change("checkout", "scale", -20),)))
    assert ranked[0].kind == "unknown"


def test_saturation_without_a_deployment_is_resource_saturation() -> None:
    memory = shift("checkout", "memory", "saturation", minutes=-60, score=30)
    ranked = rank(facts(shifts=(ERRORS, memory)))
    assert (ranked[0].kind, ranked[0].target.resource) == ("resource_saturation", "checkout")


def test_saturation_right_after_a_deployment_points_at_the_deployment() -> None:
    """cart-crashloop-oom: the new version runs out of memory and restarts."""
    ranked = rank(
        facts(
            changes=(change("checkout", "deployment", 3, "v3"),),
            shifts=(ERRORS, shift("checkout", "memory", "saturation"), shift("checkout", "restarts", "symptom")),
        )
    )
    assert ranked[0].kind == "deployment"


def test_a_deployment_just_before_a_leak_began_outranks_the_restarts_it_ends_in() -> None:
    """A slow leak: the onset is the start of the climb, the restarts come hours later."""
    climb = shift("checkout", "memory", "saturation", score=200)
    restarts = shift("checkout", "restarts", "symptom", minutes=150, magnitude=0.0)
    leaked = facts(changes=(change("checkout", "deployment", 4, "v3"),), shifts=(climb, restarts))
    older = facts(changes=(change("checkout", "deployment", 180, "v2"),), shifts=(climb, restarts))

    assert (rank(leaked)[0].kind, rank(leaked)[0].target.ref) == ("deployment", "v3")
    assert rank(older)[0].kind == "resource_saturation"


def test_a_traffic_surge_at_the_onset() -> None:
    surge = shift("checkout", "request_rate", "traffic", magnitude=2.5)
    ranked = rank(facts(shifts=(ERRORS, surge)))
    assert (ranked[0].kind, ranked[0].target.resource) == ("traffic_surge", "checkout")


def test_several_resources_down_together_is_infrastructure() -> None:
    down = tuple(shift(name, "up", "availability", direction="down") for name in ("checkout", "cart", "orders"))
    ranked = rank(facts(shifts=(ERRORS, *down), dependencies=()))
    assert ranked[0].kind == "infrastructure"


def test_no_onset_or_nothing_standing_out_is_unknown_first() -> None:
    noisy = rank(facts(onset=None, shifts=()))
    assert noisy[0].kind == "unknown"
    assert "no onset" in noisy[0].rationale
    quiet = rank(facts(shifts=(ERRORS,)))
    assert quiet[0].kind == "unknown"
    assert [h.kind for h in quiet] == ["unknown"]


def test_confidences_are_ordered_and_below_one() -> None:
    ranked = rank(
        facts(
            changes=(change("checkout", "deployment", 2, "v2"), change("payments", "feature_flag", 40)),
            shifts=(ERRORS, shift("payments", "latency_p99", "symptom", minutes=5)),
        )
    )
    confidences = [h.confidence for h in ranked]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0 < c < 1 for c in confidences)


def test_a_scale_out_at_the_onset_does_not_outrank_the_surge_it_answers() -> None:
    surge = shift("checkout", "request_rate", "traffic", magnitude=3.0)
    scaled = ChangeFact("c-scale", ONSET, "scale", "checkout", None, "HPA scaled checkout", adds_capacity=True)

    (top, *_) = rank(facts(shifts=(ERRORS, surge), changes=(scaled,)))

    assert (top.kind, top.target.resource) == ("traffic_surge", "checkout")


def test_a_dependency_change_before_the_onset_outranks_the_saturation_it_causes() -> None:
    cpu = shift("checkout", "cpu", "saturation", minutes=1)
    evictions = shift("cart-db", "redis_evicted_keys_total", "anomaly")
    config = change("cart-db", "config_change", 2, "maxmemory-policy")

    (top, *_) = rank(facts(shifts=(ERRORS, cpu, evictions), changes=(config,)))

    assert (top.kind, top.target.resource, top.target.ref) == ("config_change", "cart-db", "maxmemory-policy")


def test_an_alerting_database_that_went_down_is_itself_the_failing_dependency() -> None:
    down = shift("orders-db", "up", "availability", direction="down", magnitude=-1.0)

    hypotheses = rank(
        Facts(
            service="orders-db",
            namespace="prod",
            dependencies=(),
            onset=ONSET,
            shifts=(down,),
            primary_is_dependency=True,
        )
    )

    assert (hypotheses[0].kind, hypotheses[0].target.resource) == ("dependency", "orders-db")
    assert hypotheses[0].evidence_ids == [down.evidence_id]


# --- causes above a shared service: its dependents (issue 13) ---------------------------------------------


def shared(**kwargs: object) -> Facts:
    """A search index that several services call; it depends on nothing."""
    base: dict[str, object] = {
        "service": "search-index",
        "namespace": "data",
        "dependencies": (),
        "dependents": ("crawler", "web-ui"),
        "onset": ONSET,
        "primary_is_dependency": True,
        "service_kind": "database",
    }
    return Facts(**{**base, **kwargs})  # type: ignore[arg-type]


INDEX_IO = shift("search-index", "disk_io", "saturation", score=60)


def test_a_callers_change_that_shifted_with_a_shared_service_outranks_its_saturation() -> None:
    """A client whose new config makes it work differently (its CPU steps up) saturates what it calls."""
    crawler_cpu = shift("crawler", "cpu", "saturation", magnitude=0.8)
    facts_ = shared(
        shifts=(INDEX_IO, crawler_cpu),
        changes=(change("crawler", "config_change", 3, "crawl.parallelism"), change("web-ui", "deployment", 6, "v8")),
    )

    ranked = rank(facts_)

    assert (ranked[0].kind, ranked[0].target.resource, ranked[0].target.ref) == (
        "config_change",
        "crawler",
        "crawl.parallelism",
    )
    assert ranked[0].evidence_ids[:2] == ["c-crawler-config_change", "e-crawler-cpu"]
    web_ui = next(h for h in ranked if h.target.resource == "web-ui")
    assert web_ui.confidence < 0.4


def test_a_callers_change_with_no_shift_of_its_own_stays_below_the_shared_services_own_failure() -> None:
    facts_ = shared(shifts=(INDEX_IO,), changes=(change("web-ui", "deployment", 2, "v8"),))

    ranked = rank(facts_)

    assert ranked[0].target.resource == "search-index"
    assert ranked[0].kind in ("resource_saturation", "dependency")
    assert next(h for h in ranked if h.target.resource == "web-ui").confidence < 0.4


def test_a_caller_that_floods_a_shared_service_is_the_traffic_surge() -> None:
    flood = shift("crawler", "request_rate", "traffic", magnitude=3.0)

    ranked = rank(shared(shifts=(INDEX_IO, flood)))

    assert (ranked[0].kind, ranked[0].target.resource) == ("traffic_surge", "crawler")


def test_a_callers_errors_are_no_shift_of_its_own_when_the_failure_came_from_below() -> None:
    """A gateway's identity provider fails; the web app calling the gateway deployed minutes before and its
    errors rose with the gateway's: the provider is the cause, the deployment a coincidence."""
    facts_ = Facts(
        service="gateway",
        namespace="edge",
        dependencies=("identity-provider",),
        dependents=("web",),
        onset=ONSET,
        primary_is_dependency=True,
        changes=(change("web", "deployment", 3, "v31"),),
        shifts=(
            shift("gateway", "error_ratio", "symptom"),
            shift("identity-provider", "error_ratio", "symptom", score=40),
            shift("web", "error_ratio", "symptom"),
        ),
    )

    ranked = rank(facts_)

    assert (ranked[0].kind, ranked[0].target.resource) == ("dependency", "identity-provider")
    assert next(h for h in ranked if h.target.resource == "web").confidence < 0.45


def test_a_callers_symptoms_count_as_its_own_when_nothing_below_explains_them() -> None:
    """A queue that depends on nothing backs up; the consumer that deployed at the onset slowed (its latency)."""
    facts_ = shared(
        service="jobs-queue",
        dependents=("consumer", "producer"),
        service_kind="queue",
        shifts=(
            shift("jobs-queue", "queue_backlog", "saturation", score=200),
            shift("consumer", "latency_p99", "symptom", magnitude=4.0),
        ),
        changes=(change("consumer", "deployment", 0, "v5"),),
    )

    (top, *_) = rank(facts_)

    assert (top.kind, top.target.resource, top.target.ref) == ("deployment", "consumer", "v5")


def test_a_shared_service_that_went_down_is_the_cause_whatever_its_callers_did() -> None:
    """A session store stops answering three minutes after one of its callers deployed; the caller's errors are
    the store's failure seen from above."""
    facts_ = shared(
        service="session-store",
        dependents=("web",),
        shifts=(
            shift("session-store", "up", "availability", direction="down", magnitude=-1.0),
            shift("web", "error_ratio", "symptom"),
        ),
        changes=(change("web", "deployment", 3, "v12"),),
    )

    (top, *rest) = rank(facts_)

    assert (top.kind, top.target.resource) == ("dependency", "session-store")
    assert next(h for h in rest if h.target.resource == "web").confidence < 0.45


# --- a caller's own configuration makes a healthy callee look failing -------------------------------------


def called_by_billing(minutes_before: float, *shifts: SignalShift) -> Facts:
    """A rates service (backed by rates-db) that an alert counts calls to as its caller billing saw them;
    billing changed its retry budget `minutes_before` the onset."""
    return Facts(
        service="rates",
        namespace="fin",
        dependencies=("rates-db",),
        dependents=("billing",),
        callers=("billing",),
        onset=ONSET,
        changes=(change("billing", "config_change", minutes_before, "rates.client.retries"),),
        shifts=shifts,
    )


def test_the_named_callers_change_is_the_cause_when_the_callee_stays_healthy() -> None:
    """The rates service's own signals are flat; billing's errors rose right after its change."""
    (top, *_) = rank(called_by_billing(1, shift("billing", "error_ratio", "symptom")))

    assert (top.kind, top.target.resource, top.target.ref) == ("config_change", "billing", "rates.client.retries")
    assert top.confidence > 0.55


def test_a_callee_that_only_receives_fewer_calls_is_still_healthy_on_its_own_side() -> None:
    """A smaller client pool lets fewer calls through: the callee's request rate drops, nothing else."""
    fewer = shift("rates", "request_rate", "traffic", direction="down", magnitude=-0.4)

    (top, *_) = rank(called_by_billing(2, shift("billing", "latency_p99", "symptom"), fewer))

    assert (top.kind, top.target.resource) == ("config_change", "billing")


def test_a_callee_that_failed_on_its_own_side_keeps_a_callers_older_change_below_it() -> None:
    down = shift("rates-db", "up", "availability", direction="down")

    (top, *_) = rank(called_by_billing(25, shift("rates", "error_ratio", "symptom"), down))

    assert (top.kind, top.target.resource) == ("dependency", "rates-db")


# --- a node's own problem ---------------------------------------------------------------------------------


def test_a_nodes_own_saturation_is_infrastructure_on_that_node() -> None:
    """A node's memory fills with no change recorded anywhere: the host is the cause, not 'saturation'."""
    memory = shift("worker-7", "node_memory", "saturation", minutes=-30, score=90)

    (top, *_) = rank(
        Facts(
            service="worker-7",
            namespace=None,
            dependencies=(),
            onset=ONSET - 30 * MIN,
            shifts=(memory,),
            service_kind="node",
        )
    )

    assert (top.kind, top.target.resource) == ("infrastructure", "worker-7")
    assert top.evidence_ids == [memory.evidence_id]
    assert "node_memory" in top.rationale


def test_a_nodes_own_shift_and_its_recorded_failure_are_one_hypothesis_named_by_the_record() -> None:
    down = shift("worker-7", "up", "availability", direction="down")
    replaced = ChangeFact("c-node", ONSET - 1 * MIN, "infrastructure", "worker-7", "i-0b12", "instance terminated")

    ranked = rank(
        Facts(
            service="worker-7",
            namespace=None,
            dependencies=(),
            onset=ONSET,
            shifts=(down,),
            changes=(replaced,),
            service_kind="node",
        )
    )

    infrastructure = [h for h in ranked if h.kind == "infrastructure"]
    assert [(h.target.resource, h.target.ref) for h in infrastructure] == [("worker-7", "i-0b12")]
    assert set(infrastructure[0].evidence_ids) >= {"c-node", down.evidence_id}


def test_a_surge_on_a_shared_service_points_at_the_caller_that_changed_just_before() -> None:
    """A flag turned on in one caller multiplies its queries; the store's own load is what shows it."""
    surge = shift("ledger-store", "transactions", "traffic", magnitude=3.0)
    facts_ = shared(
        service="ledger-store",
        dependents=("rewards", "audit"),
        shifts=(surge, shift("ledger-store", "cpu", "saturation")),
        changes=(change("audit", "deployment", 40, "v2"), change("rewards", "feature_flag", 2, "bonus-recalc")),
    )

    (top, *rest) = rank(facts_)

    assert (top.kind, top.target.resource, top.target.ref) == ("config_change", "rewards", "bonus-recalc")
    assert all(h.target.resource != "audit" or h.confidence < 0.3 for h in rest)


def test_a_node_that_failed_under_the_service_is_the_cause_not_a_callers_deployment() -> None:
    """A StatefulSet loses a replica when the node under it stops reporting; a caller deployed minutes before
    and its CPU rose (the lost replica's load): the node is named, the deployment stays low."""
    facts_ = shared(
        service="ledger-shards",
        dependents=("ledger-api",),
        service_kind="statefulset",
        hosts=("node-a", "node-b"),
        shifts=(
            shift("ledger-shards", "replicas_available", "availability", direction="down", magnitude=-0.33),
            shift("node-a", "up", "availability", direction="down", magnitude=-0.5, score=80),
            shift("ledger-api", "cpu", "saturation", magnitude=0.4),
            shift("ledger-api", "error_ratio", "symptom"),
        ),
        changes=(change("ledger-api", "deployment", 4, "v9"),),
    )

    (top, *rest) = rank(facts_)

    assert (top.kind, top.target.resource) == ("infrastructure", "node-a")
    assert "e-node-a-up" in top.evidence_ids
    assert all(h.target.resource != "node-b" for h in rest)
    assert next(h for h in rest if h.target.resource == "ledger-api").confidence < 0.45


def test_a_busy_node_under_a_service_that_lost_nothing_is_no_cause() -> None:
    cpu = shift("node-a", "node_cpu", "saturation", score=40)

    ranked = rank(facts(shifts=(ERRORS, cpu), hosts=("node-a",), changes=(change("checkout", "deployment", 2, "v3"),)))

    assert ranked[0].kind == "deployment"
    assert all(h.target.resource != "node-a" for h in ranked)


def test_a_dependency_healthy_on_its_own_side_is_not_failing_for_its_other_series() -> None:
    """A caller shrinks its client pool: fewer calls reach its dependency, whose duration sum falls (an anomaly)
    while its own errors and latency stay flat; the caller's change is the cause."""
    fewer = shift("payments", "anomaly:http_server_request_duration_seconds_sum", "anomaly", direction="down")
    logs = LogRise("l1", "checkout", "payments call failed: pool exhausted", True, 30.0, ("payments",))

    (top, *rest) = rank(
        facts(
            shifts=(ERRORS, fewer),
            log_rises=(logs,),
            changes=(change("checkout", "config_change", 0, "payments.client.pool"),),
            healthy=("payments",),
        )
    )

    assert (top.kind, top.target.resource) == ("config_change", "checkout")
    assert next(h for h in rest if h.target.resource == "payments").confidence < 0.5
