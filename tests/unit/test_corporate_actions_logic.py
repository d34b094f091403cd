"""Pure logic of corporate actions: moves explained, actions validated and planned, the CSV parser.

No database and no network; sessions come from the real NYSE calendar.
"""

import datetime as dt
from decimal import Decimal

import pytest

from sigmasight.domain import ActionSpec, InputError
from sigmasight.importers.actions import (
    ActionLine,
    check_actions_against_store,
    parse_actions_csv,
)
from sigmasight.market_data import (
    ACTION_RECHECK_DAYS,
    ActionJob,
    FetchJob,
    Move,
    StoredRange,
    by_symbol,
    late_actions,
    plan_action_fetches,
    restatement_note,
    unexplained_moves,
    validate_actions,
)
from sigmasight.trading_calendar import is_session

FRI, MON, TUE = dt.date(2025, 11, 21), dt.date(2025, 11, 24), dt.date(2025, 11, 25)
SAT = dt.date(2025, 11, 22)
THANKSGIVING = dt.date(2025, 11, 27)


def split(symbol: str, day: dt.date, ratio: str) -> ActionSpec:
    return ActionSpec(symbol, day, "split", Decimal(ratio))


def dividend(symbol: str, day: dt.date, amount: str) -> ActionSpec:
    return ActionSpec(symbol, day, "cash_dividend", Decimal(amount))


# --------------------------------------------------------------------------- moves


def test_a_four_for_one_split_explains_a_75_percent_fall():
    move = Move("NVDA", FRI, 140.0, MON, 35.7)  # 140 / 4 = 35 -> +2 %
    assert move.raw == pytest.approx(-0.745)
    assert unexplained_moves([move], [split("NVDA", MON, "4")]) == {}


def test_a_reverse_split_explains_a_900_percent_rise():
    move = Move("XYZ", FRI, 1.2, MON, 11.5)
    assert unexplained_moves([move], [split("XYZ", MON, "0.1")]) == {}


def test_the_same_move_without_an_action_is_flagged():
    move = Move("NVDA", FRI, 140.0, MON, 35.7)
    other_symbol = split("AAPL", MON, "4")
    earlier = split("NVDA", FRI, "4")  # not inside (previous date, date]
    notes = unexplained_moves([move], [other_symbol, earlier])
    assert notes == {
        "NVDA": [
            "2025-11-24: close moved -74% from the previous bar (2025-11-21); "
            "no split or dividend explains it"
        ]
    }


def test_a_split_over_a_gap_of_several_sessions_still_explains_the_move():
    move = Move("NVDA", dt.date(2025, 11, 18), 140.0, MON, 36.0)
    assert unexplained_moves([move], [split("NVDA", FRI, "4")]) == {}


def test_a_split_that_no_move_matches_is_flagged_with_the_split_named():
    # A 4-for-1 split recorded on a day the price stood still: adjusted, it is +300 %.
    move = Move("AAPL", FRI, 200.0, MON, 201.0)
    notes = unexplained_moves([move], [split("AAPL", MON, "4")])
    assert notes == {
        "AAPL": [
            "2025-11-24: close moved +0% from the previous bar (2025-11-21); "
            "after split 4 ex 2025-11-24 it is still +302%"
        ]
    }


def test_a_split_and_a_dividend_on_one_ex_date_both_adjust_the_previous_close():
    # 200 / 2 - 1 = 99 -> 49.9 is -49.6 %: explained; without the dividend it would be too.
    move = Move("XYZ", FRI, 200.0, MON, 49.9)
    actions = [dividend("XYZ", MON, "1"), split("XYZ", MON, "2")]
    assert move.raw == pytest.approx(-0.7505)
    assert unexplained_moves([move], actions) == {}
    # A dividend alone does not explain a -75 % fall.
    assert "XYZ" in unexplained_moves([move], [dividend("XYZ", MON, "1")])


def test_the_same_move_reported_twice_is_flagged_once():
    move = Move("NVDA", FRI, 140.0, MON, 35.7)
    assert len(unexplained_moves([move, move], [])["NVDA"]) == 1


# --------------------------------------------------------------------------- validation


def check(actions, stored=None, closes=None):
    return validate_actions(
        actions, stored=stored or {}, previous_closes=closes or {}, is_session=is_session
    )


