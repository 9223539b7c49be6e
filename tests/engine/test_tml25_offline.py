"""What TML25 A4 teams' notebooks fetch and where they run, offline in the sandboxed kernel: ImageNet sample
images by any of their GitHub addresses, the label files, the Places365 ResNet18 checkpoint (a seeded
stand-in in the real file's format), shell downloads and scripts (``!``, ``%%bash``, ``os.system``,
``subprocess``), images read from the paths of the machine the team used, and CUDA / MPS devices.

One notebook runs most of it, so that the kernel starts once."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from checks.engine.kernel import KernelSession
from checks.probe import places365
from checks.probe.shell_commands import Judge
from checks.probe.shims import DataIndex
from tests.engine.conftest import cell_text, make_notebook

SAMPLES = "https://github.com/EliSchwartz/imagenet-sample-images/"
RAW = "https://raw.githubusercontent.com/EliSchwartz/imagenet-sample-images/master/"
PLACES = "http://places2.csail.mit.edu/models_places365/resnet18_places365.pth.tar"
URL_FORMS = [
    RAW + "n01443537_goldfish.JPEG",
    SAMPLES + "raw/master/n01443537_goldfish.jpeg",
    SAMPLES + "blob/master/n01443537_goldfish.JPEG?raw=true",
    SAMPLES + "blob/master/n02098286_West_HIGHLAND_white_terrier.jpeg",
]

FETCH_BY_URL = f"""import hashlib, io, json, os, urllib.request
import numpy as np, requests, torch, torchvision
import torchvision
from PIL import Image
urls = {URL_FORMS!r}
def pixels(image):
    return hashlib.sha256(np.asarray(image.convert('RGB')).tobytes()).hexdigest()
