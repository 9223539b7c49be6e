"""EE5179 PA2 submissions in the styles of real ones, built from the correct sample's cells: a training that
outlasts the cell budget, submitted with the outputs of a full-length run; a split submission whose probing
notebook sorts first and loads the model the training notebook saves into a Drive folder; and a Colab
notebook that leans on packages, removed APIs and a GPU this machine lacks, with an attack loop that never
ends. Each is what a student hands in; the tests assert what a TA would give it."""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

import nbformat
from PIL import Image

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
LONG_TRAINER, SPLIT, COLAB_ENVIRONMENT = "Long_Trainer_EE21B101", "Split_Parts_EE21B102", "Colab_Habits_EE21B103"
SUBMITTED_ACCURACY = "Average prediction accuracy on the 10000 test images: 99.22%"


def _builders():
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    import build_ee5179_samples as builders
    from sample_notebooks import mutate

    return builders, mutate


def _png() -> str:
    """A small PNG, as a saved notebook holds its figures."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 90, 160)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def long_trainer() -> nbformat.NotebookNode:
    """Fifteen epochs per network, cut by the budget; saved with the outputs of the full run (99.22 %), and the
    attacks made on the plain network, so they do not wait for the cut batch-norm comparison."""
    builders, mutate = _builders()
    training = mutate(
        builders.TRAINING,
        "fifteen epochs",
        ("history, seconds = train(model)", "history, seconds = train(model, epochs=15)"),
    )
    batch_norm = mutate(builders.BATCH_NORM, "fifteen epochs", ("train(bn_model)", "train(bn_model, epochs=15)"))
    attack = mutate(
        builders.NON_TARGETED,
        "attack the plain network",
        ("best = model if test_accuracy >= bn_accuracy else bn_model", "best = model"),
    )
    cells = builders.part_one()
    cells[cells.index(("code", builders.TRAINING))] = ("code", training)
    cells += [("code", batch_norm), ("markdown", builders.BATCH_NORM_ANSWER)] + builders.PART_TWO
    targeted = mutate(
        builders.TARGETED,
        "a firm hold on the source digit: the cut training leaves a model too weak to keep beta 0.003's images close",
        ("beta=0.003", "beta=0.01"),
    )
    cells += [("code", attack), builders.PART_THREE[1], ("code", targeted), builders.PART_THREE[3]]
    book = builders.notebook(cells, "Long Trainer")
    _save_outputs(book, {builders.CURVES: SUBMITTED_ACCURACY, training: "trained in 2412.6 s", batch_norm: ""})
    return book


def _save_outputs(book: nbformat.NotebookNode, printed: dict[str, str]) -> None:
    """The outputs a full-length run on Colab left in the file: counts, and for the cells given, a figure and
    what they printed."""
    count = 0
    for cell in book.cells:
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        if cell.source in printed:
            cell.outputs = [
                nbformat.v4.new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"})
            ]
            if printed[cell.source]:
                cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=printed[cell.source] + "\n"))


def split_parts() -> dict[str, nbformat.NotebookNode]:
    """Training and probing notebooks; the probing one sorts first by name and loads the whole pickled model
    the training one saves in the Drive folder both change into."""
    builders, _ = _builders()
    drive = (
        "from google.colab import drive\ndrive.mount('/content/drive')\nimport os\n"
        "os.chdir('/content/drive/MyDrive/EE5179/')"
    )
    training = builders.part_one() + [("code", drive), ("code", "torch.save(model, 'model.pth')")]
    probing = [
        ("code", builders.IMPORTS),
        ("code", drive),
        ("code", "model = torch.load('model.pth')\nmodel.eval()"),
        (
            "code",
            'test_set = torchvision.datasets.MNIST(root="./data", train=False, download=True, '
            "transform=transforms.ToTensor())",
        ),
    ]
    attack = builders.NON_TARGETED.replace("best = model if test_accuracy >= bn_accuracy else bn_model", "best = model")
    probing += builders.PART_TWO + [("code", attack)] + builders.PART_THREE[1:]
    return {
        "PA2_A_probing.ipynb": builders.notebook(probing, "Split Parts (probing)"),
        "PA2_B_training.ipynb": builders.notebook(training, "Split Parts (training)"),
    }


def colab_habits() -> nbformat.NotebookNode:
    """The Colab notebook with what the grader's kernel lacks or has removed: nvidia-smi, pip installs,
    seaborn, torchsummary on a forced CUDA device, np.asfarray, loader.next(), and a targeted attack that
    loops until the network is fooled with certainty, which never happens."""
    builders, mutate = _builders()
    imports = mutate(
        builders.IMPORTS,
        "forced GPU and Colab's packages",
        ('torch.device("cuda" if torch.cuda.is_available() else "cpu")', 'torch.device("cuda")'),
        ("import torchvision\n", "import torchvision\nimport seaborn as sns\nfrom torchsummary import summary\n"),
    )
    habits = (
        "images, labels = iter(test_loader).next()\n"
        "pixels = np.asfarray(images[0, 0].numpy())\n"
        "sns.histplot(pixels.ravel(), bins=20)\nplt.title('pixel values of one test digit')\nplt.show()\n"
        "summary(model, (1, 28, 28))"
    )
    targeted = mutate(
        builders.TARGETED,
        "an attack loop that waits for certainty",
        (
            "fooled = [generate(target, target_image=target_image, beta=0.003, steps=400, seed=10 + target)[0] "
            "for target in range(10)]",
            "fooled = []\nfor target in range(10):\n    X, steps = target_image.clone(), 0\n"
            "    while best(X / 255)[1][0, target] < 1.0:  # until the network is certain\n"
            "        X = generate(target, target_image=target_image, beta=0.003, steps=50, seed=steps)[0]\n"
            "        steps += 1\n    fooled.append(X)",
        ),
    )
    cells = [("code", "!nvidia-smi"), ("code", "!pip install torchsummary seaborn"), ("code", imports)]
    cells += builders.part_one()[1:] + [("code", habits)] + builders.PART_TWO
    cells += [
        (
            "code",
            builders.NON_TARGETED.replace("best = model if test_accuracy >= bn_accuracy else bn_model", "best = model"),
        ),
        ("markdown", builders.NON_TARGETED_ANSWER),
        ("code", targeted),
        ("markdown", builders.TARGETED_ANSWER),
    ]
    book = builders.notebook(cells, "Colab Habits")
    _save_outputs(book, {targeted: ""})
    return book


def write_class(folder: Path) -> None:
    """The three submissions as a class folder: two notebooks and a student folder holding the split parts."""
    nbformat.write(long_trainer(), folder / f"{LONG_TRAINER}.ipynb")
    nbformat.write(colab_habits(), folder / f"{COLAB_ENVIRONMENT}.ipynb")
    parts = folder / SPLIT
    parts.mkdir()
    for name, book in split_parts().items():
        nbformat.write(book, parts / name)
