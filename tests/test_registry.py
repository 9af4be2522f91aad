"""``torchgen registry``: the generated Registry, imported and exercised, and the command's bad
input. Nothing here imports torch (registry.py needs only the standard library)."""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys
import textwrap
from pathlib import Path
from types import MappingProxyType, ModuleType

import pytest

from conftest import assert_lint_clean, import_file, run_cli, run_torchgen, tree_snapshot
from torchscaffold.generate.registry import plan_registry

_unique = itertools.count()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("registry")
    plan_registry(out).apply()
    return out


@pytest.fixture
def reg(generated: Path) -> ModuleType:
    """A fresh import of the generated registry.py (its own MODELS, DATASETS, INITIALIZERS)."""
    return import_file(generated / "registry.py")


@pytest.fixture
def R(reg: ModuleType):
    return reg.Registry("THINGS")


def _module(tmp_path: Path, source: str) -> str:
    """Write a uniquely named importable module into tmp_path (on sys.path); return its name."""
    name = f"tg_registry_case_{next(_unique)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return name


# ------------------------------------------------------------------------------------ register
def test_every_registration_form_returns_the_object_under_the_right_name(R) -> None:
    @R.register
    class Plain:
        pass

    @R.register()
    class Called:
        pass

    @R.register("alias")
    class Aliased:
        pass

    @R.register(force=True)
    class Forced:
        pass

    def function() -> int:
        return 1

    def other() -> int:
        return 2

    assert R.register(function) is function
    assert R.register("named", other) is other
    assert R.register(None, len) is len  # no name: the object's own
    for cls in (Plain, Called, Aliased, Forced):
        assert isinstance(cls, type)  # a decorator that returned None would rebind it to None
    assert R.list() == ["Called", "Forced", "Plain", "alias", "function", "len", "named"]
    assert R.get("Plain") is Plain and R.get("alias") is Aliased and R["named"] is other


def test_registering_the_same_object_again_is_a_no_op(R) -> None:
    class Net:
        pass

    assert R.register(Net) is Net
    assert R.register(Net) is Net
    assert R.register("net", Net) is Net and R.register("net", Net) is Net  # aliases are fine
    assert R.list() == ["Net", "net"]


def test_a_different_object_under_a_taken_name_raises_naming_the_first(R, reg) -> None:
    class First:
        pass

    class Second:
        pass

    R.register("thing", First)
    with pytest.raises(reg.AlreadyRegisteredError) as excinfo:
        R.register("thing", Second)
    message = str(excinfo.value)
    assert "THINGS already has 'thing'" in message
    assert "First" in message and __file__ in message  # where the first one came from
    assert "Second" in message and "force=True" in message
    with pytest.raises(reg.AlreadyRegisteredError):

        @R.register("thing")
        class Third:
            pass

    assert R.get("thing") is First
    assert R.register("thing", Second, force=True) is Second
    assert R.get("thing") is Second


def test_the_same_definition_loaded_again_replaces_the_old_one(tmp_path: Path, reg) -> None:
    """A reload, or the same file imported under a second name (a script that is also imported),
    is not a conflict; the same class name from another file is."""
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        f"from {reg.__name__} import MODELS\n\n\n@MODELS.register\nclass Net:\n    pass\n"
    )
    first = import_file(plugin)
    second = import_file(plugin)
    assert first.Net is not second.Net
    assert reg.MODELS.get("Net") is second.Net
    old = second.Net
    second.__spec__.loader.exec_module(second)  # what importlib.reload does
    assert second.Net is not old and reg.MODELS.get("Net") is second.Net

    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_text(plugin.read_text())
    with pytest.raises(reg.AlreadyRegisteredError, match="plugin.py"):
        import_file(elsewhere)


@pytest.mark.parametrize("name", ["", "a.b", ".", "pkg.Model"])
def test_names_must_be_non_empty_and_without_dots(R, name: str) -> None:
    with pytest.raises(ValueError, match="registry name"):
        R.register(name, len)
    with pytest.raises(ValueError, match="registry name"):
        R.register(name)(len)
    assert len(R) == 0


