"""Shell commands of Colab notebooks, offline: ``!`` lines, ``%%bash`` / ``%%sh`` / ``%%script`` cells,
``os.system`` and ``subprocess`` (``run``, ``Popen``, ``check_call``, ...).

Every command of a line (or cell) is judged before anything of it runs:

- ``git clone`` / ``pull`` / ``fetch`` / ..., ``gdown``: refused, there is no network;
- ``wget`` / ``curl`` of URLs that the data directory (or the Places365 stand-in) answers: the command
  becomes a copy of that file to where wget or curl would have written it (``-O`` / ``-P``, ``-o`` /
  ``-O`` / ``--output-dir``, else the URL's file name); any other URL: refused;
- ``bash`` / ``sh`` SCRIPT (or ``-c TEXT``): refused when the script is missing or runs a refused
  command; a script whose downloads are all answered runs with them rewritten;
- ``python SCRIPT.py``: refused when the script is not there (resolved against the kernel's working
  folder and the line's ``cd``); one that is there runs as before, inside the sandbox;
- ``unzip ARCHIVE``: refused when the archive is not there and no earlier command of the line fetches it.

A line with a refused command runs not at all, at once instead of after a network timeout: a printed
``xaigrader:`` line says which command and why, an event records it, and the caller sees a failed
status (``_exit_code`` 1, ``os.system`` 256, a process that exits 1) rather than an exception, so the
notebook goes on. pip lines are left to the pip shim.

Events use the names and fields the grader accepts from the kernel: a refused line is a ``compat``
event (``api`` "shell", ``call`` how it ran, ``command`` the line, ``note`` each refused command and
why, ``refused``); an answered download a ``download`` event (``url``, ``served``, ``command`` the
wget / curl command, ``path`` where it saved the file, ``stand_in`` for the Places365 stand-in).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

from .events import EventLog
from .shims import MAX_WORDS, PIP_COMMAND, DataIndex, Served, _first_command, _shell_words

PACKAGE = str(Path(__file__).parent) + os.sep
CONTROL = frozenset(";&|\n()")
PREFIX_WORDS = frozenset({"{", "}", "!", "do", "then", "else", "elif", "if", "while", "until", "time", "sudo", "nohup"})
"""Words before a command's program: shell keywords and wrappers that run the rest as a command."""
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
REDIRECTION = re.compile(r"^\d*(<|>|&>)")
BARE_REDIRECTION = re.compile(r"^\d*[<>&]+$")
"""A redirection whose target is the next word (``> out.txt``), not the rest of its own (``>out.txt``, ``2>&1``)."""
PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
SHELLS = frozenset({"bash", "sh", "dash", "zsh"})
NETWORK_GIT = frozenset({"clone", "pull", "fetch", "push", "submodule", "ls-remote", "lfs"})
WGET_VALUES = frozenset(
    {
        *("-O", "-P", "-o", "-a", "-t", "-T", "-U", "-e", "-i", "-w", "-Q", "-l", "-A", "-R", "-D", "-I", "-X", "-B"),
        *("--output-document", "--directory-prefix", "--output-file", "--append-output", "--tries", "--timeout"),
        *("--user-agent", "--header", "--execute", "--input-file", "--wait", "--quota", "--level", "--accept"),
        *("--reject", "--domains", "--base", "--user", "--password", "--post-data", "--post-file", "--referer"),
        *("--progress", "--limit-rate", "--http-user", "--http-password", "--load-cookies", "--save-cookies"),
    }
)
"""wget's options whose value may be the next word (so that it is not taken for a URL)."""
CURL_VALUES = frozenset(
    {
        *("-o", "-H", "-d", "-X", "-A", "-e", "-u", "-x", "-m", "-r", "-w", "-T", "-F", "-b", "-c", "-K", "-E"),
        *("-y", "-Y", "-z", "-Q", "-U", "-C", "-D", "-t"),
        *("--output", "--header", "--data", "--data-raw", "--data-binary", "--request", "--user-agent"),
        *("--referer", "--user", "--proxy", "--max-time", "--connect-timeout", "--range", "--write-out"),
        *("--upload-file", "--form", "--cookie", "--cookie-jar", "--config", "--cert", "--retry", "--output-dir"),
        *("--limit-rate", "--dump-header", "--continue-at", "--url"),
    }
)
INFO_OPTIONS = frozenset({"-h", "--help", "-V", "--version"})
MAX_DEPTH = 2
"""Scripts judged inside scripts, at most: deeper ones run as they are."""
MAX_SCRIPT_BYTES = 1 << 20
REFUSED_STATUS = 256
"""``os.system``'s status for a refused command: exit code 1."""
NO_NETWORK = "there is no network while grading"
NOT_HERE = "it was not submitted with the notebook, or the download that brings it was refused"


