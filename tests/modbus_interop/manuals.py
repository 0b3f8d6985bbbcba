"""Register contents written from the makers' manuals, independently of `config/maps/`.

Each row: (address as on the wire, raw float32 the meter holds, OBIS the head-end should
report, expected value in head-end units, unit). Scales are applied by hand here from the
manuals, never taken from our map files, so a wrong address, scale, word order or function code
in a map shows up as a mismatch.

- CHINT DTSU666 user manual ZTY0.464.1448, Table 11 (read 03H; float32 ABCD; V ×0.1, A ×0.001,
  W and var ×0.1, PF ×0.001, Hz ×0.01; kWh / kvarh): 0x2000 Uab .. 0x200A Uc, 0x200C Ia..,
  0x2012 Pt, 0x2014 Pa.., 0x201A Qt, 0x201C Qa.., 0x202A PFt, 0x202C PFa.., 0x2044 Freq,
  0x401E ImpEp, 0x4020 ImpEpA.., 0x4026 NetImpEp, 0x4028 ExpEp, 0x402A ExpEpA.., 0x4030
  NetExpEp, 0x4032/0x403C/0x4046/0x4050 quadrant I..IV reactive energy.
- Eastron SDM630 Modbus protocol, input registers (04; float32; unscaled V, A, W, VA, VAr, Hz,
  kWh, kVArh): 30001 = address 0 .. (see the table below; reserved addresses are left
  undefined, so the peer refuses them).
- Eastron SDM120 Modbus protocol, input registers: 30001 V, 30007 A, 30013 W, 30019 VA, 30025
  VAr, 30031 PF, 30037 phase angle, 30071 Hz, 30073/30075 import/export kWh, 30077/30079
  import/export kVArh, 30343 total kWh, 30345 total kVArh.
"""

from __future__ import annotations

from decimal import Decimal

Row = tuple[int, float, str | None, Decimal | None, str | None]
D = Decimal


def _obis(code: str) -> str:
    return f"1.0.{code}.255"


# fmt: off
DTSU666: list[Row] = [
    (0x2000, 3987.0, _obis("124.7.0"), D("398.7"), "V"),   # Uab
    (0x2002, 3995.0, _obis("125.7.0"), D("399.5"), "V"),   # Ubc
    (0x2004, 4001.0, _obis("126.7.0"), D("400.1"), "V"),   # Uca
    (0x2006, 2301.0, _obis("32.7.0"), D("230.1"), "V"),    # Ua
    (0x2008, 2298.0, _obis("52.7.0"), D("229.8"), "V"),    # Ub
    (0x200A, 2312.0, _obis("72.7.0"), D("231.2"), "V"),    # Uc
    (0x200C, 5123.0, _obis("31.7.0"), D("5.123"), "A"),    # Ia
    (0x200E, 4876.0, _obis("51.7.0"), D("4.876"), "A"),    # Ib
    (0x2010, 250.0, _obis("71.7.0"), D("0.25"), "A"),      # Ic
    (0x2012, 27543.0, _obis("1.7.0"), D("2754.3"), "W"),   # Pt (import part)
    (0x2014, 11234.0, _obis("21.7.0"), D("1123.4"), "W"),  # Pa
    (0x2016, 10987.0, _obis("41.7.0"), D("1098.7"), "W"),  # Pb
    (0x2018, 5322.0, _obis("61.7.0"), D("532.2"), "W"),    # Pc
    (0x201A, 9056.0, _obis("3.7.0"), D("905.6"), "var"),   # Qt (positive part)
    (0x201C, 3692.0, _obis("23.7.0"), D("369.2"), "var"),  # Qa
    (0x201E, 3611.0, _obis("43.7.0"), D("361.1"), "var"),  # Qb
    (0x2020, -1753.0, _obis("63.7.0"), D("-175.3"), "var"),  # Qc
    (0x202A, 950.0, _obis("13.7.0"), D("0.95"), None),     # PFt
    (0x202C, 951.0, _obis("33.7.0"), D("0.951"), None),    # PFa
    (0x202E, 949.0, _obis("53.7.0"), D("0.949"), None),    # PFb
    (0x2030, -950.0, _obis("73.7.0"), D("-0.95"), None),   # PFc
    (0x2044, 4998.0, _obis("14.7.0"), D("49.98"), "Hz"),   # Freq
    (0x401E, 12345.67, _obis("1.8.0"), D("12345670"), "Wh"),   # ImpEp
    (0x4020, 4115.22, _obis("21.8.0"), D("4115220"), "Wh"),    # ImpEpA
    (0x4022, 4115.23, _obis("41.8.0"), D("4115230"), "Wh"),    # ImpEpB
    (0x4024, 4115.22, _obis("61.8.0"), D("4115220"), "Wh"),    # ImpEpC
    (0x4026, 11111.17, None, None, None),                       # NetImpEp (not read)
    (0x4028, 1234.5, _obis("2.8.0"), D("1234500"), "Wh"),      # ExpEp
    (0x402A, 411.5, _obis("22.8.0"), D("411500"), "Wh"),       # ExpEpA
    (0x402C, 411.6, _obis("42.8.0"), D("411600"), "Wh"),       # ExpEpB
    (0x402E, 411.4, _obis("62.8.0"), D("411400"), "Wh"),       # ExpEpC
    (0x4030, 0.0, None, None, None),                            # NetExpEp (not read)
    (0x4032, 3210.25, _obis("5.8.0"), D("3210250"), "varh"),   # quadrant I
    (0x403C, 12.5, _obis("6.8.0"), D("12500"), "varh"),        # quadrant II
    (0x4046, 0.75, _obis("7.8.0"), D("750"), "varh"),          # quadrant III
    (0x4050, 101.0, _obis("8.8.0"), D("101000"), "varh"),      # quadrant IV
]
DTSU666_EXTRA = {_obis("2.7.0"): (D(0), "W"), _obis("4.7.0"): (D(0), "var")}