def test_objects_without_a_usable_name_or_not_callable_are_refused(R) -> None:
    with pytest.raises(TypeError, match="register\\(name, obj\\)"):
        R.register(lambda: 0)
    with pytest.raises(TypeError, match="classes and functions"):
        R.register("answer", 42)
    with pytest.raises(TypeError, match="one object"):
        R.register(len, len)
    assert R.register("constant", lambda: 0)() == 0  # a lambda is fine with an explicit name


# ---------------------------------------------------------------------------------------- get
def test_an_unknown_name_raises_a_readable_key_error(R, reg) -> None:
    @R.register
    class ResNet:
        pass

    @R.register
    class VGG:
        pass

    with pytest.raises(KeyError) as excinfo:
        R.get("resnet")
    assert isinstance(excinfo.value, reg.NotRegisteredError)
    message = str(excinfo.value)
    assert message.startswith("'resnet' is not registered in THINGS.\n")  # not a quoted repr
    assert "Did you mean: ResNet?" in message
    assert "Registered names: ResNet, VGG." in message
    assert "was that module imported?" in message
    with pytest.raises(reg.NotRegisteredError, match="Registered names: \\(none\\)"):
        reg.Registry("EMPTY")["anything"]
    with pytest.raises(KeyError):
        R.get(["unhashable"])


def test_container_protocol_and_list_pattern(R) -> None:
    for name in ("resnet18", "resnet50", "vgg11"):
        R.register(name, len)
    assert len(R) == 3
    assert list(R) == ["resnet18", "resnet50", "vgg11"]
    assert "vgg11" in R and "vgg16" not in R and 3 not in R
    assert R.list("resnet*") == ["resnet18", "resnet50"]
    assert R.list("*1?") == ["resnet18", "vgg11"]
    assert R.list("ResNet*") == []  # case-sensitive everywhere, like the names
    assert "THINGS" in repr(R) and "vgg11" in repr(R)


# ---------------------------------------------------------------------------------- locations
def test_locations_are_imported_on_the_first_lookup(tmp_path: Path, monkeypatch, reg) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    module = _module(
        tmp_path,
        f"""
        from {reg.__name__} import MODELS

        @MODELS.register
        class Lazy:
            pass
        """,
    )
    models = reg.Registry("MODELS", locations=[module])
    reg.MODELS = models  # what the location module registers into
    assert module not in sys.modules  # creating the registry imports nothing
    assert models.get("Lazy").__name__ == "Lazy"
    assert module in sys.modules
    with pytest.raises(KeyError) as excinfo:
        models.get("Eager")
    assert f"Modules expected to register it (imported on the first lookup): {module}." in str(
        excinfo.value
    )


def test_an_import_error_in_a_location_propagates_as_it_is(tmp_path: Path, monkeypatch, reg):
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = _module(tmp_path, "import tg_a_dependency_that_is_missing\n")
    registry = reg.Registry("MODELS", locations=[broken])
    for _ in range(2):  # not swallowed, and tried again on the next lookup
        with pytest.raises(ModuleNotFoundError) as excinfo:
            registry.get("Anything")
        assert excinfo.value.name == "tg_a_dependency_that_is_missing"
        assert not isinstance(excinfo.value, KeyError)
    with pytest.raises(ModuleNotFoundError):
        "x" in reg.Registry("MODELS", locations=["tg_no_such_location_module"])  # noqa: B015


def test_the_project_registries(reg) -> None:
    assert [r.name for r in (reg.MODELS, reg.DATASETS, reg.INITIALIZERS)] == [
        "MODELS",
        "DATASETS",
        "INITIALIZERS",
    ]
    assert reg.MODELS.locations == () and reg.DATASETS.locations == ()
    # Imported as a top-level module, initializers.py is its top-level sibling.
    assert reg.INITIALIZERS.locations == ("initializers",)