@dataclass(frozen=True)
class Download:
    served: Served
    target: str  # where the file lands, as the command says it ("-" for standard output)
    command: str = ""  # the wget or curl command, as written


@dataclass
class Verdict:
    """What becomes of one command: refused (why), replaced (by what), or run as it is."""

    refusal: str | None = None
    replacement: str | None = None
    downloads: list[Download] = field(default_factory=list)


@dataclass
class Judgement:
    refusals: list[tuple[str, str]]  # (command, why)
    downloads: list[Download]
    text: str  # the text to run: the original with answered downloads replaced by copies
    commands: int


def _quoted_end(text: str, position: int) -> int:
    """The index after the quoted text that starts at ``position`` (unclosed: the end of the text)."""
    quote = text[position]
    position += 1
    while position < len(text) and text[position] != quote:
        position += 2 if text[position] == "\\" and quote != "'" else 1
    return min(position + 1, len(text))


def _substitution_end(text: str, position: int) -> int:
    """The index after the ``$( ... )`` that starts at ``position``."""
    depth, position = 0, position + 1
    while position < len(text):
        if text[position] in "'\"`":
            position = _quoted_end(text, position)
            continue
        depth += {"(": 1, ")": -1}.get(text[position], 0)
        position += 1
        if depth == 0:
            break
    return position


def _token_end(text: str, position: int) -> int:
    """The index after the piece of a word at ``position``: an escape, a quote, a substitution or a character."""
    char = text[position]
    if char == "\\":
        return position + 2
    if char in "'\"`":
        return _quoted_end(text, position)
    if text.startswith("$(", position):
        return _substitution_end(text, position)
    return position + 1


def _ends_word(text: str, position: int) -> bool:
    """A blank or a control character outside quotes; the ``&`` of a redirection (``2>&1``, ``&>``) is not one."""
    char = text[position]
    if char in " \t":
        return True
    if char != "&":
        return char in CONTROL
    return not (text[position - 1 : position] in ("<", ">") or text.startswith("&>", position))


def _command_spans(text: str) -> list[list[tuple[int, int]]]:
    """Each simple command of a shell text, as the (start, end) of its words, quotes included: control
    operators, parentheses and new lines separate commands; comments and escaped new lines are skipped.
    Unlike ``_shell_words`` this keeps where each word stands, so that a command can be replaced in place."""
    commands: list[list[tuple[int, int]]] = []
    words: list[tuple[int, int]] = []
    start: int | None = None
    position = 0
    while position < len(text):
        if start is None:
            char = text[position]
            if char in " \t" or text.startswith("\\\n", position):
                position += 2 if char == "\\" else 1
                continue
            if char == "#":
                newline = text.find("\n", position)
                position = len(text) if newline < 0 else newline
                continue
            if _ends_word(text, position):
                if words:
                    commands.append(words)
                    words = []
                position += 1
                continue
            start = position
        if _ends_word(text, position):
            words.append((start, position))
            start = None
            continue
        position = _token_end(text, position)
    if start is not None:
        words.append((start, len(text)))
    if words:
        commands.append(words)
    return commands


