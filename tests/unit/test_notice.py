"""Which events a notify block asks for, and the Slack-compatible message (``core.notice``)."""

from __future__ import annotations

import pytest

from batch.core import notice


@pytest.mark.parametrize(("block", "failed", "event"), [
    (None, 0, "finished"),
    ({"webhook": "u"}, 3, "failed"),  # no on: every end, named for what happened
    ({"on": ["finished"]}, 1, "failed"),
    ({"on": ["failed"]}, 1, "failed"),
    ({"on": ["failed"]}, 0, None),
    ({"on": ["paused", "budget"]}, 0, None),
])
def test_end_event(block: dict[str, object] | None, failed: int, event: str | None) -> None:
    assert notice.end_event(block, failed) == event


def test_row_channels_round_trip() -> None:
    assert notice.row_channel("webhook") == "webhook"
    assert notice.parse_channel(notice.row_channel("command", "paused", 12)) == ("command", "paused")
    assert notice.parse_channel("webhook") == ("webhook", None)
    assert len(notice.row_channel("command", "finished", 999)) <= 20  # notifications.channel is String(20)


def test_slack_payload_is_one_text_field() -> None:
    summary = {"batch_id": 7, "name": "night", "counts": {"succeeded": 3, "failed": 7}, "cost_usd": 0.45,
               "event": "failed", "reason": None, "report_path": "/r/report.html",
               "failures": [{"id": f"j{i}", "error": "boom"} for i in range(7)]}
    assert notice.payload({"format": "json"}, summary) is summary
    [(key, text)] = notice.payload({"format": "slack"}, summary).items()
    assert key == "text"
    assert text.splitlines() == [
        "nanobatch: batch 7 (night) finished with failed jobs: 7 failed, 3 succeeded; $0.45 spent",
        "failures: j0: boom; j1: boom; j2: boom; j3: boom; j4: boom (and 2 more)",
        "report: /r/report.html",
    ]