def test_good_actions_pass_and_are_new():
    actions = [split("NVDA", MON, "4"), dividend("AAPL", MON, "0.26")]
    result = check(actions, closes={("AAPL", MON): (FRI, 230.0)})
    assert result.good == result.new == [actions[1], actions[0]]  # by symbol
    assert result.rejected == {}


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (split("X", MON, "0"), "split ex 2025-11-24: rejected, split ratio 0 is not positive"),
        (split("X", MON, "-2"), "split ex 2025-11-24: rejected, split ratio -2 is not positive"),
        (
            dividend("X", MON, "0"),
            "dividend ex 2025-11-24: rejected, dividend 0 is not positive",
        ),
        (
            split("X", SAT, "2"),
            "split ex 2025-11-22: rejected, ex-date 2025-11-22 (Saturday) is not an NYSE session",
        ),
        (
            dividend("X", THANKSGIVING, "1"),
            "dividend ex 2025-11-27: rejected, ex-date 2025-11-27 (Thursday) is not an NYSE "
            "session",
        ),
        (
            dividend("X", MON, "120"),
            "dividend ex 2025-11-24: rejected, dividend 120 is not below the previous close "
            "100.5 (2025-11-21)",
        ),
        (
            dividend("X", MON, "100.5"),
            "dividend ex 2025-11-24: rejected, dividend 100.5 is not below the previous close "
            "100.5 (2025-11-21)",
        ),
    ],
)
def test_each_bad_action_is_rejected_with_its_reason(action, reason):
    result = check([action, split("OK", MON, "2")], closes={("X", MON): (FRI, 100.5)})
    assert result.rejected == {"X": [reason]}
    assert result.good == [split("OK", MON, "2")]
    assert result.n_rejected == 1


def test_a_duplicate_with_another_value_rejects_both_and_an_identical_one_counts_once():
    result = check(
        [
            dividend("X", MON, "0.5"),
            dividend("X", MON, "0.7"),
            split("Y", MON, "2"),
            split("Y", MON, "2.000"),
        ]
    )
    assert result.rejected == {
        "X": [
            "dividend ex 2025-11-24: rejected, the answer has it twice with different values "
            "(0.5, 0.7)"
        ]
    }
    assert result.good == [split("Y", MON, "2")]


def test_a_stored_action_with_another_value_stays_and_the_new_one_is_rejected():
    stored = {
        ("X", MON, "split"): (Decimal("4.000000000000"), "csv"),
        ("Y", MON, "split"): (Decimal("2.000000000000"), "polygon"),
    }
    result = check([split("X", MON, "5"), split("Y", MON, "2")], stored=stored)
    assert result.rejected == {
        "X": ["split ex 2025-11-24: rejected, 5 differs from the stored 4 (from csv), which stays"]
    }
    assert [a.symbol for a in result.good] == ["Y"]
    assert result.new == []  # Y was stored already: not new, never late


def test_values_are_rounded_to_the_stored_twelve_decimals():
    third = ActionSpec("X", MON, "split", Decimal(1) / Decimal(3))
    stored = {("X", MON, "split"): (Decimal("0.333333333333"), "polygon")}
    result = check([third], stored=stored)
    assert result.rejected == {}
    assert result.good[0].value == Decimal("0.333333333333")


def test_late_actions_are_those_on_or_before_the_last_stored_bar():
    actions = [split("A", FRI, "2"), split("B", MON, "2"), split("C", MON, "2")]
    last = {"A": MON, "B": FRI}  # C is new to the database
    assert late_actions(actions, last) == [split("A", FRI, "2")]
    assert late_actions([split("A", MON, "2")], last) == [split("A", MON, "2")]


def test_restatement_note_names_the_action_the_dates_and_the_rerun():
    note = restatement_note([split("NVDA", FRI, "4")], [FRI, MON, TUE], 2)
    assert note == (
        "split 4 ex 2025-11-21 arrived after bars from the ex-date were stored: it changes the "
        "figures of 3 stored risk dates of 2 portfolios (2025-11-21, 2025-11-24, 2025-11-25); "
        "re-run them with `sigmasight run risk --from 2025-11-21 --to 2025-11-25`"
    )
    assert restatement_note([dividend("X", FRI, "1")], [], 0) == (
        "dividend 1 ex 2025-11-21 arrived after bars from the ex-date were stored; no stored "
        "risk date holds X, nothing to re-run"
    )


def test_one_note_covers_a_symbols_late_actions():
    actions = [dividend("X", dt.date(2025, 11, d), "0.1") for d in (3, 4, 5, 6, 7, 10, 11)]
    grouped = by_symbol([*reversed(actions), split("Y", FRI, "2")])
    assert list(grouped) == ["X", "Y"] and grouped["X"] == actions
    note = restatement_note(grouped["X"], [dt.date(2025, 11, 3), MON], 1)
    assert note.startswith(
        "dividend 0.1 ex 2025-11-03, dividend 0.1 ex 2025-11-04, dividend 0.1 ex 2025-11-05, "
        "dividend 0.1 ex 2025-11-06, dividend 0.1 ex 2025-11-07 and 2 more (7 actions) arrived "
        "after bars from the ex-date were stored: they change the figures of 2 stored risk "
        "dates of 1 portfolio (2025-11-03, 2025-11-24)"
    )


