"""Numbers and shapes as students write them, read back as values."""


import pytest

from checks.finders.stated_numbers import MAX_SCAN_CHARS, accuracy_claims, integers, shapes, states_shape


def test_integers_accept_thousands_separators_and_ignore_decimals_and_identifiers():
    text = "Total params: 799,078\nconv1: 320 | fc_parameters = 789510\nloss 0.0312 conv2d_1 25 088"
    assert {799_078, 320, 789_510, 25_088} <= integers(text)
    assert 312 not in integers(text) and 1 not in integers(text)


def test_shapes_in_every_usual_spelling_are_found_in_any_axis_order():
    text = "conv1 -> torch.Size([1, 32, 28, 28])\npool1: 32x14x14\npool2 7 × 7 × 32\nfc1 (500,)"
    written = shapes(text)
    assert states_shape(written, (32, 28, 28))
    assert states_shape(written, (32, 14, 14))
    assert states_shape(written, (32, 7, 7))
    assert not states_shape(written, (64, 28, 28))
    assert not states_shape({(28, 28)}, (1, 28, 28)), "a shape needs all its sizes"
    assert not states_shape({(8, 2, 32, 28, 28)}, (32, 28, 28)), "at most one leading batch size"


def test_accuracy_claims_come_in_percent_whatever_their_form():
    assert accuracy_claims("Test accuracy: 98.26%\nval acc 0.981\naccuracy = 97") == [98.26, 98.1, 97.0]
    assert accuracy_claims("loss 0.05") == []
    assert accuracy_claims("Average prediction accuracy on the 10000 test images: 98.23%") == [98.23]
    assert accuracy_claims("accuracy after 5 epochs: 98.1% (train acc 0.995)") == [98.1, 99.5]
    assert accuracy_claims("accuracy for 3 of 5 classes") == []


def test_a_long_run_of_digits_is_read_quickly_and_is_not_a_number(deadline):
    digits = "7" * 20_000
    plain = "Total params: 799,078\nconv1 -> (32, 28, 28)\nTest accuracy: 98.26%"
    hostile = "\n".join([digits, "Total params: 799,078", f"{digits}x{digits}", "conv1 -> (32, 28, 28)", digits,
                         "Test accuracy: 98.26%"])
    assert integers(hostile) == integers(plain) == {799_078, 32, 28}
    assert shapes(hostile) == shapes(plain) == {(799, 78), (32, 28, 28)}
    assert accuracy_claims(hostile) == accuracy_claims(plain) == [98.26]
    assert shapes(digits + " , " * 50_000) == set() and integers("1," * 100_000) == {1}


def test_the_digits_of_a_decimal_or_an_identifier_are_not_an_integer():
    assert integers("loss 1234.5, acc 98.26, run 12a3") == set()


def test_output_over_the_cap_keeps_its_start_and_its_end(deadline):
    padding = "epoch loss 0.5\n" * (MAX_SCAN_CHARS // 10)
    text = f"Total params: 799,078\n{padding}Test accuracy: 98.26%\npool1: 32x14x14"
    assert len(text) > MAX_SCAN_CHARS
    assert 799_078 in integers(text) and accuracy_claims(text)[-1] == 98.26
    assert states_shape(shapes(text), (32, 14, 14))