SDM630: list[Row] = [
    (0x0000, 230.1, _obis("32.7.0"), D("230.1"), "V"),     # 30001 phase 1 L-N volts
    (0x0002, 229.8, _obis("52.7.0"), D("229.8"), "V"),     # 30003
    (0x0004, 231.2, _obis("72.7.0"), D("231.2"), "V"),     # 30005
    (0x0006, 5.123, _obis("31.7.0"), D("5.123"), "A"),     # 30007 phase 1 current
    (0x0008, 4.876, _obis("51.7.0"), D("4.876"), "A"),     # 30009
    (0x000A, 0.25, _obis("71.7.0"), D("0.25"), "A"),       # 30011
    (0x000C, 1123.4, _obis("21.7.0"), D("1123.4"), "W"),   # 30013 phase 1 power
    (0x000E, 1098.7, _obis("41.7.0"), D("1098.7"), "W"),   # 30015
    (0x0010, -53.2, _obis("61.7.0"), D("-53.2"), "W"),     # 30017
    (0x0012, 1182.5, _obis("29.7.0"), D("1182.5"), "VA"),  # 30019 phase 1 volt amps
    (0x0014, 1156.5, _obis("49.7.0"), D("1156.5"), "VA"),  # 30021
    (0x0016, 57.8, _obis("69.7.0"), D("57.8"), "VA"),      # 30023
    (0x0018, 369.2, _obis("23.7.0"), D("369.2"), "var"),   # 30025 phase 1 VAr
    (0x001A, 361.1, _obis("43.7.0"), D("361.1"), "var"),   # 30027
    (0x001C, 22.6, _obis("63.7.0"), D("22.6"), "var"),     # 30029
    (0x001E, 0.95, _obis("33.7.0"), D("0.95"), None),      # 30031 phase 1 PF
    (0x0020, 0.951, _obis("53.7.0"), D("0.951"), None),    # 30033
    (0x0022, -0.92, _obis("73.7.0"), D("-0.92"), None),    # 30035 (reverse current)
    (0x0024, 18.2, None, None, None),                      # 30037 phase angles
    (0x0026, 18.1, None, None, None),
    (0x0028, 157.0, None, None, None),
    (0x002A, 230.4, None, None, None),                     # 30043 average L-N volts
    (0x002E, 3.416, None, None, None),                     # 30047 average line current
    (0x0030, 10.249, None, None, None),                    # 30049 sum of line currents
    (0x0034, 2168.9, _obis("1.7.0"), D("2168.9"), "W"),    # 30053 total system power
    (0x0038, 2396.8, _obis("9.7.0"), D("2396.8"), "VA"),   # 30057 total system VA
    (0x003C, 752.9, _obis("3.7.0"), D("752.9"), "var"),    # 30061 total system VAr
    (0x003E, 0.905, _obis("13.7.0"), D("0.905"), None),    # 30063 total system PF
    (0x0042, 25.2, None, None, None),                      # 30067 total phase angle
    (0x0046, 49.98, _obis("14.7.0"), D("49.98"), "Hz"),    # 30071 frequency
    (0x0048, 12345.67, _obis("1.8.0"), D("12345670"), "Wh"),    # 30073 import kWh
    (0x004A, 1234.5, _obis("2.8.0"), D("1234500"), "Wh"),       # 30075 export kWh
    (0x004C, 3210.25, _obis("3.8.0"), D("3210250"), "varh"),    # 30077 import kVArh
    (0x004E, 12.5, _obis("4.8.0"), D("12500"), "varh"),         # 30079 export kVArh
    (0x0050, 13000.0, None, None, None),                        # 30081 total VAh
    (0x00C8, 398.7, _obis("124.7.0"), D("398.7"), "V"),    # 30201 L1-L2 volts
    (0x00CA, 399.5, _obis("125.7.0"), D("399.5"), "V"),    # 30203 L2-L3
    (0x00CC, 400.1, _obis("126.7.0"), D("400.1"), "V"),    # 30205 L3-L1
    (0x00CE, 399.4, None, None, None),                     # 30207 average L-L
    (0x0156, 13580.17, _obis("15.8.0"), D("13580170"), "Wh"),   # 30343 total kWh
    (0x0158, 3222.75, None, None, None),                        # 30345 total kVArh
    (0x015A, 4115.22, _obis("21.8.0"), D("4115220"), "Wh"),     # 30347 L1 import kWh
    (0x015C, 4115.23, _obis("41.8.0"), D("4115230"), "Wh"),     # 30349
    (0x015E, 4115.22, _obis("61.8.0"), D("4115220"), "Wh"),     # 30351
    (0x0160, 411.5, _obis("22.8.0"), D("411500"), "Wh"),        # 30353 L1 export kWh
    (0x0162, 411.6, _obis("42.8.0"), D("411600"), "Wh"),        # 30355
    (0x0164, 411.4, _obis("62.8.0"), D("411400"), "Wh"),        # 30357
]
SDM630_EXTRA = {_obis("2.7.0"): (D(0), "W"), _obis("4.7.0"): (D(0), "var")}

