"""Voucher codes: 16 digits whose last is a Luhn check digit, derived from a random seed with a
keyed HMAC; typing errors are caught by the check digit before any lookup."""

import pytest

from vouchers import codes


def test_generated_codes_are_sixteen_digits_with_a_valid_check_digit():
    generated = {codes.code_from_seed(codes.new_seed()) for _ in range(500)}
    assert len(generated) == 500
    assert all(len(c) == 16 and c.isdigit() and codes.is_valid(c) for c in generated)


def test_every_single_digit_mistake_is_caught_by_the_check_digit():
    code = codes.code_from_seed(codes.new_seed())
    for i in range(16):
        for digit in "0123456789":
            if digit != code[i]:
                assert not codes.is_valid(code[:i] + digit + code[i + 1 :])


def test_swapping_two_neighbouring_digits_is_caught_unless_they_are_0_and_9():
    code = codes.code_from_seed(codes.new_seed())
    for i in range(15):
        a, b = code[i], code[i + 1]
        if a != b and {a, b} != {"0", "9"}:
            assert not codes.is_valid(code[:i] + b + a + code[i + 2 :])


@pytest.mark.parametrize("raw", ["4539 1488 0343 6467", "4539-1488-0343-6467", " 4539148803436467 "])
def test_spaces_and_dashes_in_a_typed_code_are_ignored(raw):
    assert codes.normalize(raw) == "4539148803436467" and codes.is_valid(codes.normalize(raw))


def test_the_same_seed_gives_the_same_code_and_the_lookup_hash_is_keyed(settings):
    seed = codes.new_seed()
    code = codes.code_from_seed(seed)
    digest = codes.lookup_hash(code)
    assert codes.code_from_seed(seed) == code and len(digest) == 64 and code not in digest
    settings.VOUCHER_SECRET_KEY = "another-key-" * 4
    assert codes.code_from_seed(seed) != code and codes.lookup_hash(code) != digest
