"""The investigation kit: what an agent that investigates an incident reads, and how.

Used in this order (triage's `investigate` is the worked example):

1. `scope.resolve_scope`: the resource a request names and its dependencies, from controlplane-mcp;
2. `catalogue.CatalogueSource`: the PromQL signals read for each resource (configuration: the bundled
   `profiles/` whose metrics Prometheus has, or a user's file, `signals.load_catalogue`);
3. the readers, each over one source, for every resource in scope and a `window.Window` (what
   a request asks for, `Window.asked`, within the agent's `settings.InvestigationSettings`):
   `metrics` (the catalogue's series and their change points), `changes` (what was done, from the
   control plane), `alerts` (what fires now), then, once `onset.choose_onset` has chosen the
   onset, `anomalies` (other metrics that departed at it) and `logs` (error templates that rose at it);
4. `analysis.ranking.rank` turns what they found into hypotheses (pure, no I/O);
5. `recording.record` keeps the report in the control plane as an analysis.

Every reader records what it cites in one `evidence.EvidenceLog` and never raises for a source's
failure: `sources.noted` notes it there (a server not reached at all, `EvidenceLog.unavailable`),
it becomes the report's `degraded`, and the investigation goes on with the other sources.
"""
