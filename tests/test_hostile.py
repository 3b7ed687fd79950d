"""Hostile files and flags: every one ends in exit status 2 and one line on stderr, never a traceback.

The corpus lives in ``tests/hostile/corpus.py``; each case here is one file a viewer, a colleague or a
careless script could hand us.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import wiseft_reference as ref
from hostile.cli_cases import CLI_CASES, make_files
from hostile.corpus import CHECKPOINT_CASES, CSV_CASES, IMAGE_CASES, MEMORY_CASES, PASSWD

from wiseft_core.cli.dispatch import main
from wiseft_core.data.datasets import load_dataset
from wiseft_core.errors import WiseftError
from wiseft_core.files import checkpoints, reader

ROOT = Path(__file__).resolve().parents[1]


def one_line_error(capsys, code: int) -> str:
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "Traceback" not in captured.err
    assert captured.err.count("\n") == 1 and captured.err.startswith("wiseft"), captured.err
    return captured.err


def run_inspect(zeroshot: Path, finetuned: Path) -> int:
    return main(["inspect", "--zeroshot", str(zeroshot), "--finetuned", str(finetuned)])


@pytest.mark.parametrize("case", CHECKPOINT_CASES, ids=lambda c: c.name)
def test_hostile_checkpoints_give_one_line_and_exit_2(case, tmp_path, tiny_pair_files, capsys):
    zs, ft, _ = tiny_pair_files
    path = case.make(tmp_path, zs)
    code = run_inspect(path, ft) if case.kind == "zeroshot" else run_inspect(zs, path)
    err = one_line_error(capsys, code)
    assert re.search(case.expect, err), err
    if case.forbid:
        assert not re.search(case.forbid, err), err
    assert not (tmp_path / "PWNED").exists()  # no pickle payload ran


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: c.name)
def test_hostile_images_give_one_line_and_exit_2(case, tmp_path, tiny_pair_files, capsys):
    zs, ft, _ = tiny_pair_files
    path = case.make(tmp_path, zs)
    code = main(["predict", "--zeroshot", str(zs), "--finetuned", str(ft), str(path)])
    assert re.search(case.expect, one_line_error(capsys, code))


@pytest.mark.parametrize("case", CSV_CASES, ids=lambda c: c.name)
def test_hostile_csvs_give_one_clear_error(case, tmp_path, tiny_pair_files):
    path = case.make(tmp_path, tiny_pair_files[0])
    with pytest.raises(WiseftError) as info:
        load_dataset(f"csv={path}")
    message = str(info.value)
    assert "\n" not in message and re.search(case.expect, message), message
    if case.forbid:
        assert not re.search(case.forbid, message), message


def test_a_csv_label_of_a_hundred_million_is_refused_without_building_names(tmp_path, tiny_pair_files):
    case = next(c for c in CSV_CASES if c.name == "csv_huge_label")
    path = case.make(tmp_path, tiny_pair_files[0])
    with pytest.raises(WiseftError, match="100000000"):
        load_dataset(f"csv={path}")


def test_the_real_etc_passwd_is_not_a_checkpoint(tiny_pair_files, capsys):
    zs, _, _ = tiny_pair_files
    passwd = Path("/etc/passwd")
    if not passwd.is_file():
        pytest.skip("no /etc/passwd here")
    err = one_line_error(capsys, run_inspect(zs, passwd))
    assert "not a checkpoint" in err and "trust-pickle" not in err
    assert PASSWD[:4] not in err.encode()  # no bytes of the file leak into the message


def test_metadata_is_checked_before_any_model_is_built(tmp_path, tiny_pair_files, monkeypatch):
    built = []
    original = checkpoints.build_classifier

    def spy(meta, device=None):
        built.append(str(device))
        return original(meta, device)

    monkeypatch.setattr(checkpoints, "build_classifier", spy)
    monkeypatch.setattr(reader, "build_classifier", spy)
    zs, ft, _ = tiny_pair_files
    for case in CHECKPOINT_CASES:
        if case.name in MEMORY_CASES:
            with pytest.raises(WiseftError):
                reader.load_classifier(case.make(tmp_path, zs))
    assert set(built) <= {"meta"}  # at most shape checks on the meta device, never real weights


# Runs `wiseft inspect --zeroshot <each path> --finetuned <ft>` in one process; prints exit codes and VmPeak (bytes).
_INSPECT_ALL = ("import sys; from wiseft_core.cli.dispatch import main; "
                "codes = [main(['inspect', '--zeroshot', p, '--finetuned', sys.argv[1]]) for p in sys.argv[2:]]; "
                "peak = [l for l in open('/proc/self/status') if l.startswith('VmPeak')][0].split()[1]; "
                "print(codes, int(peak) * 1024)")
_QUIET_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


def _inspect_all(ft: Path, paths: list[Path], limit: int | None = None) -> subprocess.CompletedProcess:
    def cap():
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, **_QUIET_THREADS}
    return subprocess.run([sys.executable, "-c", _INSPECT_ALL, str(ft), *map(str, paths)], capture_output=True,
                          text=True, cwd=ROOT, preexec_fn=cap, timeout=300, env=env)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_small_files_declaring_huge_models_stay_within_a_gigabyte(tmp_path, tiny_pair_files):
    """Under an address-space limit of (a valid pair's peak + 1 GiB); the old loader allocated 1-90 GB here."""
    zs, ft, _ = tiny_pair_files
    cases = [c for c in CHECKPOINT_CASES if c.name in MEMORY_CASES]
    paths = [case.make(tmp_path, zs) for case in cases]
    assert all(path.stat().st_size < 10_000 for path in paths)
    baseline = _inspect_all(ft, [zs])
    codes, peak = baseline.stdout.splitlines()[-1].split("] ")
    assert codes == "[0", baseline.stderr[-500:]
    result = _inspect_all(ft, paths, limit=int(peak) + (1 << 30))
    assert result.stdout.splitlines()[-1].startswith(str([2] * len(cases))), result.stderr[-800:]
    lines = result.stderr.splitlines()
    assert len(lines) == len(cases)
    for case, line in zip(cases, lines):
        assert re.search(case.expect, line), line


# ---------------------------------------------------------------------------- flags

@pytest.mark.parametrize("flags, expect", [
    (["--device", "bogus"], r"unknown device 'bogus'"),
    (["--alpha", "1e308"], r"alpha must be finite and within \[-10, 10\], got 1e308"),
    (["--alpha", "nan"], r"alpha must be finite"),
    (["--top-k", "0"], r"expected a number >= 1"),
    (["--block-alpha", "head=inf"], r"--block-alpha 'head=inf': alpha must be finite"),
])
def test_bad_predict_flags_give_one_line(flags, expect, tiny_pair_files, tmp_path, capsys):
    zs, ft, _ = tiny_pair_files
    code = main(["predict", "--zeroshot", str(zs), "--finetuned", str(ft), *flags, str(tmp_path / "x.png")])
    assert re.search(expect, one_line_error(capsys, code))


def test_out_pointing_at_an_existing_folder_is_a_clear_error(tiny_pair_files, tmp_path, capsys):
    zs, ft, _ = tiny_pair_files
    (tmp_path / "merged").mkdir()
    code = main(["interpolate", "--zeroshot", str(zs), "--finetuned", str(ft), "--alpha", "0.5",
                 "--out", str(tmp_path / "merged")])
    assert "is a folder; give a file name" in one_line_error(capsys, code)


def test_negative_workers_are_refused_before_any_work(tiny_pair_files, tmp_path, capsys):
    zs, _, _ = tiny_pair_files
    code = main(["finetune", "--zeroshot", str(zs), "--train", "demo:photo", "--out", str(tmp_path / "run"),
                 "--workers", "-1"])
    assert "--workers must be 0" in one_line_error(capsys, code)
    assert not (tmp_path / "run").exists()


def test_a_reader_that_leaves_early_is_not_an_error(tiny_pair_files):
    """`wiseft inspect ... | head -1`: stdout closes under us; no traceback, no message."""
    zs, ft, _ = tiny_pair_files
    proc = subprocess.Popen([sys.executable, "-m", "wiseft_core", "inspect", "--zeroshot", str(zs),
                             "--finetuned", str(ft), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT)
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""


def test_a_broken_pipe_after_the_first_line_is_also_quiet(tiny_pair_files):
    zs, ft, _ = tiny_pair_files
    result = subprocess.run(f"{sys.executable} -m wiseft_core inspect --json --zeroshot {zs} --finetuned {ft} "
                            "| head -c 1", shell=True, capture_output=True, text=True, cwd=ROOT)
    assert result.stdout == "{" and result.stderr == ""


def test_every_case_is_small():
    """The corpus is generated, a few KB a file; nothing big is committed or written."""
    assert len(CHECKPOINT_CASES) + len(IMAGE_CASES) + len(CSV_CASES) >= 30
    assert json.dumps([c.name for c in CHECKPOINT_CASES])  # names are plain identifiers for test ids


# ---------------------------------------------------------------------------- every subcommand

@pytest.fixture(scope="module")
def wiseft_pickle(tmp_path_factory) -> Path:
    """A reference-style wise-ft zero-shot pickle with a 5-class head: its class names come from --classnames."""
    folder = tmp_path_factory.mktemp("wiseft_pickle")
    return ref.save_raw_pickle(ref.zeroshot_classifier(ref.TINY_VIT, 5, seed=0), folder / "zeroshot.pt")


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.name)
def test_every_subcommand_answers_hostile_input_in_one_line(case, tiny_pair_files, wiseft_pickle, tmp_path,
                                                            capsys):
    zs, ft, _ = tiny_pair_files
    files = {**make_files(tmp_path), "zs": str(zs), "ft": str(ft), "wzs": str(wiseft_pickle)}
    code = main([part.format(**files) for part in case.argv])
    captured = capsys.readouterr()
    assert code == case.code, captured.err
    assert "Traceback" not in captured.err
    if case.code == 0:
        return
    assert captured.err.count("\n") == 1 and captured.err.startswith("wiseft"), captured.err
    if case.expect:
        assert re.search(case.expect, captured.err), captured.err


def test_the_cli_table_covers_every_subcommand_with_150_cases():
    from wiseft_core.cli.dispatch import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    covered = {case.argv[0] for case in CLI_CASES if case.argv}
    assert commands <= covered, commands - covered
    assert len(CLI_CASES) >= 150
