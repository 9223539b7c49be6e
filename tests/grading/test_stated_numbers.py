"""Numbers and shapes as students write them, read back as values; stated accuracies judged
against the grader's measurements; the numbers a network should be stated with."""

import nbformat
import torch
from torch import nn

from checks.finders.network_numbers import own_numbers
from checks.finders.stated_numbers import (
    MAX_SCAN_CHARS,
    accuracy_claims,
    integers,
    judge_accuracy_claims,
    shapes,
    stated_text,
    states_shape,
)
from checks.probe import structure


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
    hostile = "\n".join(
        [
            digits,
            "Total params: 799,078",
            f"{digits}x{digits}",
            "conv1 -> (32, 28, 28)",
            digits,
            "Test accuracy: 98.26%",
        ]
    )
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


def notebook(printed: str, markdown: str = "") -> nbformat.NotebookNode:
    code = nbformat.v4.new_code_cell("print(...)", outputs=[nbformat.v4.new_output("stream", text=printed)])
    return nbformat.v4.new_notebook(cells=[code, nbformat.v4.new_markdown_cell(markdown)])


def test_the_reported_accuracy_is_the_last_test_claim_in_outputs_or_markdown_and_any_model_may_match():
    measured = [0.9812, 0.9905]
    stated = judge_accuracy_claims(notebook("epoch 1: val acc 0.951\nTest accuracy: 99.00%"), measured)
    assert (stated.claims, stated.reported) == ([95.1, 99.0], 99.0) and stated.agree, "the second model's 99.05%"
    in_markdown = judge_accuracy_claims(
        notebook("loss 0.05", "Our network reaches an accuracy of **98.3%**."), measured
    )
    assert (in_markdown.claims, in_markdown.reported) == ([98.3], 98.3) and in_markdown.agree, "no test claim: the last"
    per_epoch = judge_accuracy_claims(notebook("accuracy on the test set: 98.2%\nepoch 5: train acc 0.999"), measured)
    assert per_epoch.reported == 98.2 and per_epoch.agree, "a later training figure does not replace the test claim"
    assert stated_text(notebook("printed", "written")) == "printed\nwritten"


def test_a_wrong_test_claim_is_not_rescued_by_a_training_figure_that_happens_to_match():
    stated = judge_accuracy_claims(notebook("epoch 5: train accuracy 98.1%\nTest accuracy: 91.00%"), [0.982])
    assert stated.reported == 91.0 and not stated.agree
    line = judge_accuracy_claims(notebook("train acc 0.981, test acc 0.910"), [0.982])
    assert [claim.on_test for claim in line.stated] == [False, True] and not line.agree


def test_a_stated_accuracy_no_model_reaches_does_not_agree():
    stated = judge_accuracy_claims(notebook("Test accuracy: 99.50%", "accuracy 97.0%"), [0.1012, 0.9805])
    assert stated.claims == [99.5, 97.0] and not stated.agree
    assert not judge_accuracy_claims(notebook("loss 0.05"), [0.99]).claims
    assert judge_accuracy_claims(notebook("accuracy: 98.00%"), [0.9840], tolerance=0.5).agree
    assert not judge_accuracy_claims(notebook("accuracy: 98.00%"), [0.9840], tolerance=0.1).agree


class ColourNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 16 * 16, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


def test_the_numbers_to_state_are_read_from_any_network_with_its_own_class_count():
    description = structure.describe(ColourNet(), (2, 3, 32, 32))
    numbers = own_numbers(description, "the notebook's network", 2, ("outputs", "with pooling"))
    assert numbers.sizes == [(8, 32, 32), (8, 16, 16)], "the two class scores are no layer size to state"
    assert numbers.parameters == {
        "convolutional": 3 * 8 * 9 + 8,
        "fully connected": 8 * 16 * 16 * 2 + 2,
        "total": 3 * 8 * 9 + 8 + 8 * 16 * 16 * 2 + 2,
    }
    assert numbers.neurons == {
        "outputs": {"convolutional": 8192, "fully connected": 2, "total": 8194},
        "with pooling": {"convolutional": 8192 + 2048, "fully connected": 2, "total": 10242},
    }
    assert own_numbers(description, "", 10, ("a", "b")).sizes[-1] == (2,), "with ten classes, two outputs are a layer"
