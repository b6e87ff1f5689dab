"""A run that waits for its host is answered through ``SubmittedRun.resume`` and continued by
the workers (real workers on the real Redis), never in the caller's process."""

from __future__ import annotations

import pytest

from agentcycle import RunConfig, Runner
from agentcycle.errors import ConfigurationError
from agentcycle.events import RunCompleted
from tests.celery.conftest import Cluster
from tests.celery.waiting_app import QUESTION

FACTORY = "tests.celery.waiting_app:agent"


def test_a_waiting_run_is_answered_and_continued_by_the_workers(cluster: Cluster) -> None:
    config = RunConfig(checkpoint_store=cluster.store, broker=cluster.broker)
    with Runner.submit_sync(FACTORY, "deploy the service", config=config) as run:
        status = run.wait(timeout=60)
        assert (status["log_status"], status["waiting_for"]) == ("waiting", "user")
        assert status["final_output"] == QUESTION
        with pytest.raises(ConfigurationError, match="pass input"):
            run.resume()  # a run waiting for the user needs the answer
        # Two answers to the same wait: one is applied, the other finds the run gone on.
        run.resume("staging")
        run.resume("production")
        status = run.wait(timeout=60)
        assert status["run_status"] == "completed"
        assert status["final_output"] in (
            "deploying to staging; heard 2",
            "deploying to production; heard 2",
        )
        events = list(run.events())
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        # One wait, one completion: the second answer was never applied.
        ends = [str(e.status) for e in events if isinstance(e, RunCompleted)]
        assert ends == ["wait_user", "completed"]
        with pytest.raises(ConfigurationError, match="not waiting"):
            run.resume("again")


def test_an_approval_given_through_resume_runs_the_call_on_a_worker(cluster: Cluster) -> None:
    config = RunConfig(
        checkpoint_store=cluster.store, broker=cluster.broker, metadata={"mode": "approve"}
    )
    with Runner.submit_sync(FACTORY, "ship it", config=config) as run:
        status = run.wait(timeout=60)
        assert (status["log_status"], status["waiting_for"]) == ("waiting", "approval")
        requested = [e for e in run.events() if e.type == "approval_requested"]
        assert [e.tool_name for e in requested] == ["deploy"]
        run.resume(approvals={requested[0].tool_call_id: "allow"})
        status = run.wait(timeout=60)
        assert (status["run_status"], status["final_output"]) == (
            "completed",
            "deployed to staging",
        )