# --------------------------------------------------------------------------- planning

AS_OF = TUE


def test_a_backfilled_symbol_gets_its_actions_over_the_same_range():
    jobs = [FetchJob("range", dt.date(2023, 11, 27), AS_OF, ("NEW",), "backfill")]
    assert plan_action_fetches(jobs, {}, as_of=AS_OF, market_wide=True) == [
        ActionJob("symbol", dt.date(2023, 11, 27), AS_OF, ("NEW",))
    ]


def test_nightly_increments_share_one_market_request_rechecking_a_month():
    stored = {
        "AAA": StoredRange(dt.date(2023, 1, 3), MON, 700),
        "BBB": StoredRange(dt.date(2023, 1, 3), FRI, 700),
    }
    jobs = [
        FetchJob("grouped", MON, MON, ("BBB",), "incremental"),
        FetchJob("grouped", TUE, TUE, ("AAA", "BBB"), "incremental"),
        FetchJob("range", dt.date(2023, 11, 27), AS_OF, ("NEW",), "backfill"),
        FetchJob("range", MON, AS_OF, ("O:SPY251219C00600000",), "backfill"),
    ]
    since = FRI - dt.timedelta(days=ACTION_RECHECK_DAYS)
    assert plan_action_fetches(jobs, stored, as_of=AS_OF, market_wide=True) == [
        ActionJob("symbol", dt.date(2023, 11, 27), AS_OF, ("NEW",)),
        ActionJob("market", since, AS_OF, ("AAA", "BBB")),
    ]
    assert plan_action_fetches(jobs, stored, as_of=AS_OF, market_wide=False) == [
        ActionJob("symbol", MON - dt.timedelta(days=ACTION_RECHECK_DAYS), AS_OF, ("AAA",)),
        ActionJob("symbol", since, AS_OF, ("BBB",)),
        ActionJob("symbol", dt.date(2023, 11, 27), AS_OF, ("NEW",)),
    ]


def test_a_symbol_far_behind_is_asked_alone_so_the_market_listing_stays_short():
    stored = {
        "AAA": StoredRange(dt.date(2023, 1, 3), MON, 700),
        "BBB": StoredRange(dt.date(2023, 1, 3), FRI, 700),
        "OLD": StoredRange(dt.date(2023, 1, 3), dt.date(2025, 6, 2), 600),
    }
    jobs = [
        FetchJob("grouped", TUE, TUE, ("AAA", "BBB"), "incremental"),
        FetchJob("range", dt.date(2025, 6, 3), AS_OF, ("OLD",), "incremental"),
        FetchJob("range", dt.date(2023, 1, 3), AS_OF, ("GAP",), "gap"),
    ]
    assert plan_action_fetches(jobs, stored, as_of=AS_OF, market_wide=True) == [
        ActionJob("symbol", dt.date(2023, 1, 3), AS_OF, ("GAP",)),
        ActionJob(
            "symbol", dt.date(2025, 6, 2) - dt.timedelta(days=ACTION_RECHECK_DAYS), AS_OF, ("OLD",)
        ),
        ActionJob("market", FRI - dt.timedelta(days=ACTION_RECHECK_DAYS), AS_OF, ("AAA", "BBB")),
    ]


def test_up_to_date_symbols_are_not_asked_again():
    assert (
        plan_action_fetches([], {"AAA": StoredRange(FRI, AS_OF, 3)}, as_of=AS_OF, market_wide=True)
        == []
    )


def test_a_single_incremental_symbol_is_asked_alone():
    stored = {"AAA": StoredRange(dt.date(2023, 1, 3), MON, 700)}
    jobs = [FetchJob("grouped", TUE, TUE, ("AAA",), "incremental")]
    assert plan_action_fetches(jobs, stored, as_of=AS_OF, market_wide=True) == [
        ActionJob("symbol", MON - dt.timedelta(days=ACTION_RECHECK_DAYS), AS_OF, ("AAA",))
    ]


# --------------------------------------------------------------------------- the CSV parser

HEADER = b"symbol,ex_date,type,value\n"


def parse(body: bytes, header: bytes = HEADER) -> tuple[ActionLine, ...]:
    return parse_actions_csv(header + body, source="actions.csv", is_session=is_session)


