"""``sigmasight limits``: set, remove and list risk limits (RISK-CONVENTIONS C31)."""

import argparse

from cli.common import Subparsers, add_command, add_group, require_current_schema

KEYS_HELP = (
    "Limit keys: hist_var_95_fraction (1-day 95 % historical VaR, full window, fraction of "
    "NAV), gross_leverage, net_leverage (a cap on its magnitude), beta_spy_150d (a range: MIN "
    "MAX, any sign), max_position_weight (|exposure| of one underlying / NAV, options netted "
    "with it), worst_stress_fraction (the largest linear stress loss / NAV). Every bound but "
    "the beta range is a number >= 0. A portfolio's own limit replaces the default of its key. "
    "Limits are not dated: a risk run uses those stored when it starts, for every date it "
    "computes."
)


def _owner(args: argparse.Namespace) -> str | None:
    portfolio: str | None = args.portfolio
    return portfolio


def _whose(args: argparse.Namespace) -> str:
    return "default" if args.portfolio is None else args.portfolio


def _bound_text(bound: float | tuple[float, float]) -> str:
    if isinstance(bound, tuple):
        return f"[{bound[0]:g}, {bound[1]:g}]"
    return f"{bound:g}"


def cmd_limits_set(args: argparse.Namespace) -> int:
    """Set one limit of a portfolio, or a default."""
    from sigmasight.runs.limits import parse_bound, set_limit

    words = [args.value] + ([args.max] if args.max is not None else [])
    bound = parse_bound(args.key, words)  # bad input fails before the database is touched
    require_current_schema()
    changed = set_limit(_owner(args), args.key, words)
    state = "set" if changed else "unchanged"
    print(f"{_whose(args)} {args.key} {_bound_text(bound)}: {state} (used from the next risk run)")
    return 0


def cmd_limits_unset(args: argparse.Namespace) -> int:
    """Remove one limit of a portfolio, or a default."""
    from sigmasight.runs.limits import unset_limit

    require_current_schema()
    removed = unset_limit(_owner(args), args.key)
    print(f"{_whose(args)} {args.key}: {'removed' if removed else 'was not set (nothing changed)'}")
    return 0


def cmd_limits_list(args: argparse.Namespace) -> int:
    """List the stored limits, or those in effect for one portfolio."""
    from sigmasight.runs.limits import list_limits

    require_current_schema()
    rows = list_limits(args.portfolio)
    if not rows:
        print("no limits" + (f" apply to {args.portfolio}" if args.portfolio else " are set"))
        return 0
    print(f"{'portfolio':<20} {'limit':<22} {'bound':<16} {'source':<8} updated")
    for row in rows:
        print(
            f"{row.portfolio or '(default)':<20} {row.limit:<22} {_bound_text(row.bound):<16} "
            f"{row.source:<8} {row.updated_at:%Y-%m-%d %H:%M}"
        )
    return 0


def _add_owner(parser: argparse.ArgumentParser) -> None:
    owner = parser.add_mutually_exclusive_group(required=True)
    owner.add_argument("--portfolio", metavar="ID", help="the portfolio's external id")
    owner.add_argument(
        "--default",
        action="store_true",
        help="the default for every portfolio without its own limit of this key",
    )


def register_limits(commands: Subparsers) -> None:
    """Add ``limits`` and its sub-commands."""
    limits = add_group(
        commands,
        "limits",
        "set, remove or list risk limits (evaluated by every risk run)",
        "limits_command",
        "ACTION",
    )
    set_ = add_command(
        limits, "set", cmd_limits_set, "set one limit of a portfolio (--portfolio) or a default"
    )
    set_.epilog = KEYS_HELP
    _add_owner(set_)
    set_.add_argument("key", metavar="KEY", help="the limit key")
    set_.add_argument("value", metavar="VALUE", help="the bound (the minimum for beta_spy_150d)")
    set_.add_argument("max", metavar="MAX", nargs="?", help="the maximum of beta_spy_150d")
    unset = add_command(
        limits, "unset", cmd_limits_unset, "remove one limit of a portfolio or a default"
    )
    unset.epilog = KEYS_HELP
    _add_owner(unset)
    unset.add_argument("key", metavar="KEY", help="the limit key")
    list_ = add_command(
        limits,
        "list",
        cmd_limits_list,
        "list the defaults and every portfolio's own limits, or those in effect for one",
    )
    list_.epilog = KEYS_HELP
    list_.add_argument(
        "--portfolio", metavar="ID", help="only the limits in effect for this portfolio"
    )
