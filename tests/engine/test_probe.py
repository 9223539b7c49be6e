"""The in-kernel probe: figure capture, offline shims, and calling student code."""

import json

import numpy as np
import torch

from checks.data.assets import DataDir
from checks.probe.wire import DataImage, KernelObject
from reference.cs411_a2 import generate_saliency_map, load_model, preprocess
from tests.engine.conftest import cell_text, make_notebook


def figures_by_cell(result):
    return {figure["cell"]: figure for figure in result.figures}


def test_every_figure_is_captured_with_its_cell_even_without_show(run_cells):
    result, _, out = run_cells(
        "import matplotlib.pyplot as plt\nimport numpy as np\nplt.plot([1, 2, 3], label='loss')\n"
        "plt.xlabel('epoch'); plt.ylabel('loss'); plt.title('Training loss'); plt.legend()",
        "fig, (left, right) = plt.subplots(1, 2)\nleft.imshow(np.zeros((4, 4)))\nleft.set_title('image')\n"
        "shown = right.imshow(np.arange(16.0).reshape(4, 4), cmap='viridis')\nfig.colorbar(shown, ax=right)\n"
        "fig.suptitle('tabby cat')\nfig.savefig('saliency_viridis.png')",
        "plt.figure()\nplt.semilogx([0.001, 0.1, 2.0], [3.0, 2.0, 1.0])\nplt.title('L1 vs lambda')",
        "x = 1",
    )
    figures = figures_by_cell(result)
    assert sorted(figures) == [0, 1, 2], "one record per drawing cell, none for a cell that drew nothing"
    loss = figures[0]["axes"][0]
    assert (loss["title"], loss["xlabel"], loss["ylabel"], loss["legend"]) == (
        "Training loss",
        "epoch",
        "loss",
        ["loss"],
    )
    assert loss["lines"][0]["y"] == [1.0, 2.0, 3.0]
    layout = figures[1]
    assert layout["suptitle"] == "tabby cat" and layout["saved_to"] == ["saliency_viridis.png"]
    image_axes, map_axes, colorbar_axes = layout["axes"]
    assert image_axes["title"] == "image" and not image_axes["has_colorbar"] and image_axes["grid"] == [1, 2]
    assert map_axes["images"][0]["cmap"] == "viridis" and map_axes["has_colorbar"]
    assert colorbar_axes["is_colorbar"]
    assert np.array_equal(np.load(out / "figures" / map_axes["images"][0]["array"]), np.arange(16.0).reshape(4, 4))
    assert figures[2]["axes"][0]["xscale"] == "log"
    for figure in result.figures:
        assert (out / "figures" / figure["png"]).read_bytes().startswith(b"\x89PNG")
        assert (
            json.loads((out / "figures" / figure["png"].replace(".png", ".json")).read_text())["cell"] == figure["cell"]
        )


def test_pip_lines_are_skipped_and_recorded(run_cells):
    result, executed, _ = run_cells("!pip install torch torchvision\n%pip install lime\nprint('ok')")
    assert [s["command"] for s in result.shims] == ["pip install torch torchvision", "pip install lime"]
    assert cell_text(executed, 0).endswith("ok\n") and result.cells[0].status == "ok"


def test_colab_drive_mount_persists_between_cells(run_cells):
    result, executed, _ = run_cells(
        "from google.colab import drive\ndrive.mount('/content/drive')\n"
        "open('/content/drive/MyDrive/model.txt', 'w').write('weights')",
        "print(open('/content/drive/MyDrive/model.txt').read())",
    )
    assert cell_text(executed, 1).strip() == "weights"
    assert result.shims[0]["shim"] == "drive.mount"


def test_input_fails_at_once_with_a_clear_error(run_cells):
    result, executed, _ = run_cells("name = input('Your name? ')", cell_timeout_s=20)
    assert result.cells[0].status == "error" and "not available while grading" in result.cells[0].error_value
    assert result.cells[0].duration_s < 5