SDM120: list[Row] = [
    (0x0000, 230.1, _obis("32.7.0"), D("230.1"), "V"),     # 30001 voltage
    (0x0006, 9.863, _obis("31.7.0"), D("9.863"), "A"),     # 30007 current
    (0x000C, 2148.7, _obis("1.7.0"), D("2148.7"), "W"),    # 30013 active power
    (0x0012, 2261.8, _obis("9.7.0"), D("2261.8"), "VA"),   # 30019 apparent power
    (0x0018, 706.2, _obis("3.7.0"), D("706.2"), "var"),    # 30025 reactive power
    (0x001E, 0.95, _obis("13.7.0"), D("0.95"), None),      # 30031 power factor
    (0x0024, 18.19, None, None, None),                     # 30037 phase angle
    (0x0046, 50.01, _obis("14.7.0"), D("50.01"), "Hz"),    # 30071 frequency
    (0x0048, 5432.1, _obis("1.8.0"), D("5432100"), "Wh"),  # 30073 import kWh
    (0x004A, 7.25, _obis("2.8.0"), D("7250"), "Wh"),       # 30075 export kWh
    (0x004C, 1785.4, _obis("3.8.0"), D("1785400"), "varh"),  # 30077 import kVArh
    (0x004E, 0.5, _obis("4.8.0"), D("500"), "varh"),       # 30079 export kVArh
    (0x0156, 5439.35, _obis("15.8.0"), D("5439350"), "Wh"),  # 30343 total kWh
    (0x0158, 1785.9, None, None, None),                    # 30345 total kVArh
]
SDM120_EXTRA = {_obis("2.7.0"): (D(0), "W"), _obis("4.7.0"): (D(0), "var")}
# fmt: on

# model -> (function code, rows, expected values not in a row: the zero export parts)
MANUALS: dict[str, tuple[int, list[Row], dict[str, tuple[Decimal, str | None]]]] = {
    "dtsu666": (3, DTSU666, DTSU666_EXTRA),
    "sdm630": (4, SDM630, SDM630_EXTRA),
    "sdm120": (4, SDM120, SDM120_EXTRA),
}

# The signed total active power register while exporting: (address, raw, expected W exported).
EXPORTING = {
    "dtsu666": (0x2012, -15000.0, D("1500")),
    "sdm630": (0x0034, -1500.0, D("1500")),
    "sdm120": (0x000C, -1500.0, D("1500")),
}


def expected(model: str) -> dict[str, tuple[Decimal, str | None]]:
    """OBIS -> (value, unit) the head-end must report for the manual table of `model`."""
    _, rows, extra = MANUALS[model]
    out = {obis: (value, unit) for _, _, obis, value, unit in rows if obis and value is not None}
    out.update(extra)
    return out
