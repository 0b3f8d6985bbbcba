"""What a DL/T 645 meter should report for a simulated meter, worked out from its registers."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from drivers.sim import physics
from drivers.sim.physics import SimulatedMeter


def energy_wh(wh: object) -> Decimal:
    # The register holds kWh with 2 decimals (truncated), i.e. whole tens of Wh.
    assert isinstance(wh, Decimal)
    return (wh / 1000).quantize(Decimal("0.01"), rounding=ROUND_DOWN) * 1000


def expected_values(meter: SimulatedMeter) -> dict[str, Decimal]:
    out = {
        "1.0.1.8.0.255": energy_wh(meter.value(physics.IMPORT_TOTAL)),
        "1.0.2.8.0.255": energy_wh(meter.value(physics.EXPORT_TOTAL)),
    }
    for t, obis in enumerate(physics.IMPORT_TARIFF, start=1):
        out[f"1.0.1.8.{t}.255"] = energy_wh(meter.value(obis))
    for i, c in enumerate((32, 52, 72)):
        out[f"1.0.{c}.7.0.255"] = Decimal(str(meter.value(physics.VOLTAGE[i])))
    for i, c in enumerate((31, 51, 71)):
        out[f"1.0.{c}.7.0.255"] = Decimal(str(meter.value(physics.CURRENT[i])))
    for i, c in enumerate((36, 56, 76)):
        out[f"1.0.{c}.7.0.255"] = Decimal(str(meter.value(physics.POWER_PHASE[i])))
    imp = meter.value(physics.IMPORT_POWER)
    exp = meter.value(physics.EXPORT_POWER)
    assert isinstance(imp, Decimal) and isinstance(exp, Decimal)
    out["1.0.16.7.0.255"] = imp - exp
    out["1.0.1.7.0.255"] = max(imp - exp, Decimal(0))
    out["1.0.2.7.0.255"] = max(exp - imp, Decimal(0))
    return out
