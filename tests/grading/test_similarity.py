"""Similarity across a class: copied code and copied written answers are found, what everyone shares is not."""

from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from checks.grading.scheme import load_assignment
from checks.publish.similarity import CODE, WRITTEN, Passage, find_similar, starter_code

TRAINING = '''
def train_epochs(network, loader, epochs=5, rate=1e-3):
    """Train with Adam and return the mean loss of every epoch."""
    optimiser = optim.Adam(network.parameters(), lr=rate)
    criterion = nn.CrossEntropyLoss()
    history = []
    for epoch in range(epochs):
        network.train()
        running, seen = 0.0, 0
        for images, labels in loader:
            optimiser.zero_grad()
            loss = criterion(network(images), labels)
            loss.backward()
            optimiser.step()
            running += loss.item() * len(labels)
            seen += len(labels)
        history.append(running / seen)
        print(f"epoch {epoch + 1}: {history[-1]:.4f}")
    return history


def test_accuracy(network, images, labels, batch=512):
    network.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch):
            guess = network(images[start:start + batch]).argmax(dim=1)
            correct += (guess == labels[start:start + batch]).sum().item()
    return correct / len(images)
'''

RENAMED_COPY = '''
# my training loop
def fit_model(net, data_loader, n_epochs=5, learning_rate=1e-3):
    """Fits the net."""
    opt = optim.Adam(net.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for ep in range(n_epochs):
        net.train()
        total, count = 0.0, 0
        for x_batch, y_batch in data_loader:
            opt.zero_grad()
            batch_loss = loss_fn(net(x_batch), y_batch)
            batch_loss.backward()
            opt.step()
            total += batch_loss.item() * len(y_batch)
            count += len(y_batch)
        losses.append(total / count)
        print(f"epoch {ep + 1}: {losses[-1]:.4f}")
    return losses


def evaluate(net, xs, ys, bs=512):
    net.eval()
    hits = 0
    with torch.no_grad():
        for s in range(0, len(xs), bs):
            pred = net(xs[s:s + bs]).argmax(dim=1)
            hits += (pred == ys[s:s + bs]).sum().item()
    return hits / len(xs)
'''

OCCLUSION = """
def occlusion_map(model, image, label, patch=4, stride=2):
    heat = np.zeros(((28 - patch) // stride + 1, (28 - patch) // stride + 1))
    with torch.no_grad():
        for row in range(heat.shape[0]):
            for col in range(heat.shape[1]):
                covered = image.clone()
                covered[..., row * stride:row * stride + patch, col * stride:col * stride + patch] = 0.5
                heat[row, col] = F.softmax(model(covered), dim=1)[0, label].item()
    plt.imshow(heat, cmap="viridis")
    plt.colorbar()
    plt.title("probability of the true class")
    return heat
"""

LAMBDA_SWEEP = """
lambdas = [0.001, 0.01, 0.1, 0.5, 2.0]
distances = {}
for lam in lambdas:
    x_cf, trace = find_counterfactual(cnn, x0, 8, lam=lam)
    distances[lam] = float((x_cf - x0).abs().sum())
    if trace[-1] > trace[0]:
        print("loss went up for", lam)
plt.semilogx(list(distances), list(distances.values()), "o-")
plt.xlabel("lambda")
plt.ylabel("L1 distance")
plt.title("sparsity against lambda")
plt.show()
"""

TOP_K = """
class Ranked:
    def __init__(self, names):
        self.names = names

    def top(self, scores, k=5):
        values, order = torch.topk(scores.softmax(-1), k)
        return [(self.names[int(i)], round(float(v), 3)) for v, i in zip(values, order)]

ranked = Ranked(weights.meta["categories"])
for name, probability in ranked.top(model(x)[0]):
    print(f"{name:>30s} {probability}")
"""

HELPER = """
def show_grid(images, titles, columns=5, size=2.5):
    rows = (len(images) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size))
    for axis in axes.flat:
        axis.axis("off")
    for axis, picture, title in zip(axes.flat, images, titles):
        axis.imshow(picture.squeeze(), cmap="gray")
        axis.set_title(str(title))
    figure.tight_layout()
    return figure
"""

ANSWER = (
    "The hot colormap makes the salient regions clearest, because its black background hides the many "
    "near-zero gradients while the few strong ones glow yellow and white."
)
OTHER_ANSWER = (
    "Gray is the clearest for me since the eye reads brightness directly, whereas plasma and hot add hues "
    "that suggest boundaries which are not really in the gradients."
)


@pytest.fixture(scope="module")
def cs411():
    return load_assignment("cs411-a2")


