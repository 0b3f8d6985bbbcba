"""The billing commands of `headend`: bill, export, pay, payments import, prepay.

`headend.cli.main` (the entry point, the one place that composes the head-end and billing)
registers them; nothing else in `headend` imports billing. Importing this package also registers
smart payment's daemon extension, so `headend run` of a fleet file with `[billing.prepay]` runs
fee control.
"""

from __future__ import annotations

import argparse

from billing.cli.bill import add_bill_parser
from billing.cli.export import add_export_parser
from billing.cli.pay import add_pay_parsers
from billing.service.prepay import prepay_extension
from headend.service import extensions

extensions.register(prepay_extension)


def add_billing_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_bill_parser(commands)
    add_export_parser(commands)
    add_pay_parsers(commands)