def _program_span(text: str, words: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The span of a command from its program on: keywords, wrappers and assignments before it are not
    part of what a replacement replaces."""
    for start, end in words:
        word = text[start:end]
        if word not in PREFIX_WORDS and not ASSIGNMENT.match(word):
            return start, words[-1][1]
    return None


def _redirections(text: str, words: list[tuple[int, int]]) -> str:
    """A command's redirections, as written (with a leading space): a replacement keeps them, so that
    ``curl URL > file`` still writes the file."""
    kept: list[str] = []
    bare = False
    for start, end in words:
        word = text[start:end]
        if bare or REDIRECTION.match(word):
            kept.append(word)
            bare = not bare and bool(BARE_REDIRECTION.match(word))
    return "".join(f" {word}" for word in kept)


def _program(word: str) -> str:
    """The program a command's first word names: its file name, with any Python called ``python``."""
    name = os.path.basename(word)
    return "python" if PYTHON.match(name) or name == os.path.basename(sys.executable) else name


def _remote_name(url: str) -> str:
    """The file wget, and curl's ``-O``, name a download after: the URL's last path part, query included."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    name = urllib.parse.unquote(parts.path.rsplit("/", 1)[-1])
    return (f"{name}?{parts.query}" if parts.query else name) or "index.html"


def _options(words: list[str], with_values: frozenset[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """A download tool's options, as (option, value) pairs with each short cluster split into its letters
    (``-qO-`` is ``-q`` then ``-O -``), and its other words (the URLs)."""
    options: list[tuple[str, str]] = []
    others: list[str] = []
    rest = iter(words)
    for word in rest:
        if word.startswith("--") and "=" in word:
            options.append(tuple(word.split("=", 1)))
        elif word.startswith("--"):
            options.append((word, next(rest, "") if word in with_values else ""))
        elif word.startswith("-") and len(word) > 1 and not word.startswith("-n"):
            for place, letter in enumerate(word[1:], start=2):
                if f"-{letter}" in with_values:
                    options.append((f"-{letter}", word[place:] or next(rest, "")))
                    break
                options.append((f"-{letter}", ""))
        elif word.startswith("-n"):
            options.append((word, ""))
        else:
            others.append(word)
    return options, others


def _shell_word(value: str) -> str:
    """A path the command named, quoted for the shell but still expanded as the written word was: a leading
    ``~/`` and ``$VARIABLES`` (``-O $HOME/x.jpg``, ``-P $DIR`` of a ``%%bash`` cell)."""
    home = value.startswith("~/")
    body = value[2:] if home else value
    quoted = '"' + re.sub(r'(["\\`])', r"\\\1", body) + '"' if "$" in body else shlex.quote(body)
    return f"~/{quoted}" if home else quoted


def _copy(sources: list[Path], target: str) -> str:
    """The shell text that puts ``sources`` where a download of them would have (``-``: standard output)."""
    quoted = " ".join(shlex.quote(str(source)) for source in sources)
    if target == "-":
        return f"cat -- {quoted}"
    if len(sources) == 1:
        # A file of its own (wget's would be writable), not a copy of the read-only data directory's mode.
        return f"cp --no-preserve=mode -f -- {quoted} {_shell_word(target)}"
    return f"cat -- {quoted} > {_shell_word(target)}"


def _grouped(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "{ " + " && ".join(parts) + "; }"


class Judge:
    """Judges the commands of one text in order, following its ``cd``s and the files its downloads make."""

    def __init__(self, index: DataIndex, cwd: Path, fetched: set[Path] | None = None, depth: int = 0) -> None:
        self.index = index
        self.cwd = cwd
        self.fetched = set() if fetched is None else fetched
        self.depth = depth

    def text(self, text: str) -> Judgement:
        refusals: list[tuple[str, str]] = []
        downloads: list[Download] = []
        edits: list[tuple[tuple[int, int], str]] = []
        spans = _command_spans(text)
        for words in spans:
            span = _program_span(text, words)
            command = _first_command(islice(_shell_words(text[span[0] : span[1]]), MAX_WORDS)) if span else []
            if not command:
                continue
            verdict = self.command(command)
            written = text[span[0] : span[1]].strip()
            if verdict.refusal is not None:
                refusals.append((written, verdict.refusal))
            downloads += [
                download if download.command else replace(download, command=written) for download in verdict.downloads
            ]
            if verdict.replacement is not None:
                edits.append((span, verdict.replacement + _redirections(text, words)))
        for (start, end), replacement in reversed(edits):
            text = text[:start] + replacement + text[end:]
        return Judgement(refusals, downloads, text, len(spans))

    def command(self, words: list[str]) -> Verdict:
        program = _program(words[0])
        if program == "cd":
            self.cwd = self.path(words[1] if len(words) > 1 else os.environ.get("HOME", str(self.cwd)))
            return Verdict()
        if program == "gdown":
            return Verdict(refusal=f"gdown downloads from Google Drive, and {NO_NETWORK}")
        judge = {
            "git": self.git,
            "wget": self.wget,
            "curl": self.curl,
            "python": self.python,
            "unzip": self.unzip,
        }.get(program, self.script if program in SHELLS else None)
        return judge(words) if judge else Verdict()

    def path(self, text: str) -> Path:
        return Path(os.path.normpath(self.cwd / os.path.expandvars(os.path.expanduser(text))))

    def present(self, text: str) -> bool:
        """Whether a file is here, or an earlier download of the line makes it; one named through a variable
        of the shell's own cannot be told, and counts as here."""
        path = self.path(text)
        return "$" in str(path) or path.is_file() or path in self.fetched

    def git(self, words: list[str]) -> Verdict:
        rest = iter(words[1:])
        for word in rest:
            if word in ("-C", "-c", "--git-dir", "--work-tree"):
                next(rest, None)
            elif not word.startswith("-"):
                if word in NETWORK_GIT:
                    return Verdict(refusal=f"git {word} needs the network, and {NO_NETWORK}")
                break
        return Verdict()

    def downloads(self, urls: list[str], targets: list[str]) -> Verdict:
        """Copies for ``urls`` saved at ``targets`` when every URL is answered, else the refusal of the first
        that is not."""
        if not urls:
            return Verdict(refusal=f"it names no URL that the grading data directory answers, and {NO_NETWORK}")
        served = [self.index.serve(url if "://" in url else f"http://{url}") for url in urls]
        missing = [url for url, answer in zip(urls, served) if answer is None]
        if missing:
            return Verdict(refusal=f"{missing[0]} is not in the grading data directory, and {NO_NETWORK}")
        for target in targets:
            if target != "-":
                self.fetched.add(self.path(target))
        return Verdict(downloads=[Download(answer, target) for answer, target in zip(served, targets)])

    def wget(self, words: list[str]) -> Verdict:
        options, urls = _options(words[1:], WGET_VALUES)
        named = dict(options)
        if INFO_OPTIONS & named.keys():
            return Verdict()
        document = named.get("-O", named.get("--output-document"))
        folder = named.get("-P", named.get("--directory-prefix"))
        targets = [document or os.path.join(folder or "", _remote_name(url)) for url in urls]
        verdict = self.downloads(urls, targets)
        if verdict.refusal is None:
            sources = [download.served.path for download in verdict.downloads]
            if document:
                parts = [_copy(sources, document)]
            else:
                made = [f"mkdir -p -- {_shell_word(folder)}"] if folder else []
                parts = made + [_copy([source], target) for source, target in zip(sources, targets)]
            verdict.replacement = _grouped(parts)
        return verdict

    def curl(self, words: list[str]) -> Verdict:
        options, urls = _options(words[1:], CURL_VALUES)
        keys = {option for option, _ in options}
        if INFO_OPTIONS & keys:
            return Verdict()
        urls += [value for option, value in options if option == "--url"]
        outputs = [value or None for option, value in options if option in ("-o", "--output", "-O", "--remote-name")]
        folder = next((value for option, value in options if option == "--output-dir"), "")
        remote_all = "--remote-name-all" in keys

        def target(place: int, url: str) -> str:
            """curl gives the URLs the outputs in order: a name, or the URL's own; the rest go to standard output."""
            chosen = outputs[place] if place < len(outputs) else None if remote_all else "-"
            return "-" if chosen == "-" else os.path.join(folder, chosen or _remote_name(url))

        verdict = self.downloads(urls, [target(place, url) for place, url in enumerate(urls)])
        if verdict.refusal is None:
            parts = []
            for download in verdict.downloads:
                parent = os.path.dirname(download.target)
                if "--create-dirs" in keys and parent and download.target != "-":
                    parts.append(f"mkdir -p -- {_shell_word(parent)}")
                parts.append(_copy([download.served.path], download.target))
            verdict.replacement = _grouped(parts)
        return verdict

    def python(self, words: list[str]) -> Verdict:
        rest = iter(words[1:])
        for word in rest:
            if word in ("-", "-c", "-m") or word.startswith(("-c", "-m")):
                return Verdict()
            if word in ("-W", "-X"):
                next(rest, None)
            elif not word.startswith("-"):
                return Verdict() if self.present(word) else Verdict(refusal=self.missing(word))
        return Verdict()

    def unzip(self, words: list[str]) -> Verdict:
        rest = iter(words[1:])
        for word in rest:
            if word in ("-d", "-P", "-x"):
                next(rest, None)
            elif not word.startswith("-"):
                if any(char in word for char in "*?[") or self.present(word) or self.present(f"{word}.zip"):
                    return Verdict()
                return Verdict(refusal=self.missing(word))
        return Verdict()

    def script(self, words: list[str]) -> Verdict:
        """``bash -c TEXT`` and ``bash SCRIPT``: judged by the commands they run."""
        rest = words[1:]
        place = 0
        while place < len(rest):
            word = rest[place]
            if word.startswith("-") and "c" in word[1:] and not word.startswith("--"):
                inner = rest[place + 1] if place + 1 < len(rest) else ""
                return self.nested(inner, f"`{words[0]} -c`", words[: place + 2], rest[place + 2 :])
            if word in ("-o", "+o", "-O", "+O"):
                place += 2
                continue
            if not word.startswith(("-", "+")):
                if not self.present(word):
                    return Verdict(refusal=self.missing(word))
                try:
                    with open(self.path(word), encoding="utf-8", errors="replace") as handle:
                        inner = handle.read(MAX_SCRIPT_BYTES)
                except OSError:  # one the shell cannot read either: it fails there as it would anywhere
                    return Verdict()
                return self.nested(inner, word, [words[0], "-c"], [word, *rest[place + 1 :]])
            place += 1
        return Verdict()

    def nested(self, text: str, label: str, head: list[str], tail: list[str]) -> Verdict:
        """The verdict on a command that runs ``text``: refused with its first refused command, or run
        with its downloads rewritten, as the words ``head``, the new text, ``tail``."""
        if self.depth >= MAX_DEPTH:
            return Verdict()
        inner = Judge(self.index, self.cwd, self.fetched, self.depth + 1).text(text)
        if inner.refusals:
            command, reason = inner.refusals[0]
            return Verdict(refusal=f"{label} runs `{command}`: {reason}")
        if inner.text == text:
            return Verdict()
        return Verdict(replacement=shlex.join([*head, inner.text, *tail]), downloads=inner.downloads)

    def missing(self, name: str) -> str:
        return f"{name} is not in {self.path(os.path.dirname(name) or '.')}: {NOT_HERE}"


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ShellCommands:
    """Judges each shell text a notebook runs, reports refusals and records answered downloads."""

    def __init__(self, index: DataIndex, log: EventLog) -> None:
        self.index = index
        self.log = log

    def allowed(self, text: str, via: str, cwd: Path) -> str | None:
        """The text to run instead of ``text`` (itself when nothing changes), or None when it is refused."""
        judgement = Judge(self.index, cwd).text(text)
        if judgement.refusals:
            self.refuse(text, via, judgement)
            return None
        for download in judgement.downloads:
            download.served.file()
            download.served.record(self.log, command=download.command[:500], path=download.target)
        return judgement.text

    def refuse(self, text: str, via: str, judgement: Judgement) -> None:
        for command, reason in judgement.refusals:
            print(f"xaigrader: refused `{_short(command)}`: {reason}")
        if judgement.commands > 1:
            print("xaigrader: so nothing of it ran (the notebook goes on)")
        self.log.record(
            "shim",
            shim="shell",
            call=via,
            command=text[:500],
            note="; ".join(f"`{_short(command)}`: {reason}" for command, reason in judgement.refusals),
            refused=True,
        )


def _caller_namespace(shell) -> dict[str, object]:
    """The names a ``!`` line may use: the user's, and the locals of the notebook code that ran it (the
    first frame outside this package, whatever wrappers of ``shell.system`` stand between)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE):
        frame = frame.f_back
    return {**shell.user_ns, **(frame.f_locals if frame is not None else {})}


def _expanded(shell, command: str) -> str:
    """The line as IPython runs it: ``{name}`` and ``$name`` replaced (as ``shell.var_expand`` does)."""
    from IPython.utils.text import DollarFormatter

    try:
        return DollarFormatter().vformat(command, [], _caller_namespace(shell))
    except Exception:
        return command


def _unexpanded(text: str) -> str:
    """Text that IPython's expansion of a ``!`` line leaves as it is."""
    return text.replace("$", "$$").replace("{", "{{").replace("}", "}}")


def _patch_shell_system(shell, commands: ShellCommands) -> None:
    original = shell.system

    def system(command):
        if not isinstance(command, str) or PIP_COMMAND.match(command):
            return original(command)
        expanded = _expanded(shell, command)
        text = commands.allowed(expanded, "!", Path.cwd())
        if text is None:
            shell.user_ns["_exit_code"] = 1
            return None
        return original(command if text == expanded else _unexpanded(text))

    shell.system = system


def _script_program(line: str) -> str:
    """The program of a ``%%script`` line (its options and their values skipped)."""
    words = iter(_shell_words(line))
    for word in words:
        if word in ("--out", "--err", "--proc"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def _patch_cell_magics(shell, commands: ShellCommands) -> None:
    """``%%bash``, ``%%sh`` and ``%%script bash`` cells are judged as one text. The magics table holds
    stand-ins that look the magic up by name when called (which would find the wrapper again): the
    wrapper calls the real magic, which ``find`` loads."""
    manager = shell.magics_manager

    def judged(name: str, original: Callable) -> Callable:
        def magic(line: str, cell: str):
            program = _script_program(line) if name == "script" else name
            if _program(program) not in SHELLS:
                return original(line, cell)
            text = commands.allowed(cell, f"%%{name}", Path.cwd())
            return None if text is None else original(line, text)

        return magic

    for name in ("bash", "sh", "script"):
        original = manager.find("cell", name)
        if original is not None:
            shell.register_magic_function(judged(name, original), "cell", name)


def _patch_os_system(commands: ShellCommands) -> None:
    original = os.system

    def system(command):
        if not isinstance(command, str):
            return original(command)
        text = commands.allowed(command, "os.system", Path.cwd())
        return REFUSED_STATUS if text is None else original(text)

    os.system = system


def _popen_text(args: object, shell: bool) -> str | None:
    """A ``Popen`` command as shell text: its string under ``shell=True``, its quoted words otherwise."""
    if shell:
        return args if isinstance(args, str) else None
    if isinstance(args, (list, tuple)) and args and all(isinstance(arg, (str, os.PathLike)) for arg in args):
        words = [os.fspath(arg) for arg in args]
        return shlex.join(words) if all(isinstance(word, str) for word in words) else None
    return None


def _patch_popen(commands: ShellCommands) -> None:
    """``subprocess.run``, ``call``, ``check_output``, ... all start a ``Popen``: a refused command starts
    one that exits 1 at once, an answered download one that copies the file."""
    original = subprocess.Popen.__init__

    def init(self, args, *rest, **kwargs):
        text = _popen_text(args, bool(kwargs.get("shell"))) if not rest else None
        if text is not None:
            judged = commands.allowed(text, "subprocess", Path(os.fsdecode(kwargs.get("cwd") or os.getcwd())))
            if judged != text:
                args = ["/bin/sh", "-c", "exit 1" if judged is None else judged]
                kwargs = {**kwargs, "shell": False, "executable": None}
        original(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = init


def install(shell, index: DataIndex, log: EventLog) -> None:
    commands = ShellCommands(index, log)
    _patch_shell_system(shell, commands)
    _patch_cell_magics(shell, commands)
    _patch_os_system(commands)
    _patch_popen(commands)
