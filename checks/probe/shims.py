"""Make ordinary Colab/Jupyter student code work offline, and record every substitution.

- ``!pip install`` / ``%pip install`` never installs: a package the course declares or the kernel
  already has is a recorded no-op, anything else a recorded refusal; other pip lines are skipped;
- ``google.colab.drive.mount`` creates the folder inside the job (and the folders the notebook
  expects on its Drive, see ``drive_folders``);
- torchvision weights and MNIST-style datasets come from the data directory, with a
  seeded stand-in when weights are absent;
- HTTP requests for files the data directory holds are served from it (the Places365 checkpoints
  by a seeded stand-in when it does not hold them, see ``places365``), any other image is answered
  with a stand-in image, and anything else fails with a clear error; ``torch.hub`` downloads land in
  a writable folder, since the hub folder is the read-only data directory;
- image readers given a path that does not exist here (``/content/...``, ``/kaggle/input/...``, a
  Windows path) read the data directory's file of that name, if it holds one;
- ``input()`` fails at once instead of waiting for a user who is not there.
"""

from __future__ import annotations

import builtins
import email.message
import functools
import importlib.metadata
import inspect
import io
import os
import re
import shlex
import sys
import tempfile
import types
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from . import drive_folders, places365
from .events import EventLog
from .imports import when_imported

PIP_COMMAND = re.compile(r"^\s*(pip3?|python3?\s+-m\s+pip|conda|apt(-get)?)\b")
PACKAGE_INSTALL = re.compile(r"^\s*(?:pip3?|python3?\s+-m\s+pip|conda)\s+install\b(.*)", re.DOTALL)
OPTIONS_WITH_VALUE = frozenset(
    {
        "-c",
        "--constraint",
        "--channel",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "-t",
        "--target",
        "--prefix",
        "--root",
        "--src",
        "--upgrade-strategy",
        "--platform",
        "--python-version",
        "--implementation",
        "--abi",
        "--only-binary",
        "--no-binary",
        "--progress-bar",
        "--log",
        "--cache-dir",
        "--trusted-host",
        "--proxy",
        "--timeout",
        "--retries",
    }
)
FILE_OPTIONS = frozenset({"-r", "--requirement", "-e", "--editable"})
SHELL_OPERATOR = re.compile(r"[;&|<>()]+")
"""A word of the shell's control and redirection characters: ``;``, ``&&``, ``||``, ``|``, ``&``, ``>``, ``>&``."""
PACKAGE_NAME = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:\[[^\]]*\])?\s*(?:[<>=!~;].*)?$", re.DOTALL)
MAX_PACKAGES = 32
MAX_WORDS = 256
"""The words of a ``pip install`` line read, at most (options and their values included)."""
MAX_PACKAGE_TEXT = 100
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
STAND_IN_IMAGE = "extras/pytorch_hub_dog.jpg"
NETWORK_DISABLED = "network is disabled while grading"
GITHUB_PAGE_NOTE = "github.com answers this address with an HTML page, not the image; served the image it shows"
HUB_DOWNLOADS = Path(tempfile.gettempdir()) / "torch-hub" / "checkpoints"
"""Where ``torch.hub`` saves downloads while its own folder (``$TORCH_HOME``, the data directory) is read-only."""


class NetworkDisabledError(ConnectionError):
    pass