def test_downloads_are_served_offline_or_refused_clearly(run_cells, data_root):
    result, executed, _ = run_cells(
        "import requests, urllib.request\n"
        "terrier = requests.get('https://github.com/EliSchwartz/imagenet-sample-images/blob/master/"
        "n02098286_West_HIGHLAND_white_terrier.jpeg').content\n"
        "labels = urllib.request.urlopen('https://raw.githubusercontent.com/pytorch/hub/master/imagenet_classes.txt').read()\n"
        "any_image = requests.get('https://example.org/photos/my_cat.jpg')\n"
        "print(len(terrier), labels.splitlines()[0], any_image.status_code)",
        "requests.get('https://example.org/api/scores.json')",
    )
    size, first_label, status = cell_text(executed, 0).split()
    assert int(size) == (data_root / "imagenet-samples/n02098286_West_Highland_white_terrier.JPEG").stat().st_size
    assert first_label == "b'tench'" and status == "200"
    served = [s for s in result.shims if s["shim"] == "download"]
    assert [s.get("stand_in", False) for s in served[:3]] == [False, False, True]
    assert result.cells[1].status == "error" and "network is disabled while grading" in result.cells[1].error_value


def test_mnist_download_true_works_offline(run_cells):
    result, executed, _ = run_cells(
        "import torchvision\nds = torchvision.datasets.MNIST(root='./data', train=False, download=True)\n"
        "print(len(ds), ds[0][1])"
    )
    assert cell_text(executed, 0).strip() == "10000 7"
    assert result.shims[0]["shim"] == "dataset"


def test_hard_coded_cuda_runs_on_the_cpu_and_is_recorded(run_cells):
    result, executed, _ = run_cells(
        "import torch\nfrom torch import nn\ndevice = torch.device('cuda')\n"
        "model = nn.Sequential(nn.Linear(4, 3)).cuda()\nmodel = model.to(device)",
        "x = torch.randn(2, 4, device='cuda')\ny = model(x.to('cuda:0', non_blocking=True)).cuda()\n"
        "torch.cuda.synchronize()\nprint(y.device, next(model.parameters()).device, torch.zeros(1, device=device).device)",
        "torch.save(model.state_dict(), 'model.pt')\nstate = torch.load('model.pt', map_location='cuda')\n"
        "print(sorted(state), state['0.weight'].device)",
    )
    assert [cell.status for cell in result.cells] == ["ok", "ok", "ok"], executed
    assert cell_text(executed, 1).strip() == "cpu cpu cpu"
    assert cell_text(executed, 2).strip() == "['0.bias', '0.weight'] cpu"
    calls = {shim["call"] for shim in result.shims if shim["shim"] == "cuda"}
    assert {"Tensor.cuda()", "Tensor.to('cuda')", "randn(device='cuda')"} <= calls


def test_notebooks_that_never_mention_the_gpu_run_without_the_device_mapping(run_cells):
    result, executed, _ = run_cells(
        "import torch\nfrom torch.overrides import _get_current_function_mode_stack\n"
        "print(len(_get_current_function_mode_stack()))"
    )
    assert cell_text(executed, 0).strip() == "0"
    assert not [shim for shim in result.shims if shim["shim"] == "cuda"]


def test_missing_weights_become_the_same_stand_in_as_the_graders(live_session, data_root):
    notebook = make_notebook(
        "import torchvision.models as models\n"
        "model = models.mobilenet_v2(weights=models.MobileNet_V2_Weights.IMAGENET1K_V1)\nmodel.eval()"
    )

    async def probe(session, result):
        response, decoder = await session.request({"op": "evaluate", "target": "model.features.0.0.weight"})
        return result, decoder.decode(response["value"])

    result, kernel_weight = live_session(notebook, probe)
    assert result.shims[0] == {
        "kind": "shim",
        "cell": 0,
        "shim": "weights",
        "weights": "MobileNet_V2_Weights.IMAGENET1K_V1",
        "stand_in": True,
    }
    grader_model = DataDir(data_root).load_pretrained("mobilenet_v2", "IMAGENET1K_V1").model
    assert torch.equal(kernel_weight, grader_model.features[0][0].weight)


