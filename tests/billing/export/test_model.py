"""Export settings refuse what a back-office would get wrong, naming the key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from billing.export.espi import _transitions, dst_rule
from billing.export.model import ExportError, ExportSettings, ExportSite
from billing.period import BillingPeriod


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(ValidationError, match=r"nmi\.M1: 'QB1000000O' is not an NMI"):
        ExportSettings(nmi={"M1": "QB1000000O"})  # letter O is never in an NMI
    with pytest.raises(ValidationError, match=r"nmi\.M2: QB10000001 is also the NMI of meter M1"):
        ExportSettings(nmi={"M1": "QB10000001", "M2": "QB10000001"})
    with pytest.raises(ValidationError, match="to_participant"):
        ExportSettings(to_participant="RETAIL-ER")
    with pytest.raises(ValidationError, match="extra"):
        ExportSettings.model_validate({"nmis": {}})  # a misspelt key is refused, not ignored
    with pytest.raises(ExportError, match="site name"):
        ExportSite("my site")


def test_half_hour_daylight_saving_is_found_to_the_minute() -> None:
    # Lord Howe Island 2026: standard +10:30, DST +11:00 (30 minutes) from Sunday 4 October
    # 02:00 local (= 3 Oct 15:30Z); rule: hour 2 << 12 | day 4 << 20 | month 10 << 28.
    period = BillingPeriod.month("2026-10", "Australia/Lord_Howe")
    start, _, saving = _transitions(period)
    assert saving == 1800
    assert start is not None and start.isoformat() == "2026-10-03T15:30:00+00:00"
    assert dst_rule(start, period) == "A0402000"