class DataIndex:
    """File names the data directory can answer a download with (case-insensitive)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_name: dict[str, Path] = {}
        if root.is_dir():
            for folder, _, files in os.walk(root):
                for name in files:
                    self.by_name.setdefault(name.lower(), Path(folder) / name)

    def for_url(self, url: str) -> Path | None:
        name = urllib.parse.unquote(Path(urllib.parse.urlparse(url).path).name).lower()
        return self.by_name.get(name) if name else None

    def serve(self, url: str) -> Served | None:
        """What answers a download of ``url``: the data directory's file of its name, else the
        Places365 stand-in for a Places365 checkpoint; None for anything else."""
        found = self.for_url(url)
        if found is not None:
            return Served(url, str(found.relative_to(self.root)), found)
        name = places365.checkpoint_name(url)
        return Served(url, name, None) if name else None


@dataclass(frozen=True)
class Served:
    """A download the grading machine answers: ``source`` is the data directory's file, or None for
    the Places365 stand-in ``name``, built (and announced) only when a download really takes it."""

    url: str
    name: str
    source: Path | None

    @property
    def stand_in(self) -> bool:
        return self.source is None

    @property
    def path(self) -> Path:
        """Where the answer is, or will be once ``file()`` has built the stand-in."""
        return self.source or places365.stand_in_path(self.name)

    def file(self) -> Path:
        if self.source is not None:
            return self.source
        places365.announce(self.name)
        return places365.stand_in_file(self.name)

    def record(self, log: EventLog, **details: object) -> None:
        """One ``download`` event, saying when the answer is a stand-in or what the address really shows."""
        if self.stand_in:
            details.update(stand_in=True, note="seeded stand-in checkpoint in the real file's format")
        elif _github_page(self.url):
            details["note"] = GITHUB_PAGE_NOTE
        log.record("shim", shim="download", url=self.url, served=self.name, **details)


def _github_page(url: str) -> bool:
    """A ``github.com/.../blob/...`` link without ``?raw=true``: GitHub shows a page there, not the file."""
    parts = urllib.parse.urlparse(url)
    raw = urllib.parse.parse_qs(parts.query).get("raw", [""])[0].lower() in ("true", "1")
    return parts.netloc.lower() in ("github.com", "www.github.com") and "/blob/" in parts.path and not raw


def normalised_name(name: str) -> str:
    """A distribution's name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _shell_words(command: str) -> Iterator[str]:
    """The words of a shell command line, as the shell splits them: quoted text is one word, and each run
    of operator characters is a word of its own wherever it stands (``seaborn;touch`` is three words).
    An unclosed quote ends the words (the shell would refuse the whole line)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        yield from lexer
    except ValueError:
        return


def _first_command(words: Iterable[str]) -> list[str]:
    """The words of the line's first command: a control operator (``;``, ``&&``, ``||``, ``|``, ``&``)
    ends it; a redirection is left out with its target (``> log``, ``2>&1``, the ``>=2`` of an unquoted
    ``torch>=2``), a number just before it being its descriptor."""
    kept: list[str] = []
    words_left = iter(words)
    for word in words_left:
        if not SHELL_OPERATOR.fullmatch(word):
            kept.append(word)
        elif "<" in word or ">" in word:
            if kept and kept[-1].isdigit():
                kept.pop()
            next(words_left, None)
        else:
            break
    return kept


def requested_packages(arguments: str) -> list[str]:
    """What ``pip install <arguments>`` asks for: each requirement's name, or the raw text of what
    names no package (a URL, a path, ``-r file``); options and redirections are skipped, and the first
    control operator ends it, even inside a word (``seaborn; touch X`` asks for seaborn alone)."""
    requested: list[str] = []
    tokens_left = iter(_first_command(islice(_shell_words(arguments), MAX_WORDS)))
    for token in tokens_left:
        if len(requested) >= MAX_PACKAGES:
            break
        if token in FILE_OPTIONS:
            requested.append(f"{token} {next(tokens_left, '')}"[:MAX_PACKAGE_TEXT])
        elif token in OPTIONS_WITH_VALUE:
            next(tokens_left, None)
        elif not token.startswith("-"):
            name = PACKAGE_NAME.match(token)
            requested.append((name.group(1) if name and "://" not in token else token)[:MAX_PACKAGE_TEXT])
    return requested


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


def install_pip_shim(shell, log: EventLog, declared: list[str]) -> None:
    """Nothing is installed while grading: the course's packages were installed by its setup.

    A package the kernel's environment has (declared or not) is a no-op; one the course declares
    that is missing (its setup was not run) and anything else are refused; one event a command.
    """
    declared_names = {normalised_name(name) for name in declared if isinstance(name, str)}
    original_system = shell.system

    def answer_install(command: str, packages: list[str]) -> None:
        missing, refused = [], []
        for package in packages:
            version = _installed_version(package)
            if version is not None:
                print(f"xaigrader: {package} is preinstalled for this course ({version})")
            elif normalised_name(package) in declared_names:
                missing.append(package)
                print(f"xaigrader: {package} is declared by this course but missing on this grading machine")
            else:
                refused.append(package)
                print(f"xaigrader: {package} is not among the packages this course declares; ask your instructor")
        outcome = "refused" if refused else "missing" if missing else "preinstalled"
        log.record(
            "shim",
            shim="pip",
            command=command,
            packages=packages,
            refused_packages=missing + refused,
            outcome=outcome,
            refused=bool(missing or refused),
        )

    def system(command: str):
        if not isinstance(command, str) or not PIP_COMMAND.match(command):
            return original_system(command)
        install = PACKAGE_INSTALL.match(command)
        packages = requested_packages(install.group(1)) if install else []
        if packages:
            answer_install(command, packages)
        else:
            log.record("shim", shim="pip", command=command, outcome="skipped")
            print(f"xaigrader: skipped `{command.strip()}` (packages are preinstalled while grading)")
        return None

    def pip_magic(line: str) -> None:
        system(f"pip {line}")

    shell.system = system
    shell.register_magic_function(pip_magic, "line", "pip")
    shell.register_magic_function(lambda line: system(f"conda {line}"), "line", "conda")


def install_input_shim(shell, log: EventLog) -> None:
    """ipykernel re-binds ``input`` to ``kernel.raw_input`` before every cell, so patch that too."""

    def no_input(prompt: object = "", *args: object, **kwargs: object) -> str:
        log.record("shim", shim="input", prompt=str(prompt)[:200])
        raise EOFError("input() is not available while grading: nobody is there to answer")

    builtins.input = no_input
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        kernel.raw_input = no_input
        kernel.getpass = no_input


def _colab_module(log: EventLog) -> types.ModuleType:
    colab = types.ModuleType("google.colab")
    drive = types.ModuleType("google.colab.drive")
    files = types.ModuleType("google.colab.files")

    def mount(mountpoint: str = "/content/drive", force_remount: bool = False, **_: object) -> None:
        target = Path(mountpoint)
        (target / "MyDrive").mkdir(parents=True, exist_ok=True)
        drive_folders.mounted(target)
        log.record("shim", shim="drive.mount", mountpoint=str(target))
        print(f"xaigrader: Google Drive is simulated by an empty folder at {target}")

    def download(filename: str) -> None:
        log.record("shim", shim="files.download", file=str(filename))

    def upload() -> dict:
        log.record("shim", shim="files.upload")
        raise RuntimeError("files.upload() is not available while grading")

    drive.mount = mount
    drive.flush_and_unmount = lambda *a, **k: None
    files.download = download
    files.upload = upload
    colab.drive, colab.files = drive, files
    return colab


class _ColabFinder:
    """Answers ``import google.colab`` (and ``google`` when nothing else provides it)."""

    def __init__(self, colab: types.ModuleType) -> None:
        self.modules = {
            "google.colab": colab,
            "google.colab.drive": colab.drive,
            "google.colab.files": colab.files,
        }

    def find_spec(self, name, path, target=None):
        import importlib.machinery

        if name in self.modules:
            return importlib.machinery.ModuleSpec(name, self, is_package=name == "google.colab")
        if name == "google":
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        if spec.name == "google":
            module = types.ModuleType("google")
            module.__path__ = []
            return module
        return self.modules[spec.name]

    def exec_module(self, module) -> None:
        return None


def install_colab_shim(log: EventLog) -> None:
    sys.meta_path.append(_ColabFinder(_colab_module(log)))


def install_network_shims(index: DataIndex, log: EventLog) -> None:
    def answer(url: str) -> tuple[bytes, str]:
        served = index.serve(url)
        if served is not None:
            body = served.file().read_bytes()
            served.record(log)
            return body, "stand-in checkpoint" if served.stand_in else "served from the data directory"
        path = urllib.parse.urlparse(url).path.lower()
        stand_in = index.root / STAND_IN_IMAGE
        if path.endswith(IMAGE_SUFFIXES) and stand_in.is_file():
            log.record("shim", shim="download", url=url, served=STAND_IN_IMAGE, stand_in=True)
            return stand_in.read_bytes(), "stand-in image"
        log.record("shim", shim="download", url=url, refused=True)
        raise NetworkDisabledError(f"{NETWORK_DISABLED}: {url} is not in the grading data directory")

    def guess_type(url: str) -> str:
        path = urllib.parse.urlparse(url).path.lower()
        if path.endswith((".jpg", ".jpeg")):
            return "image/jpeg"
        if path.endswith(".png"):
            return "image/png"
        return "application/octet-stream"

    import urllib.request
    import urllib.response

    def opener_open(self, request, *args, **kwargs):
        url = request.full_url if hasattr(request, "full_url") else str(request)
        if not url.lower().startswith(("http://", "https://", "ftp://")):
            return original_open(self, request, *args, **kwargs)
        body, _ = answer(url)
        headers = email.message.Message()
        headers["Content-Type"] = guess_type(url)
        headers["Content-Length"] = str(len(body))
        return urllib.response.addinfourl(io.BytesIO(body), headers, url, 200)

    original_open = urllib.request.OpenerDirector.open
    urllib.request.OpenerDirector.open = opener_open

    def patch_requests(adapters) -> None:
        import requests

        def send(self, request, **kwargs):
            try:
                body, reason = answer(request.url)
            except NetworkDisabledError as error:
                raise requests.exceptions.ConnectionError(str(error), request=request) from None
            response = requests.models.Response()
            response.status_code, response.reason, response.url = 200, reason, request.url
            response._content, response.request = body, request
            # ``stream=True`` readers take ``.raw`` or ``iter_content()``: both read the body held here.
            response.raw, response._content_consumed = io.BytesIO(body), True
            response.headers["Content-Type"] = guess_type(request.url)
            response.headers["Content-Length"] = str(len(body))
            return response

        adapters.HTTPAdapter.send = send

    when_imported("requests.adapters", patch_requests)
    when_imported("torch.hub", _save_hub_downloads_where_writable)


def _writable(folder: Path) -> bool:
    """Whether ``folder`` can be written, or created: its nearest existing ancestor decides."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK)