def write_student(out: Path, student: str, code: list[str], answers: dict[str, str] | None = None) -> dict:
    """A graded student folder holding ``executed.ipynb``, and the payload grading would have stored for it."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in code]
    (out / student).mkdir(parents=True)
    nbformat.write(notebook, out / student / "executed.ipynb")
    written = [{"task": task, "text": text, "cell": 3} for task, text in (answers or {}).items()]
    return {"student": student, "written_answers": written, "problem": None}


def code_pairs(pairs):
    return {(pair.first, pair.second): pair for pair in pairs if pair.kind == CODE}


def test_a_copied_function_with_renamed_variables_is_a_code_pair(tmp_path, cs411):
    starter = starter_code(cs411)
    own = {"ana": TRAINING, "ben": RENAMED_COPY, "cai": OCCLUSION, "dia": LAMBDA_SWEEP, "eli": TOP_K}
    payloads = [write_student(tmp_path, student, [starter, code]) for student, code in own.items()]

    pairs = code_pairs(find_similar(tmp_path, payloads, cs411))

    assert list(pairs) == [("ana", "ben")]
    pair = pairs[("ana", "ben")]
    assert 0.8 <= pair.similarity <= 1.0
    assert 1 <= len(pair.passages) <= 5
    longest = pair.passages[0]
    assert "optimiser = optim.Adam(network.parameters(), lr=rate)" in longest.first
    assert "opt = optim.Adam(net.parameters(), lr=learning_rate)" in longest.second
    assert all(len(p.first) <= 1500 and len(p.second) <= 1500 for p in pair.passages)
    assert "def preprocess" not in "".join(p.first + p.second for p in pair.passages)


def test_sharing_only_the_starter_code_is_no_pair(tmp_path, cs411):
    """Two of five use the shipped starter, so only its file, not the class majority, keeps them apart."""
    starter = starter_code(cs411)
    payloads = [
        write_student(tmp_path, "ana", [starter, OCCLUSION]),
        write_student(tmp_path, "ben", [starter, LAMBDA_SWEEP]),
        write_student(tmp_path, "cai", [TRAINING]),
        write_student(tmp_path, "dia", [TOP_K]),
        write_student(tmp_path, "eli", [HELPER]),
    ]

    assert code_pairs(find_similar(tmp_path, payloads, cs411)) == {}

    without_starter = replace(cs411, folder=tmp_path / "no-starter")
    assert list(code_pairs(find_similar(tmp_path, payloads, without_starter))) == [("ana", "ben")]


def test_code_most_of_the_class_shares_is_no_pair_but_two_sharing_it_are(tmp_path, cs411):
    """A starter the course did not ship: three of five have it, so it is the class's; two of five copied it."""
    no_starter = replace(cs411, folder=tmp_path / "no-starter")
    shared = HELPER + TRAINING
    majority = tmp_path / "majority"
    payloads = [
        write_student(majority, "ana", [shared, OCCLUSION]),
        write_student(majority, "ben", [shared, LAMBDA_SWEEP]),
        write_student(majority, "cai", [shared, TOP_K]),
        write_student(majority, "dia", ["print('hello')"]),
        write_student(majority, "eli", ["x = 1"]),
    ]
    assert code_pairs(find_similar(majority, payloads, no_starter)) == {}

    minority = tmp_path / "minority"
    payloads = [
        write_student(minority, "ana", [shared, OCCLUSION]),
        write_student(minority, "ben", [shared, LAMBDA_SWEEP]),
        write_student(minority, "cai", [TOP_K]),
        write_student(minority, "dia", ["print('hello')"]),
        write_student(minority, "eli", ["x = 1"]),
    ]
    pairs = code_pairs(find_similar(minority, payloads, no_starter))
    assert list(pairs) == [("ana", "ben")]
    assert "def show_grid(images, titles, columns=5, size=2.5):" in pairs[("ana", "ben")].passages[0].first


def test_identical_written_answers_are_a_written_pair_and_different_ones_are_not(tmp_path, cs411):
    shouted = "  " + ANSWER.upper().replace(" ", "\n ") + "\n"
    one_word_changed = ANSWER.replace("clearest", "sharpest")
    short = "Hot is clearest, plain and simple."
    payloads = [
        write_student(tmp_path, "ana", [TRAINING], {"1.6": ANSWER, "1.7": short}),
        write_student(tmp_path, "ben", [OCCLUSION], {"1.6": shouted, "1.7": short}),
        write_student(tmp_path, "cai", [LAMBDA_SWEEP], {"1.6": one_word_changed}),
        write_student(tmp_path, "dia", [TOP_K], {"1.6": OTHER_ANSWER, "1.7": ANSWER}),
    ]

    pairs = find_similar(tmp_path, payloads, cs411)

    assert all(pair.kind == WRITTEN for pair in pairs)
    assert [(pair.first, pair.second) for pair in pairs] == [("ana", "ben"), ("ana", "cai"), ("ben", "cai")]
    identical = pairs[0]
    assert identical.similarity == 1.0
    assert identical.passages == [Passage(ANSWER, shouted.strip())]
    assert 0.9 <= pairs[1].similarity < 1.0


@pytest.mark.parametrize(
    "broken",
    [
        None,
        b"{not json",
        b"[1, 2, 3]",
        b'{"cells": 7, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
        b"\xff\xfe",
    ],
)
def test_a_missing_or_unreadable_notebook_is_skipped(tmp_path, cs411, broken):
    payloads = [
        write_student(tmp_path, "ana", [TRAINING]),
        write_student(tmp_path, "ben", [RENAMED_COPY]),
        write_student(tmp_path, "cai", [OCCLUSION]),
        write_student(tmp_path, "dia", [TRAINING]),
        {"student": "../ana", "written_answers": [{"task": "1.6", "text": None}], "problem": "invalid"},
    ]
    notebook = tmp_path / "dia" / "executed.ipynb"
    if broken is None:
        notebook.unlink()
    else:
        notebook.write_bytes(broken)

    assert list(code_pairs(find_similar(tmp_path, payloads, cs411))) == [("ana", "ben")]