# -------------------------------------------------------------------------------------- build
def test_build_with_and_without_extra_kwargs_leaves_the_cfg_unchanged(R) -> None:
    @R.register
    class Net:
        def __init__(self, width: int, depth: int = 1, layers: list | None = None) -> None:
            self.width, self.depth, self.layers = width, depth, layers

    cfg = {"type": "Net", "width": 4, "layers": [1, 2]}
    before = copy.deepcopy(cfg)
    net = R.build(cfg)
    assert (net.width, net.depth, net.layers) == (4, 1, [1, 2])
    net = R.build(cfg, depth=3, width=8)  # keyword arguments add to and override the cfg
    assert (net.width, net.depth) == (8, 3)
    assert cfg == before
    assert R.build(MappingProxyType({"type": "Net", "width": 2})).width == 2
    assert R.build({"type": Net, "width": 5}).width == 5  # a callable type needs no lookup
    assert R.build({"type": "Net"}, width=6).width == 6


def test_build_bad_configs(R, reg) -> None:
    R.register("net", dict)
    with pytest.raises(ValueError, match="no 'type' key"):
        R.build({"width": 4})
    with pytest.raises(TypeError, match="mapping"):
        R.build(["net"])
    with pytest.raises(reg.NotRegisteredError, match="Did you mean: net"):
        R.build({"type": "Net"})
    with pytest.raises(TypeError, match="name or a callable"):
        R.build({"type": 3})


def test_constructor_errors_keep_their_type_and_traceback(R) -> None:
    @R.register
    class Boom:
        def __init__(self, size: int) -> None:
            raise ZeroDivisionError(f"boom {size}")

    with pytest.raises(ZeroDivisionError, match="boom 3") as excinfo:
        R.build({"type": "Boom", "size": 3})
    assert excinfo.traceback[-1].name == "__init__"  # raised where it happened
    assert excinfo.value.__cause__ is None and excinfo.value.__context__ is None
    with pytest.raises(TypeError, match="sise"):  # a wrong argument is the call's own TypeError
        R.build({"type": "Boom", "sise": 3})


# ------------------------------------------------------------------------- the generated files
def test_generated_files_are_lint_clean_and_deterministic(generated: Path) -> None:
    assert_lint_clean(generated / "registry.py", generated / "initializers.py")
    for name in ("registry.py", "initializers.py"):  # black leaves comments and docstrings
        long = [line for line in (generated / name).read_text().splitlines() if len(line) > 88]
        assert not long, (name, long)
    again = plan_registry(generated)
    assert [f.content for f in again.files] == [
        (generated / name).read_text() for name in ("registry.py", "initializers.py")
    ]
    assert {status for status, _ in again.statuses()} == {"identical"}
    first_line = (generated / "registry.py").read_text().splitlines()[0]
    assert first_line.startswith("# Generated by torchgen ") and first_line.endswith(
        ": torchgen registry"
    )