def _save_hub_downloads_where_writable(hub) -> None:
    """``load_state_dict_from_url`` (``model_zoo.load_url`` too, which imports it after this patch) saves
    under ``$TORCH_HOME``, the read-only data directory here: a checkpoint that is not already there is
    downloaded (answered offline) into ``HUB_DOWNLOADS`` instead."""
    original = hub.load_state_dict_from_url
    signature = inspect.signature(original)

    @functools.wraps(original)
    def load_state_dict_from_url(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        if call.arguments.get("model_dir") is None:
            url = urllib.parse.urlparse(call.arguments["url"])
            name = call.arguments.get("file_name") or os.path.basename(url.path)
            home = Path(hub.get_dir()) / "checkpoints"
            if not (home / name).exists() and not _writable(home):
                call.arguments["model_dir"] = str(HUB_DOWNLOADS)
        return original(*call.args, **call.kwargs)

    hub.load_state_dict_from_url = load_state_dict_from_url


IMAGE_READERS = (
    ("PIL.Image", ("open",)),
    ("cv2", ("imread",)),
    ("matplotlib.image", ("imread",)),
    ("torchvision.io.image", ("read_image", "decode_image", "read_file")),
    ("torchvision.io", ("read_image", "decode_image", "read_file")),
)
"""The readers of image files whose path argument may name a file that is only in the data directory
(``plt.imread`` calls ``matplotlib.image.imread``; ``torchvision.io`` re-exports its ``image`` module's)."""


def _name_of(path: str) -> str:
    """The final name of a POSIX or Windows path."""
    return re.split(r"[\\/]", path)[-1]


def install_path_shims(index: DataIndex, log: EventLog) -> None:
    """A team reads the images where they kept them (``/content/``, ``/kaggle/input/``, ``C:\\Users\\...``):
    a path that does not exist here and whose image file name the data directory holds (in any case)
    reads that file, recorded as a ``compat`` event naming the reader (``api``), the path asked and the
    file served; a path that exists is never touched."""

    def redirected(reader: str, asked: object) -> object:
        if not isinstance(asked, (str, os.PathLike)):
            return asked
        text = os.fspath(asked)
        if not isinstance(text, str) or not text.lower().endswith(IMAGE_SUFFIXES) or os.path.exists(text):
            return asked
        found = index.by_name.get(_name_of(text).lower())
        if found is None:
            return asked
        log.record(
            "shim",
            shim="path",
            api=reader,
            path=text[:300],
            served=str(found.relative_to(index.root)),
            note="this path is not here: read the grading data directory's file of that name",
        )
        return str(found) if isinstance(asked, str) else found

    def wrap(reader: str, original: Callable) -> Callable:
        if getattr(original, "redirects_missing_paths", False):
            return original

        @functools.wraps(original)
        def read(path, *args, **kwargs):
            return original(redirected(reader, path), *args, **kwargs)

        read.redirects_missing_paths = True
        return read

    def patch(module_name: str, names: tuple[str, ...]) -> Callable[[object], None]:
        def apply(module) -> None:
            module = sys.modules.get(module_name, module)
            for name in names:
                original = getattr(module, name, None)
                if callable(original):
                    setattr(module, name, wrap(f"{module_name}.{name}", original))

        return apply

    for module_name, names in IMAGE_READERS:
        when_imported(module_name, patch(module_name, names))


def install_torchvision_shims(data_root: Path, log: EventLog) -> None:
    def patch_weights(api) -> None:
        def get_state_dict(self, *args, **kwargs):
            import torch
            import torchvision

            label = f"{type(self).__name__}.{self.name}"
            checkpoint = data_root / "hub" / "checkpoints" / Path(self.url).name
            if checkpoint.is_file():
                log.record("shim", shim="weights", weights=label, stand_in=False)
                return torch.load(checkpoint, map_location="cpu", weights_only=True)
            from .standin import seeded_stand_in

            builder = next(
                torchvision.models.get_model_builder(name)
                for name in torchvision.models.list_models()
                if torchvision.models.get_model_weights(name) is type(self)
            )
            log.record("shim", shim="weights", weights=label, stand_in=True)
            print(
                f"xaigrader: {label} is not on this machine; using seeded stand-in weights "
                "(predicted class names are meaningless)"
            )
            model = seeded_stand_in(builder, 0, num_classes=len(self.meta["categories"]))
            return model.state_dict()

        api.WeightsEnum.get_state_dict = get_state_dict

    def patch_mnist(mnist) -> None:
        def download(self) -> None:
            if self._check_exists():
                return
            source = data_root / type(self).__name__ / "raw"
            if not source.is_dir():
                log.record("shim", shim="dataset", dataset=type(self).__name__, refused=True)
                raise RuntimeError(f"{NETWORK_DISABLED}: {type(self).__name__} is not in the grading data directory")
            target = Path(self.raw_folder)
            target.mkdir(parents=True, exist_ok=True)
            for item in source.iterdir():
                link = target / item.name
                if not link.exists():
                    link.symlink_to(item)
            log.record("shim", shim="dataset", dataset=type(self).__name__, root=str(self.root))

        mnist.MNIST.download = download

    when_imported("torchvision.models._api", patch_weights)
    when_imported("torchvision.datasets.mnist", patch_mnist)


HUGGING_FACE_LOCAL = {"microsoft/cats_vs_dogs": "cats_vs_dogs", "cats_vs_dogs": "cats_vs_dogs"}
HUGGING_FACE_IGNORED = ("name", "trust_remote_code", "token", "use_auth_token")
"""Arguments that choose among the hub's configurations, allow its code or authenticate: the local
copy has one configuration and no code, and needs no account (older ``datasets`` took some of them)."""
HUGGING_FACE_REPOSITORY_FILES = ("data_dir", "data_files")
"""Arguments that pick files of the hub's repository, which the local copy does not have."""


class HuggingFaceDataError(ValueError):
    """A ``load_dataset`` call the local copy cannot answer; says what to write instead."""


def _call_text(path: object, options: dict[str, object]) -> str:
    arguments = [repr(path), *(f"{key}={value!r}" for key, value in options.items())]
    return f"load_dataset({', '.join(arguments)})"


def _hub_columns(loaded):
    """The hub names the class column ``labels``; the image-folder loader names it ``label``."""
    if isinstance(loaded, list):
        return [part.rename_column("label", "labels") for part in loaded]
    return loaded.rename_column("label", "labels")


def install_hugging_face_shim(data_root: Path, log: EventLog) -> None:
    """``load_dataset`` of a dataset the data directory holds reads the local image folders through
    the real image-folder loader, so everything a notebook does with the result behaves as on the hub.

    The local copy keeps the hub's schema: one ``train`` split, an ``image`` column and a ``labels``
    class column. What it cannot answer (another split, the hub repository's own files) fails with
    a message that says what to write instead.
    """

    def patch(load) -> None:
        import inspect

        original = load.load_dataset
        signature = inspect.signature(original)

        def refuse(path: object, message: str) -> HuggingFaceDataError:
            log.record("shim", shim="hf_dataset", dataset=str(path), refused=True, note=message)
            return HuggingFaceDataError(message)

        def load_dataset(path, *args, **kwargs):
            folder = HUGGING_FACE_LOCAL.get(str(path))
            if folder is None or not (data_root / folder).is_dir():
                log.record("shim", shim="hf_dataset", dataset=str(path), refused=True)
                return original(path, *args, **kwargs)
            options = dict(signature.bind(path, *args, **kwargs).arguments)
            options.pop("path")
            options.update(options.pop("config_kwargs", {}))
            call = _call_text(path, options)
            for key in HUGGING_FACE_IGNORED:
                options.pop(key, None)
            if any(options.get(key) is not None for key in HUGGING_FACE_REPOSITORY_FILES):
                raise refuse(
                    path,
                    f"{call}: while grading, {path} is a local copy of the whole dataset without the hub "
                    "repository's files; load it without data_dir / data_files",
                )
            try:
                local = original("imagefolder", **{**options, "data_dir": str(data_root / folder)})
            except ValueError as error:
                if not str(error).startswith("Unknown split"):
                    raise
                raise refuse(
                    path,
                    f"{call}: {path} has a single split, 'train'; split it yourself, e.g. "
                    f"parts = load_dataset({path!r}, split='train').train_test_split(test_size=0.2, seed=0) "
                    "gives parts['train'] and parts['test']",
                ) from None
            log.record("shim", shim="hf_dataset", dataset=str(path), served=folder)
            return _hub_columns(local)

        load.load_dataset = load_dataset

    when_imported("datasets.load", patch)
