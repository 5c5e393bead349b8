"""The backlog_cutoff alert rule: fires per queue whose backlog will miss today's cut-off by at least the
threshold (messages), as the forecast computes it by hand in tests/unit/models/queries/test_forecast.py;
its alerts are about the orders at risk; a threshold under 1 is refused naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.config import RuleConfig
from alerts.rules import read, scope
from tests.unit.models.queries.test_forecast import NOW, forecast_world


@pytest.fixture()
def engine(tmp_path):  # type: ignore[no-untyped-def]
    engine = forecast_world(tmp_path)
    yield engine
    engine.dispose()


def rule(**over: object) -> RuleConfig:
    return RuleConfig.model_validate({"id": "cutoff", "name": "Backlog will miss the cut-off",
                                      "kind": "backlog_cutoff", "threshold": 5, "window": "30m", **over})  # fmt: skip


def test_fires_for_the_queue_missing_its_cutoff(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        reading = read(conn, rule(), NOW)
        [obs] = reading.observations
        assert obs.labels == {"flow": "erp2-3pl2-release", "source_system": "erp2", "target_system": "3pl2",
                              "queue": "release.3pl2", "kind": "backlog_cutoff"}  # fmt: skip
        assert (obs.value, obs.count) == (12.0, 12)
        assert obs.summary == "release.3pl2: 12 of 15 waiting will miss 3pl2's 12:30 cut-off (in 0.35/min, out 0.1/min)"
        assert scope(conn, rule(), obs.labels, NOW).orders == tuple(f"W{i:02}" for i in range(4, 16))
        assert read(conn, rule(threshold=13), NOW).observations == []
        assert read(conn, rule(queue="release.3pl"), NOW).observations == []  # drains in time
        nodata = read(conn, rule(queue="nope.*"), NOW)
        assert nodata.observations == [] and nodata.health == "nodata"


def test_threshold_is_a_count_of_messages() -> None:
    with pytest.raises(ValidationError) as err:
        rule(threshold=0.5)
    assert "threshold: for backlog_cutoff it is a number of messages missing the cut-off, at least 1" in str(err.value)
