"""Rule validation names the field, in the rules file as in the API: a table of bad rules and what is said."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.config import RulesFileError, load_rules_file

GOOD = 'id = "dlq"\nname = "DLQ"\nkind = "queue_depth"\nthreshold = 1\n'


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ('for = "soon"', "for: 'soon' is not a duration like 30s, 5m, 4h or 1d"),
        ('for = "25h"', "for: at most 1d (a condition held longer is already news)"),
        ('severity = "urgent"', "severity: Input should be 'critical', 'high', 'medium' or 'low'"),
        ('labels = { kind = "x" }', "labels: label 'kind' is set by Flowwatch (reserved: alertname, severity, kind,"),
        ('labels = { "2team" = "x" }', "labels: label name '2team' must be letters, digits and _"),
        ('on_nodata = "page"', "on_nodata: Input should be 'notify' or 'ignore'"),
        ('kind = "orders_at_risk"\nthreshold = 0.5', None),  # duplicate key: TOML itself refuses
    ],
)
def test_a_bad_rule_in_the_file_is_refused_naming_file_rule_and_field(
    tmp_path: Path, extra: str, said: str | None
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(f"[[rules]]\n{GOOD}{extra}\n")
    with pytest.raises(RulesFileError) as refused:
        load_rules_file(path)
    if said is None:
        assert "is not valid TOML" in str(refused.value)
    else:
        assert str(refused.value).startswith(f"alert rules file {path}, rule 1 (dlq): {said}")


def test_a_kind_checks_its_own_threshold(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[rules]]\nid = "risk"\nname = "Risk"\nkind = "orders_at_risk"\nthreshold = 0.5\n')
    with pytest.raises(RulesFileError, match=r"rule 1 \(risk\): threshold: for orders_at_risk it is a number"):
        load_rules_file(path)
    path.write_text(f'[[rules]]\n{GOOD}on_nodata = "ignore"\n')
    (rule,) = load_rules_file(path)
    assert rule.on_nodata == "ignore" and rule.definition()["for"] == "0s"
