"""black in a forked helper (``torchscaffold.formatter``): the same output as in process, and
every failure of the helper leaves the formatting to the process. Each case runs in a fresh
interpreter: a test worker has threads, and the helper is only forked without them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import run_python

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork: black runs in process")

SOURCE = "def f( a ,b ):\n  return ( a+b )\n"


def test_the_helper_formats_as_black_does_in_process():
    out = run_python(
        "from torchscaffold import formatter",
        "formatter.start()",
        "assert formatter._helper is not None",
        f"there = formatter.format_elsewhere({SOURCE!r})",
        f"here = formatter.format_here({SOURCE!r})",
        "formatter.stop()",
        "print(there == here, repr(there))",
    )
    assert out.startswith("True 'def f(a, b):\\n    return a + b\\n'")


def test_a_dead_helper_leaves_the_formatting_to_the_process():
    out = run_python(
        "import os, signal",
        "from torchscaffold import formatter",
        "formatter.start()",
        "os.kill(formatter._helper.pid, signal.SIGKILL)",
        f"print(formatter.format_elsewhere({SOURCE!r}), formatter._helper)",
    )
    assert out == "None None\n"


def test_code_black_cannot_parse_is_its_error_from_the_helper():
    out = run_python(
        "from torchscaffold import formatter",
        "formatter.start()",
        "try:",
        "    formatter.format_elsewhere('def (:\\n')",
        "except formatter.FormatError as exc:",
        "    print('FormatError', 'cannot parse' in str(exc))",
        "print(formatter._helper is not None)",  # and it goes on serving
        "formatter.stop()",
    )
    assert out == "FormatError True\nTrue\n"


def test_no_helper_where_the_process_has_threads_or_it_is_turned_off():
    out = run_python(
        "import threading, time",
        "from torchscaffold import formatter",
        "threading.Thread(target=time.sleep, args=(1,), daemon=True).start()",
        "formatter.start()",
        "print(formatter._helper)",
    )
    assert out == "None\n"
    turned_off = run_python(
        "from torchscaffold import formatter",
        "formatter.start()",
        "print(formatter._helper)",
        env={"TORCHGEN_NO_FORK": "1"},
    )
    assert turned_off == "None\n"


@pytest.mark.parametrize("args", [["model", "Net", "--preset", "resnet18"], ["new", "proj"]])
def test_the_console_command_writes_what_it_writes_without_the_helper(tmp_path, args):
    """The real entry point, with and without the helper (and no cache: black formats), writes
    the same bytes, and leaves no process behind holding its output open."""
    trees = {}
    for label, env in (("forked", {}), ("in_process", {"TORCHGEN_NO_FORK": "1"})):
        cwd = tmp_path / label
        cwd.mkdir()
        done = subprocess.run(
            [sys.executable, "-m", "torchscaffold", *args],
            check=False,
            capture_output=True,  # would wait for a helper still holding stdout
            text=True,
            timeout=120,
            cwd=cwd,
            env={**os.environ, "XDG_CACHE_HOME": str(cwd / ".cache"), **env},
        )
        assert done.returncode == 0, done.stderr
        trees[label] = {
            p.relative_to(cwd): p.read_bytes()
            for p in sorted(cwd.rglob("*"))
            if p.is_file() and ".cache" not in p.parts
        }
    assert trees["forked"] == trees["in_process"]
    assert len(trees["forked"]) >= 1