def test_python_O_does_not_weaken_the_duplicate_check(generated: Path, tmp_path: Path) -> None:
    script = tmp_path / "duplicate.py"
    script.write_text(textwrap.dedent(f"""
            import sys

            sys.path.insert(0, {str(generated)!r})
            from registry import MODELS, AlreadyRegisteredError

            if __debug__:
                sys.exit("not running under python -O")

            def a():
                pass

            def b():
                pass

            MODELS.register("model", a)
            try:
                MODELS.register("model", b)
            except AlreadyRegisteredError as exc:
                print("refused:", exc)
            else:
                sys.exit("a duplicate was accepted under -O")
            """))
    result = subprocess.run(
        [sys.executable, "-O", str(script)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "refused: MODELS already has 'model'" in result.stdout


def test_registry_py_runs_as_a_script(generated: Path) -> None:
    result = subprocess.run(
        [sys.executable, "registry.py"],
        check=False,
        cwd=generated,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "build: 6.0" in result.stdout and "Did you mean: Scale?" in result.stdout


# ---------------------------------------------------------------------------------------- CLI
def test_cli_writes_both_files_then_reports_identical(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    result = run_cli("registry", "-o", str(out), cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["create", "pkg/registry.py", "create", "pkg/initializers.py"]
    snapshot = tree_snapshot(tmp_path)
    result = run_cli("registry", "-o", str(out), cwd=tmp_path)
    assert result.exit_code == 0
    assert result.stdout.split()[::2] == ["identical", "identical"]
    assert tree_snapshot(tmp_path) == snapshot


def test_cli_dry_run_and_stdout_write_nothing(tmp_path: Path) -> None:
    result = run_cli("registry", "-o", "pkg", "--dry-run", cwd=tmp_path)
    assert result.exit_code == 0
    assert "create" in result.stdout and "pkg/initializers.py" in result.stdout
    result = run_cli("registry", "-o", "pkg", "--stdout", cwd=tmp_path)
    assert result.exit_code == 0
    assert "# ---- registry.py" in result.stdout and "class Registry:" in result.stdout
    assert "# ---- initializers.py" in result.stdout
    assert tree_snapshot(tmp_path) == {}


def test_cli_refuses_to_overwrite_different_files(tmp_path: Path) -> None:
    (tmp_path / "registry.py").write_text("MODELS = {}\n")
    snapshot = tree_snapshot(tmp_path)
    result = run_torchgen("registry", "-o", str(tmp_path))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--force" in lines[0]
    assert "registry.py" in lines[0]
    assert tree_snapshot(tmp_path) == snapshot  # not even initializers.py was written

    result = run_cli("registry", "-o", str(tmp_path), "--dry-run", cwd=tmp_path)
    assert "conflict" in result.stdout and tree_snapshot(tmp_path) == snapshot

    result = run_cli("registry", "-o", str(tmp_path), "--force", cwd=tmp_path)
    assert result.exit_code == 0
    assert "class Registry:" in (tmp_path / "registry.py").read_text()


def test_cli_unknown_scheme_gets_a_did_you_mean(tmp_path: Path) -> None:
    result = run_cli("registry", "-o", "pkg", "--init", "kaimng", cwd=tmp_path)
    assert result.exit_code == 1
    error = result.stderr.strip()
    assert error.startswith("Error: unknown init scheme 'kaimng' (did you mean 'kaiming'?)")
    assert "trunc_normal" in error and len(error.splitlines()) == 1
    assert tree_snapshot(tmp_path) == {}


def test_cli_output_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file.py").write_text("")
    result = run_cli("registry", "-o", "file.py", cwd=tmp_path)
    assert result.exit_code == 1 and "is a file" in result.stderr


def test_cli_init_sets_the_default_scheme(tmp_path: Path) -> None:
    result = run_cli("registry", "-o", ".", "--init", "trunc_normal", cwd=tmp_path)
    assert result.exit_code == 0
    source = (tmp_path / "initializers.py").read_text()
    assert 'scheme: str = "trunc_normal"' in source
    assert source.splitlines()[0].endswith(": torchgen registry --init trunc_normal")


def test_a_projects_lean_registry(tmp_path: Path) -> None:
    """Inside a project (``torchgen new``) registry.py is the lean one its code uses: the three
    decorator forms, build, list and ``in``; a taken name refused; the same definition loaded
    again (the same file under another module name, as ``python -m pkg.models.net`` does)
    replacing the older; an unknown name answered in one line with the close matches."""
    plan_registry(tmp_path / "pkg", subpackages=True).apply()
    source = (tmp_path / "pkg" / "registry.py").read_text()
    assert "force" not in source and len(source.splitlines()) < 150
    lean = import_file(tmp_path / "pkg" / "registry.py")
    things = lean.Registry("THINGS")

    @things.register
    class Scale:
        def __init__(self, factor: float = 2.0) -> None:
            self.factor = factor

    def double(x: float) -> float:
        return 2 * x

    assert things.register()(double) is double and things.register("twice")(double) is double
    assert things.list() == ["Scale", "double", "twice"] and "Scale" in things
    assert things.build({"type": "Scale"}, factor=3.0).factor == 3.0
    with pytest.raises(KeyError) as missing:
        things.get("scale")
    assert str(missing.value) == (
        "'scale' is not registered in THINGS. Did you mean: Scale? "
        "Registered names: Scale, double, twice."
    )
    with pytest.raises(ValueError, match="THINGS already has 'double' from"):
        things.register("double")(Scale)
    helper = tmp_path / "helper.py"
    helper.write_text("def helper(x):\n    return x\n")
    first, again = (import_file(helper).helper for _ in range(2))
    assert first.__module__ != again.__module__
    things.register(first)
    assert things.register(again) is again and things.get("helper") is again
