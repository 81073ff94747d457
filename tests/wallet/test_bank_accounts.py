"""Bank account numbers for withdrawals: Serbian 3-13-2, Macedonian 3-10-2 and IBAN, each with
its ISO 7064 MOD 97-10 check (pure functions, no database)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet import bank_accounts
from wallet.bank_accounts import InvalidBankAccount


@pytest.mark.parametrize(
    ("text", "kind", "number"),
    [
        ("160-0000000012345-95", "rs", "160-0000000012345-95"),
        ("160-12345-95", "rs", "160-0000000012345-95"),  # the short form, zeros in the middle
        ("160000000001234595", "rs", "160-0000000012345-95"),
        (" 265-1234567890123-40 ", "rs", "265-1234567890123-40"),
        ("840-742221843-57", "rs", "840-0000742221843-57"),  # a published Treasury account
        ("300-0000000424-25", "mk", "300-0000000424-25"),
        ("300000000042425", "mk", "300-0000000424-25"),
        ("250120000058984", "mk", "250-1200000589-84"),
        ("300-424-25", "mk", "300-0000000424-25"),  # short: not a valid Serbian number, a Macedonian one
        ("RS35 2600 0560 1001 6113 79", "iban", "RS35260005601001611379"),
        ("mk07 2501 2000 0058 984", "iban", "MK07250120000058984"),
        ("DE89370400440532013000", "iban", "DE89370400440532013000"),
    ],
)
def test_valid_accounts_are_read_in_any_usual_spelling(text, kind, number):
    account = bank_accounts.parse(text)
    assert (account.kind, account.number) == (kind, number)


def test_a_macedonian_deployment_reads_an_ambiguous_short_number_as_macedonian_first():
    # 160-12345-95 is a valid Serbian number; as Macedonian its check fails, so it stays Serbian
    assert bank_accounts.parse("160-12345-95", home="mk").kind == "rs"
    assert bank_accounts.parse("300-424-25", home="mk").kind == "mk"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("160-0000000012345-96", "control number"),  # one digit of the check off
        ("160-0000000012354-95", "control number"),  # two digits swapped
        ("160000000001234596", "control number"),
        ("300-0000000424-26", "control number"),
        ("16000000000123459", "18 digits"),  # 17 digits
        ("1600000000012345950", "18 digits"),  # 19 digits
        ("160-00000000012345-95", "digits"),  # 14 digits in the middle: not a format
        ("RS35260005601001611378", "check digits"),
        ("RS3526000560100161137", "22 characters"),
        ("DE89 3704 0044 0532 0130 001", "22 characters"),
        ("XX00", "IBAN"),
        ("160-ABC-95", "digits"),
        ("", "Enter"),
        ("   ", "Enter"),
        ("9" * 200, "Enter"),
    ],
)
def test_bad_account_numbers_are_refused_saying_why(text, complaint):
    with pytest.raises(InvalidBankAccount) as info:
        bank_accounts.parse(text)
    assert complaint in info.value.fields["bank_account"][0] or complaint in info.value.message
    assert info.value.status == 400


@given(bank=st.integers(100, 999), middle=st.integers(0, 10**13 - 1))
def test_every_serbian_number_with_its_computed_check_is_valid_and_no_other_check_is(bank, middle):
    body = f"{bank}{middle:013d}"
    check = 98 - int(body) * 100 % 97
    assert bank_accounts.parse(f"{body}{check:02d}").number == f"{bank}-{middle:013d}-{check:02d}"
    wrong = (check + 1) % 100
    with pytest.raises(InvalidBankAccount):
        bank_accounts.parse(f"{body}{wrong:02d}")