def file_digest(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()
digests = []
for i, url in enumerate(urls):
    path, _ = urllib.request.urlretrieve(url, f'retrieved{{i}}.jpg')
    torch.hub.download_url_to_file(url, f'hub{{i}}.jpg', progress=False)
    digests.append({{
        'requests': pixels(Image.open(io.BytesIO(requests.get(url).content))),
        'stream': pixels(Image.open(requests.get(url, stream=True).raw)),
        'chunks': hashlib.sha256(b''.join(requests.get(url, stream=True).iter_content(4096))).hexdigest(),
        'urlopen': pixels(Image.open(urllib.request.urlopen(url))),
        'urlretrieve': file_digest(path),
        'hub': file_digest(f'hub{{i}}.jpg'),
        'torchvision': tuple(torchvision.io.decode_image(f'hub{{i}}.jpg').shape),
    }})
print(json.dumps(digests))"""
LABELS = (
    "labels = requests.get('https://raw.githubusercontent.com/pytorch/hub/master/imagenet_classes.txt').text\n"
    "scenes = urllib.request.urlopen('https://raw.githubusercontent.com/csailvision/places365/master/"
    "categories_places365.txt').read().decode()\n"
    "print(len(labels.splitlines()), labels.splitlines()[1], len(scenes.splitlines()), scenes.split()[0])"
)
PLACES365 = f"""import torchvision.models as models
checkpoint = torch.hub.load_state_dict_from_url({PLACES!r}, map_location='cpu')
model = models.resnet18(num_classes=365)
model.load_state_dict({{k.replace('module.', ''): v for k, v in checkpoint['state_dict'].items()}})
urllib.request.urlretrieve({PLACES!r}, 'resnet18_places365.pth.tar')
again = torch.load('resnet18_places365.pth.tar', map_location=lambda storage, loc: storage)
state = checkpoint['state_dict']
print(sorted(checkpoint), checkpoint['arch'], all(k.startswith('module.') for k in state),
      tuple(state['module.fc.weight'].shape), all(torch.equal(again['state_dict'][k], v) for k, v in state.items()),
      float(state['module.fc.weight'].double().sum()), float(state['module.conv1.weight'].double().sum()))"""
GIT_CLONE = "!git clone https://github.com/Trustworthy-ML-Lab/CLIP-dissect.git\nprint('exit', _exit_code)"
SHELL_DOWNLOADS = (
    f"PLACES = {PLACES!r}\n"
    f"!wget -q {SAMPLES}blob/master/n01608432_kite.jpeg -P images\n"
    f"!curl -L -o flamingo.jpg {RAW}n02007558_flamingo.JPEG\n"
    "!wget --progress=bar {PLACES} -O places.pth.tar\n"
    "print(sorted(os.listdir('images')), os.path.getsize('flamingo.jpg'), os.path.getsize('places.pth.tar'))\n"
    "!wget https://example.org/broden1_224.zip && unzip broden1_224.zip\n"
    "print('exit', _exit_code)"
)
SCRIPTS = (
    "!python describe_neurons.py --target_model resnet18_places\n"
    "print('exit', _exit_code)\n"
    "!python3 present.py hello\n"
    "print('exit', _exit_code)\n"
    "!bash download_broden.sh\n"
    "!pip install grad-cam"
)
BASH_REFUSED = (
    "%%bash\ngit clone https://github.com/Trustworthy-ML-Lab/CLIP-dissect.git\ncd CLIP-dissect\nbash dlbroden.sh"
)
BASH_SERVED = f"%%bash\nmkdir -p bash_images && cd bash_images\nwget -q {RAW}n01616318_vulture.JPEG\nls"
PYTHON_SHELLS = f"""import subprocess
print(os.system('git clone https://github.com/x/y.git'))
print(subprocess.run(['wget', 'https://example.org/x.bin']).returncode)
print(subprocess.run('curl -sL {RAW}n01677366_common_iguana.JPEG -o iguana.jpg', shell=True).returncode,
      os.path.getsize('iguana.jpg'))
print(subprocess.run(['bash', 'download_broden.sh']).returncode, subprocess.run(['true']).returncode)"""
MISSING_PATHS = """import cv2, matplotlib.pyplot as plt
a = Image.open('/content/n01443537_goldfish.JPEG')
b = cv2.imread('/kaggle/input/imagenet-samples/n01608432_kite.jpeg')
c = torchvision.io.read_image('../data/n01443537_goldfish.JPEG')
d = plt.imread('C:\\\\Users\\\\x\\\\Desktop\\\\images\\\\n07747607_orange.JPEG')
Image.new('RGB', (4, 4)).save('n01491361_tiger_shark.JPEG')
print(a.size, b.shape, tuple(c.shape), d.shape, Image.open('n01491361_tiger_shark.JPEG').size)"""
DEVICES = """device = torch.device('cuda')
net = torch.nn.Linear(2, 2).to(device).cuda()
x = torch.zeros(1, 2, device='cuda').to('cuda')
y = net(x.to('mps')).to(torch.device('mps'))
torch.mps.synchronize()
print(y.device, torch.backends.mps.is_available(), torch.cuda.is_available())"""
STILL_FAILING = [
    "requests.get('https://example.org/api/scores.json')",
    "Image.open('/content/my_cat.jpg')",
]
PRESENT_SCRIPT = "import sys\nprint('present ran', *sys.argv[1:])\n"
DOWNLOAD_SCRIPT = "wget http://netdissect.csail.mit.edu/data/broden1_224.zip\nunzip broden1_224.zip\n"


def run_submitted(engine_config, folder: Path, *sources: str):
    """Run the cells in a kernel whose working folder holds the team's repository files."""
    notebook = make_notebook(*sources)

    async def main():
        async with KernelSession(engine_config, submission_dir=folder) as session:
            return await session.run_notebook(notebook)

    return asyncio.run(main()), notebook


def pixel_digest(path: Path) -> str:
    return hashlib.sha256(np.asarray(Image.open(path).convert("RGB")).tobytes()).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shims(result, shim: str) -> list[dict]:
    return [event for event in result.shims if event["shim"] == shim]


def printed(executed, index: int) -> list[str]:
    """What a cell printed itself, without the grader's ``xaigrader:`` lines."""
    return [line for line in cell_text(executed, index).splitlines() if not line.startswith("xaigrader:")]


def test_team_downloads_scripts_paths_and_devices_work_offline_or_are_refused_at_once(
    tmp_path, engine_config, data_root, monkeypatch
):
    monkeypatch.setattr(places365, "CACHE", tmp_path / "places365")
    repository = tmp_path / "submission"
    repository.mkdir()
    (repository / "present.py").write_text(PRESENT_SCRIPT)
    (repository / "download_broden.sh").write_text(DOWNLOAD_SCRIPT)
    cells = [
        FETCH_BY_URL,
        LABELS,
        PLACES365,
        GIT_CLONE,
        "print('the next cell runs')",
        SHELL_DOWNLOADS,
        SCRIPTS,
        BASH_REFUSED,
        BASH_SERVED,
        PYTHON_SHELLS,
        MISSING_PATHS,
        DEVICES,
        *STILL_FAILING,
    ]
    result, executed = run_submitted(engine_config, repository, *cells)
    statuses = [cell.status for cell in result.cells]
    assert statuses == ["ok"] * (len(cells) - 2) + ["error", "error"], [
        cell_text(executed, i) for i in range(len(cells))
    ]
    outputs = [printed(executed, index) for index in range(len(cells))]
    samples = data_root / "imagenet-samples"
    goldfish, terrier = samples / "n01443537_goldfish.JPEG", samples / "n02098286_West_Highland_white_terrier.JPEG"

    digests = json.loads(outputs[0][-1])
    for digest, image in zip(digests, [goldfish, goldfish, goldfish, terrier]):
        assert {key: digest[key] for key in ("requests", "stream", "urlopen")} == dict.fromkeys(
            ("requests", "stream", "urlopen"), pixel_digest(image)
        )
        assert digest["urlretrieve"] == digest["hub"] == digest["chunks"] == file_digest(image)
        assert digest["torchvision"] == [3, *np.asarray(Image.open(image)).shape[:2]]
    downloads = shims(result, "download")
    blob_page = [event for event in downloads if event["url"] == URL_FORMS[3]]
    assert blob_page and all("HTML page" in event["note"] for event in blob_page)
    assert not [event for event in downloads if event["url"] == URL_FORMS[2] and "note" in event]

    assert outputs[1] == ["1000 goldfish 365 /a/airfield"]

    expected = places365.stand_in_checkpoint("resnet18_places365.pth.tar")["state_dict"]
    assert "resnet18_places365.pth.tar is not on this machine; using a seeded stand-in checkpoint" in cell_text(
        executed, 2
    )
    assert outputs[2][-1] == " ".join(
        [
            "['arch', 'best_prec1', 'epoch', 'state_dict'] resnet18 True (365, 512) True",
            str(float(expected["module.fc.weight"].double().sum())),
            str(float(expected["module.conv1.weight"].double().sum())),
        ]
    )
    places = [event for event in downloads if event["url"] == PLACES]
    assert places and all(event["stand_in"] and event["served"] == "resnet18_places365.pth.tar" for event in places)

    clone = "xaigrader: refused `git clone https://github.com/Trustworthy-ML-Lab/CLIP-dissect.git`: git clone needs"
    assert cell_text(executed, 3).startswith(clone) and outputs[3] == ["exit 1"]
    assert outputs[4] == ["the next cell runs"]

    places_size = places365.stand_in_file("resnet18_places365.pth.tar").stat().st_size
    flamingo_size = (samples / "n02007558_flamingo.JPEG").stat().st_size
    assert outputs[5] == [f"['n01608432_kite.jpeg'] {flamingo_size} {places_size}", "exit 1"]
    assert "xaigrader: refused `wget https://example.org/broden1_224.zip`" in cell_text(executed, 5)
    shell_saves = {(event["command"].split()[0], event["path"]) for event in downloads if "command" in event}
    assert {("wget", "images/n01608432_kite.jpeg"), ("curl", "flamingo.jpg"), ("wget", "places.pth.tar")} <= shell_saves

    scripts = cell_text(executed, 6)
    assert "refused `python describe_neurons.py --target_model resnet18_places`" in scripts
    assert outputs[6] == ["exit 1", "present ran hello", "exit 0"]
    assert "download_broden.sh runs `wget http://netdissect.csail.mit.edu/data/broden1_224.zip`" in scripts
    assert "grad-cam is preinstalled for this course" in scripts

    bash_refusal = cell_text(executed, 7)
    assert "refused `git clone" in bash_refusal and "refused `bash dlbroden.sh`: dlbroden.sh is not in" in bash_refusal
    assert outputs[8] == ["n01616318_vulture.JPEG"]

    iguana_size = (samples / "n01677366_common_iguana.JPEG").stat().st_size
    assert outputs[9] == ["256", "1", f"0 {iguana_size}", "1 0"]

    kite, goldfish_pixels, orange = (
        np.asarray(Image.open(samples / name))
        for name in ("n01608432_kite.JPEG", "n01443537_goldfish.JPEG", "n07747607_orange.JPEG")
    )
    shapes = f"{Image.open(goldfish).size} {kite.shape} {(3, *goldfish_pixels.shape[:2])} {orange.shape} (4, 4)"
    assert outputs[10] == [shapes]
    paths = shims(result, "path")
    assert [(event["api"], event["path"], event["served"]) for event in paths] == [
        ("PIL.Image.open", "/content/n01443537_goldfish.JPEG", "imagenet-samples/n01443537_goldfish.JPEG"),
        ("cv2.imread", "/kaggle/input/imagenet-samples/n01608432_kite.jpeg", "imagenet-samples/n01608432_kite.JPEG"),
        (
            "torchvision.io.image.read_image",
            "../data/n01443537_goldfish.JPEG",
            "imagenet-samples/n01443537_goldfish.JPEG",
        ),
        (
            "matplotlib.image.imread",
            "C:\\Users\\x\\Desktop\\images\\n07747607_orange.JPEG",
            "imagenet-samples/n07747607_orange.JPEG",
        ),
    ], "a path that exists (the tiger shark written here) is never redirected"

    assert outputs[11] == ["cpu False False"]
    assert {"Tensor.cuda()", "Tensor.to('cuda')", "Tensor.to('mps')"} <= {
        event["call"] for event in shims(result, "cuda")
    }

    assert "network is disabled while grading" in result.cells[-2].error_value
    assert result.cells[-1].error_name == "FileNotFoundError"

    refused = [(event["call"], event["note"].split("`")[1]) for event in shims(result, "shell")]
    assert all(event["refused"] for event in shims(result, "shell"))
    assert refused == [
        ("!", "git clone https://github.com/Trustworthy-ML-Lab/CLIP-dissect.git"),
        ("!", "wget https://example.org/broden1_224.zip"),
        ("!", "python describe_neurons.py --target_model resnet18_places"),
        ("!", "bash download_broden.sh"),
        ("%%bash", "git clone https://github.com/Trustworthy-ML-Lab/CLIP-dissect.git"),
        ("os.system", "git clone https://github.com/x/y.git"),
        ("subprocess", "wget https://example.org/x.bin"),
        ("subprocess", "bash download_broden.sh"),
    ]


def test_a_notebook_that_says_only_mps_runs_on_the_cpu(run_cells):
    result, executed, _ = run_cells(
        "import torch\nprint(torch.zeros(1).device)",
        "device = 'mps' if not torch.backends.mps.is_available() else 'cpu'\n"
        "print(torch.ones(2, device=device).to(device).device)",
    )
    assert [cell.status for cell in result.cells] == ["ok", "ok"], executed
    assert cell_text(executed, 1).strip() == "cpu"
    assert [(event["shim"], event["call"]) for event in result.shims] == [
        ("cuda", "ones(device='mps')"),
        ("cuda", "Tensor.to('mps')"),
    ]


def test_the_places365_stand_ins_load_like_the_real_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setattr(places365, "CACHE", tmp_path)
    checkpoint = torch.load(places365.stand_in_file("wideresnet18_places365.pth.tar"), map_location="cpu")
    assert sorted(checkpoint) == ["arch", "best_prec1", "epoch", "state_dict"] and checkpoint["arch"] == "resnet18"
    assert not [key for key in checkpoint["state_dict"] if "num_batches_tracked" in key], "as saved by torch 0.2"
    model = torchvision.models.resnet18(num_classes=365)
    model.load_state_dict({key.replace("module.", ""): value for key, value in checkpoint["state_dict"].items()})
    resnet = places365.stand_in_checkpoint("resnet18_places365.pth.tar")["state_dict"]
    assert not torch.equal(checkpoint["state_dict"]["module.conv1.weight"], resnet["module.conv1.weight"])


def test_the_data_directorys_own_places365_checkpoint_is_served_instead_of_the_stand_in(tmp_path):
    real = tmp_path / "hub" / "checkpoints" / "resnet18_places365.pth.tar"
    real.parent.mkdir(parents=True)
    real.write_bytes(b"the real weights")
    served = DataIndex(tmp_path).serve(PLACES)
    assert (served.file(), served.name, served.stand_in) == (real, "hub/checkpoints/resnet18_places365.pth.tar", False)
    stand_in = DataIndex(tmp_path).serve(PLACES.replace("resnet18", "wideresnet18"))
    assert (stand_in.name, stand_in.stand_in) == ("wideresnet18_places365.pth.tar", True)
    assert DataIndex(tmp_path).serve("http://places2.csail.mit.edu/models_places365/resnet50_places365.pth.tar") is None


FISH = f"{RAW}n01443537_goldfish.JPEG"


@pytest.mark.parametrize(
    "line, text",
    [
        (f"wget -qO- {FISH} | head -c 4", "cat -- GOLDFISH | head -c 4"),
        (
            f"wget --output-document=in/x.jpg {FISH} > log 2>&1",
            "cp --no-preserve=mode -f -- GOLDFISH in/x.jpg > log 2>&1",
        ),
        (
            f"cd in && wget -nv -P pics {SAMPLES}blob/master/n01443537_goldfish.JPEG?raw=true && ls",
            "cd in && { mkdir -p -- pics && cp --no-preserve=mode -f -- GOLDFISH "
            "'pics/n01443537_goldfish.JPEG?raw=true'; } && ls",
        ),
        (
            f"curl -sSL --create-dirs -o a/b.jpg {FISH}",
            "{ mkdir -p -- a && cp --no-preserve=mode -f -- GOLDFISH a/b.jpg; }",
        ),
        (f"curl -LO --output-dir pics {FISH}", "cp --no-preserve=mode -f -- GOLDFISH pics/n01443537_goldfish.JPEG"),
        (f"curl {FISH} > fish.jpg", "cat -- GOLDFISH > fish.jpg"),
        (f"sh -c 'wget -q {FISH}'", "sh -c 'cp --no-preserve=mode -f -- GOLDFISH n01443537_goldfish.JPEG'"),
        ("git status && echo '; git clone x' # git clone y", None),
        ("python -m pip list; python3 -c 'print(1)'; unzip *.zip", None),
    ],
)
def test_answered_downloads_become_copies_to_where_wget_and_curl_would_have_saved(line, text, data_root, tmp_path):
    judgement = Judge(DataIndex(data_root), tmp_path).text(line)
    goldfish = str(data_root / "imagenet-samples" / "n01443537_goldfish.JPEG")
    assert (judgement.refusals, judgement.text) == ([], line if text is None else text.replace("GOLDFISH", goldfish))


@pytest.mark.parametrize(
    "line, refused",
    [
        ("cd CLIP-dissect; git -C . pull", "git pull needs the network"),
        ("wget -i urls.txt", "it names no URL"),
        (
            "curl -s https://example.org/a.jpg -o a.jpg",
            "https://example.org/a.jpg is not in the grading data directory",
        ),
        ("gdown --id 1abc", "gdown downloads from Google Drive"),
        ("cd repo && python3 -u describe_neurons.py", "describe_neurons.py is not in {folder}/repo"),
        ("sh -c 'cd x; git clone y'", "`sh -c` runs `git clone y`"),
        ("unzip -q broden1_224.zip", "broden1_224.zip is not in {folder}"),
    ],
)
def test_what_needs_the_network_or_is_not_here_is_refused_with_its_reason(line, refused, data_root, tmp_path):
    judgement = Judge(DataIndex(data_root), tmp_path).text(line)
    assert len(judgement.refusals) == 1 and refused.format(folder=tmp_path) in judgement.refusals[0][1]