def test_a_good_file_in_any_column_order_and_case():
    lines = parse(
        b"4,Split,2025-11-24,NVDA\r\n0.26,CASH_DIVIDEND,2025-11-21,AAPL\r\n",
        header=b"Value, TYPE ,ex_date,Symbol\r\n",
    )
    assert [(item.line, item.action) for item in lines] == [
        (2, split("NVDA", MON, "4")),
        (3, dividend("AAPL", FRI, "0.26")),
    ]


def test_the_same_action_twice_counts_once():
    lines = parse(b"NVDA,2025-11-24,split,4\nNVDA,2025-11-24,split,4.0\n")
    assert [item.line for item in lines] == [2]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            b"NVDA,2025-11-24,split,0",
            "line 2: value 0 must be a number > 0, new shares per old share",
        ),
        (b"NVDA,2025-11-24,split,-4", "line 2: value -4 must be a number > 0"),
        (
            b"AAPL,2025-11-24,cash_dividend,-0.2",
            "line 2: value -0.2 must be a number > 0, the amount per share",
        ),
        (b"AAPL,2025-11-24,cash_dividend,abc", "line 2: value 'abc' is not a number"),
        (b"AAPL,2025-11-24,cash_dividend,", "line 2: value is missing"),
        (
            b"AAPL,2025-11-24,cash_dividend,0.1234567890123",
            "line 2: value 0.1234567890123 has more than 12 decimal places",
        ),
        (b"AAPL,2025-11-24,cash_dividend,1e13", "line 2: value 1e13 is too large"),
        (
            b"AAPL,2025-11-22,split,2",
            "line 2: ex_date 2025-11-22 (Saturday) is not an NYSE session",
        ),
        (
            b"AAPL,2025-11-27,split,2",
            "line 2: ex_date 2025-11-27 (Thursday) is not an NYSE session",
        ),
        (b"AAPL,2025-13-01,split,2", "line 2: ex_date '2025-13-01' is not an ISO date"),
        (
            b"AAPL,2025-11-24,reverse_split,2",
            "line 2: type 'reverse_split' must be split or cash_dividend",
        ),
        (
            b"O:SPY251219C00600000,2025-11-24,split,2",
            "line 2: symbol 'O:SPY251219C00600000' is an option",
        ),
        (b"aapl!,2025-11-24,split,2", "line 2: symbol 'aapl!' is not a ticker"),
        (b",2025-11-24,split,2", "line 2: symbol is missing"),
    ],
)
def test_each_bad_row_is_named_by_its_line(row, reason):
    with pytest.raises(InputError) as info:
        parse(row + b"\n")
    message = str(info.value)
    assert message.startswith("actions.csv line 2: ")
    assert reason in message
    assert "\n" not in message


def test_a_duplicate_with_another_value_names_both_lines():
    with pytest.raises(InputError) as info:
        parse(b"NVDA,2025-11-24,split,4\nAAPL,2025-11-24,split,2\nNVDA,2025-11-24,split,5\n")
    assert str(info.value) == (
        "actions.csv line 4: split of NVDA on 2025-11-24 with value 5, but line 2 gives 4"
    )


def test_a_bad_header_is_line_1():
    with pytest.raises(
        InputError, match=r"actions.csv line 1: bad header \(missing column\(s\) type"
    ):
        parse(b"NVDA,2025-11-24,4\n", header=b"symbol,ex_date,value\n")


def test_problems_of_several_lines_are_all_reported():
    with pytest.raises(InputError) as info:
        parse(b"NVDA,2025-11-24,split,0\nAAPL,2025-11-24,split,2\nMSFT,2025-11-22,split,2\n")
    assert [line.split(":")[0] for line in str(info.value).splitlines()] == [
        "actions.csv line 2",
        "actions.csv line 4",
    ]


def test_store_checks_name_the_line():
    lines = parse(
        b"NVDA,2025-11-24,split,4\nAAPL,2025-11-24,cash_dividend,300\nMSFT,2025-11-24,cash_dividend,0.9\n"
    )
    stored = {("NVDA", MON, "split"): (Decimal("2.000000000000"), "polygon")}
    closes = {("AAPL", MON): (FRI, 230.0), ("MSFT", MON): (FRI, 480.0)}
    with pytest.raises(InputError) as info:
        check_actions_against_store(lines, stored, closes, source="actions.csv")
    assert str(info.value).splitlines() == [
        "actions.csv line 2: split of NVDA on 2025-11-24 is stored with value 2 (from polygon); "
        "4 would change it",
        "actions.csv line 3: dividend 300 is not below the previous close 230 (2025-11-21) of AAPL",
    ]
    # The same value as stored, and a dividend without a stored close before it, pass.
    same = {("NVDA", MON, "split"): (Decimal("4.000000000000"), "polygon")}
    check_actions_against_store(lines[:1] + lines[2:], same, {}, source="actions.csv")
