"""Shared option validators: one message style, each bad value refused with what was expected and what came."""

from __future__ import annotations

import math

import pytest

from explainers import options
from explainers.errors import OptionError


def test_whole_numbers_in_range_pass_and_integral_floats_become_ints():
    assert options.whole(3, "n", low=1, high=5) == 3
    assert options.whole(4.0, "n", low=1, high=5) == 4
    assert isinstance(options.whole(4.0, "n", low=1, high=5), int)


@pytest.mark.parametrize("value", [0, 6, 2.5, True, "3", None, math.nan, math.inf])
def test_a_bad_whole_number_names_the_option_and_its_range(value):
    with pytest.raises(OptionError, match=r"n_steps must be a whole number from 1 to 5, got"):
        options.whole(value, "n_steps", low=1, high=5)


def test_an_open_ended_whole_number_says_at_least():
    with pytest.raises(OptionError, match="at least 2"):
        options.whole(1, "k", low=2)


def test_the_off_value_is_named_in_the_message():
    with pytest.raises(OptionError, match=r"from 0 \(off\) to 64"):
        options.whole(65, "smooth_samples", low=0, high=64, off="off")


@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan, True, "0.5"])
def test_a_bad_real_names_its_interval(value):
    with pytest.raises(OptionError, match=r"stdev must be a number in \[0, 1\]"):
        options.real(value, "stdev", low=0, high=1)


def test_an_open_lower_bound_refuses_the_bound_itself():
    assert options.real(1, "x", low=0, high=1, low_open=True) == 1.0
    with pytest.raises(OptionError, match=r"in \(0, 1\]"):
        options.real(0, "x", low=0, high=1, low_open=True)


@pytest.mark.parametrize("value", [-1, 2**63, 1.5, None])
def test_seeds_are_whole_numbers_from_zero_to_2_63_minus_1(value):
    with pytest.raises(OptionError, match=r"seed must be a whole number from 0 to 9223372036854775807"):
        options.seed(value)
    assert options.seed(2**63 - 1) == 2**63 - 1


def test_an_unknown_choice_lists_the_choices():
    with pytest.raises(OptionError, match=r"unknown mode 'fast'; choose one of auto, dense"):
        options.choice("fast", "mode", ("auto", "dense"))


@pytest.mark.parametrize(
    ("value", "message"),
    [("abc", "must be a number"), (None, "must be a number"), ("nan", "finite"), (2.5, "whole number")],
)
def test_ui_fields_are_parsed_with_a_message_instead_of_a_crash(value, message):
    with pytest.raises(OptionError, match=message):
        options.parse_number(value, "window", integer=True)
    assert options.parse_number("32", "window", integer=True) == 32