def test_student_functions_are_called_with_files_not_pickles(live_session, data_root):
    notebook = make_notebook(
        "import torch, torchvision.models as models, torchvision.transforms as transforms\n"
        "model = models.mobilenet_v2(weights=models.MobileNet_V2_Weights.IMAGENET1K_V1).eval()\n"
        "def preprocess(pil_img):\n"
        "    t = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(),\n"
        "        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])\n"
        "    x = t(pil_img).unsqueeze(0)\n    x.requires_grad_(True)\n    return x\n"
        "def generate_saliency_map(model, x, target_class=None):\n"
        "    model.zero_grad()\n    logits = model(x)\n"
        "    if target_class is None:\n        target_class = int(logits.argmax(dim=1).item())\n"
        "    logits[0, target_class].backward()\n"
        "    return x.grad.abs().squeeze(0).max(dim=0)[0].detach().numpy(), target_class\n"
        "def broken(x):\n    raise ValueError('student bug')"
    )
    image = "imagenet-samples/n01443537_goldfish.JPEG"

    async def probe(session, result):
        pre, pre_decoder = await session.request({"op": "call", "target": "preprocess"}, {"args": [DataImage(image)]})
        x = preprocess(__import__("PIL.Image").Image.open(data_root / image))
        sal, sal_decoder = await session.request(
            {"op": "call", "target": "generate_saliency_map"},
            {"args": [KernelObject("model"), x.detach().clone().requires_grad_(True), 1]},
        )
        failure, _ = await session.request({"op": "call", "target": "broken"}, {"args": [1]})
        found, found_decoder = await session.request({"op": "find", "type": "torch.nn.Module"})
        return pre, pre_decoder, sal, sal_decoder, failure, found_decoder.decode(found["value"]), x

    pre, pre_decoder, sal, sal_decoder, failure, found, x = live_session(notebook, probe)
    result = dict((pre_decoder.decode(k), v) for k, v in pre["value"]["$dict"])["result"]
    assert result["shape"] == [1, 3, 224, 224] and result["requires_grad"] and result["is_leaf"]
    assert torch.equal(pre_decoder.decode(result), x.detach())
    value = sal_decoder.decode(sal["value"])
    saliency, used = value["result"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the kernel's share; another thread count reorders float sums
    try:
        expected, _ = generate_saliency_map(load_model(DataDir(data_root)).model, x, 1)
    finally:
        torch.set_num_threads(threads)
    assert used == 1 and np.allclose(saliency, expected, rtol=1e-5, atol=1e-6 * expected.max())
    x_after = dict((sal_decoder.decode(k), v) for k, v in sal["value"]["$dict"])["args_after"][1]
    assert x_after["grad"] is not None, "x.grad after the call is reported back"
    assert failure["ok"] is False and failure["error"]["type"] == "ValueError"
    assert "student bug" in failure["error"]["message"]
    assert [(item["name"], item["type"]) for item in found] == [("model", "MobileNetV2")]
    assert isinstance(found[0]["identity"], int), "aliases of one object can be told apart from copies"


def test_hugging_face_cats_vs_dogs_is_served_from_the_data_directory(run_cells):
    result, executed, _ = run_cells(
        "from datasets import load_dataset\nds = load_dataset('microsoft/cats_vs_dogs')\n"
        "train = ds['train']\nprint(len(train), train.features['labels'].names, train[0]['image'].mode)",
        "load_dataset('some/other_dataset')",
    )
    assert "2002 ['cat', 'dog'] RGB\n" in cell_text(executed, 0)
    assert result.shims[0] == {
        "kind": "shim",
        "cell": 0,
        "shim": "hf_dataset",
        "dataset": "microsoft/cats_vs_dogs",
        "served": "cats_vs_dogs",
    }
    assert result.cells[1].status == "error"


def test_files_submitted_beside_the_notebook_are_in_its_working_folder(tmp_path, engine_config):
    import asyncio

    from checks.engine.kernel import KernelSession

    submission = tmp_path / "submission"
    (submission / "data").mkdir(parents=True)
    (submission / "data" / "params.json").write_text('{"num_samples": 1000}')
    (submission / "solution.ipynb").write_text("{}")

    async def main():
        async with KernelSession(engine_config, submission_dir=submission) as session:
            notebook = make_notebook(
                "import json, os\nprint(json.load(open('data/params.json'))['num_samples'], "
                "os.path.exists('solution.ipynb'))\nopen('/submission/x', 'w')"
            )
            result = await session.run_notebook(notebook)
            return result, notebook

    result, notebook = asyncio.run(main())
    assert cell_text(notebook, 0).startswith("1000 False")
    assert result.cells[0].error_name in ("OSError", "PermissionError")


def test_a_model_is_described_inside_the_kernel_without_leaving_it(live_session):
    notebook = make_notebook(
        "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(1, 8, 3, padding=1)\n        self.fc = nn.Linear(8 * 14 * 14, 10)\n"
        "    def forward(self, x):\n"
        "        x = F.max_pool2d(F.relu(self.conv(x)), 2)\n        logits = self.fc(x.flatten(1))\n"
        "        return logits, F.softmax(logits, dim=1)\n"
        "net = Net().train()"
    )

    async def probe(session, result):
        response, decoder = await session.request({"op": "describe", "target": "net", "input_shape": [2, 1, 28, 28]})
        training, _ = await session.request({"op": "evaluate", "target": "net.training"})
        return decoder.decode(response["value"]), training["value"]

    description, still_training = live_session(notebook, probe)
    assert [(layer["name"], layer["type"], layer["input"]) for layer in description["layers"]] == [
        ("conv", "Conv2d", [2, 1, 28, 28]),
        ("fc", "Linear", [2, 1568]),
    ]
    assert description["outputs"] == [[2, 10], [2, 10]] and description["type"] == "Net"
    assert still_training is True


def test_a_colour_model_is_described_at_the_shape_the_grader_asks_and_hugging_face_splits_are_surveyed(live_session):
    notebook = make_notebook(
        "import torch\nfrom torch import nn\nimport datasets\n"
        "net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 2))\n"
        "pets = datasets.Dataset.from_dict({'label': [i % 2 for i in range(100)]}, split=datasets.NamedSplit('train'))\n"
        "parts = pets.train_test_split(test_size=20, seed=0)"
    )

    async def probe(session, result):
        colour, decoder = await session.request({"op": "describe", "target": "net", "input_shape": [2, 3, 32, 32]})
        grey, _ = await session.request({"op": "describe", "target": "net", "input_shape": [2, 1, 28, 28]})
        surveyed, survey_decoder = await session.request({"op": "datasets"})
        return decoder.decode(colour["value"]), grey["ok"], survey_decoder.decode(surveyed["value"])

    description, grey_described, entries = live_session(notebook, probe)
    assert description["layers"][0]["input"] == [2, 3, 32, 32] and description["outputs"] == [[2, 2]]
    assert grey_described is False, "a colour model refuses grey digits"
    assert [(entry["name"], entry["length"], entry["base_length"], entry["base_part"]) for entry in entries] == [
        ("pets", 100, 100, "train"),
        ("parts['train']", 80, 100, "train"),
        ("parts['test']", 20, 100, "train"),
    ]
    assert len({entry["base_id"] for entry in entries}) == 1
    assert not set(entries[1]["indices"].tolist()) & set(entries[2]["indices"].tolist())


def test_filter_banks_and_occlusion_maps_are_found_by_shape(run_cells, tmp_path):
    from checks.finders.panels import filter_grids, occlusion_maps
    from reference.ee5179_pa2.occlusion import occlusion_grid_size

    result, _, out = run_cells(
        "import numpy as np, matplotlib.pyplot as plt\nrng = np.random.default_rng(0)\n"
        "fig, axes = plt.subplots(4, 8)\nfor ax in axes.flat:\n    ax.imshow(rng.normal(size=(3, 3)), cmap='gray')\n"
        "fig.suptitle('conv1 filters'); plt.show()",
        "plt.imshow(rng.uniform(size=(24, 24)), cmap='hot'); plt.title('P(class 7) vs occluder position')\n"
        "plt.colorbar(); plt.show()",
        "plt.imshow(rng.uniform(size=(28, 28)), cmap='gray'); plt.title('a test digit'); plt.show()",
        "plt.imshow(rng.normal(size=(20, 20))); plt.title('occlusion, 9 x 9 patch'); plt.show()\n"
        "plt.imshow(rng.normal(size=(20, 20))); plt.title('unnamed'); plt.show()",
    )
    figures = [json.loads(path.read_text()) for path in sorted((out / "figures").glob("figure-*.json"))]
    assert [figure["cell"] for figure in filter_grids(figures, out / "figures", kernel=3, count=32)] == [0]
    candidates = occlusion_maps(figures, out / "figures", occlusion_grid_size, 28, range(1, 6))
    assert [(c.figure["cell"], c.size, c.named, c.in_unit_range) for c in candidates] == [
        (1, 24, True, True),
        (3, 20, True, False),
        (2, 28, False, True),
    ]
    assert candidates[1].allowed == () and (9, 1) in candidates[1].fits, "too large a patch, still found when named"
    assert (5, 1) in candidates[0].allowed and candidates[2].allowed == ((1, 1),)


def test_one_image_figures_drawn_in_a_loop_are_also_read_as_one_figure(run_cells):
    from checks.finders.figures import with_cell_groups

    result, _, _ = run_cells(
        "import numpy as np, matplotlib.pyplot as plt\n"
        "for target in range(10):\n    plt.figure(); plt.imshow(np.full((28, 28), target)); plt.title(f'target {target}')\n"
        "    plt.show()",
        "fig, (a, b) = plt.subplots(1, 2)\na.imshow(np.zeros((28, 28))); b.imshow(np.ones((28, 28)))\n"
        "plt.figure(); plt.imshow(np.zeros((28, 28)))",
        "plt.imshow(np.zeros((5, 5))); plt.colorbar()",
    )
    drawn = with_cell_groups(result.figures)
    assert drawn[: len(result.figures)] == result.figures, "every figure is still there on its own"
    groups = drawn[len(result.figures) :]
    assert [group["cell"] for group in groups] == [0], "a subplot figure beside a one-image figure is no loop"
    assert [axes["title"] for axes in groups[0]["axes"]] == [f"target {n}" for n in range(10)]
    assert [part["png"] for part in groups[0]["parts"]] == [figure["png"] for figure in result.figures[:10]]


def test_a_model_is_exported_with_the_weights_an_earlier_cell_left_it(live_session):
    notebook = make_notebook(
        "import torch\nfrom torch import nn\nnet = nn.Sequential(nn.Linear(4, 2))\n"
        "with torch.no_grad():\n    net[0].weight.fill_(1.0)",
        "with torch.no_grad():\n    net[0].weight.add_(1.0)",
        "x = 1",
        "net[0].weight.data += 1.0  # no version counter sees this",
        "net.load_state_dict({'0.weight': torch.full((2, 4), 5.0), '0.bias': torch.zeros(2)})",
    )

    async def probe(session, result):
        weights = {}
        for cell in (0, 2, 3, None):
            request = {"op": "export", "target": "net", "input_shape": [2, 4], "as_of_cell": cell}
            response, decoder = await session.request(request)
            weights[cell] = decoder.decode(response["value"])["tensors"]["0.weight"]
        return result, weights

    result, weights = live_session(notebook, probe)
    assert [float(weights[cell][0, 0]) for cell in (0, 2, 3, None)] == [1.0, 2.0, 3.0, 5.0]
    changes = [(event["cell"], event["model"]) for event in result.events if event["kind"] == "weights_changed"]
    assert changes == [(1, "net"), (3, "net"), (4, "net")]


def test_objects_that_raise_when_inspected_break_neither_cells_nor_grader_calls(live_session):
    """A value whose ``__class__`` raises, and a model whose state_dict holds no tensors, sit in the namespace
    the snapshots read after every cell and call: the cells stay ok and a call still gets its reply."""
    notebook = make_notebook(
        "class Evil:\n    @property\n    def __class__(self):\n        raise RuntimeError('boom')\n\nevil = Evil()",
        "import torch\nfrom torch import nn\nclass Odd(nn.Linear):\n    def state_dict(self, *a, **k):\n"
        "        return {'weight': object()}\nodd = Odd(2, 2)\nx = 1",
        "y = x + 1",
    )

    async def probe(session, result):
        response, decoder = await session.request({"op": "evaluate", "target": "y"})
        return result, decoder.decode(response["value"])

    result, y = live_session(notebook, probe)
    assert [cell.status for cell in result.cells] == ["ok", "ok", "ok"] and y == 2


def test_a_model_with_a_nan_weight_left_alone_is_recorded_once():
    import torch

    from checks.probe.events import EventLog
    from checks.probe.snapshots import ModelSnapshots

    class Log(EventLog):
        def __init__(self):
            self.records = []

        def record(self, kind, **details):
            self.records.append(kind)

    log = Log()
    recorder = ModelSnapshots(log)
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    for cell in range(3):
        recorder.capture({"model": model}, cell)
    assert len(recorder.history[id(model)]) == 1 and log.records == []
