"""Hostile command lines for every ``wiseft`` subcommand: each ends in one line and status 2 (or a clean 0).

A case is an argv whose ``{name}`` placeholders name files that ``make_files`` writes (tiny: a few
bytes each) next to the valid tiny pair ``{zs}`` / ``{ft}`` and ``{wzs}``, a reference-style wise-ft
pickle whose class names come from ``--classnames``. Every case fails before any real work
(no training, no sweep), so the whole table runs in seconds.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class CliCase:
    name: str
    argv: tuple[str, ...]
    code: int = 2
    expect: str | None = None  # regex the one stderr line must match


def make_files(folder: Path) -> dict[str, str]:
    """The small bad (and good) files the cases name, by placeholder."""
    files = {
        "latin1": "caf\xe9\nna\xefve\n".encode("latin-1"),
        "empty": b"",
        "nul": b"cat\n\0\0\0\n",
        "text": b"These are my notes, not a model.\n",
        "tpl_open_brace": b"a photo of a {}.\na {\n",
        "tpl_index": b"a photo of {0} and {1}.\n",
        "tpl_named": b"a photo of a {name}.\n",
        "tpl_no_slot": b"a photo.\n",
        "tpl_close_brace": b"a photo of a {}}.\n",
        "tpl_attr": b"a photo of a {.__class__}.\n",
        "tpl_spec": b"a photo of a {:>99999999}.\n",
        "names_blank_lines": b"\n\n\n",
        "names_dupes": b"cat\ncat\n",
        "csv_bad_header": b"alpha;top1\n1;2\n",
        "csv_latin1": "alpha,top1\ncaf\xe9,1\n".encode("latin-1"),
        "png": _png(),
        "truncated_png": _png()[:40],
    }
    paths = {}
    for name, data in files.items():
        path = folder / f"{name}.txt" if name not in ("png", "truncated_png") else folder / f"{name}.png"
        path.write_bytes(data)
        paths[name] = str(path)
    (folder / "adir").mkdir(exist_ok=True)
    (folder / "adir" / "inside.txt").write_text("x")
    paths["dir"] = str(folder / "adir")
    paths["missing"] = str(folder / "missing.safetensors")
    paths["under_file"] = str(folder / "text.txt" / "out.safetensors")
    paths["tmp"] = str(folder)
    return paths


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


# Commands with progress bars: --quiet keeps their stderr to errors.
QUIET = ("sweep", "flips", "landscape", "finetune", "soup")


def _case(name: str, *argv: str, code: int = 2, expect: str | None = None) -> CliCase:
    quiet = ("--quiet",) if argv and argv[0] in QUIET and "--help" not in argv and "--quiet" not in argv else ()
    return CliCase(name, tuple(argv) + quiet, code, expect)


PAIR = ("--zeroshot", "{zs}", "--finetuned", "{ft}")
BAD_CHECKPOINTS = {  # placeholder -> what the one line must say
    "missing": r"(?i)not found|no such|does not exist", "dir": r"folder|directory", "empty": r"empty|not a checkpoint",
    "latin1": r"not a checkpoint", "text": r"not a checkpoint", "png": r"not a checkpoint",
}
BAD_TEXT_FILES = {"latin1": r"UTF-8", "missing": r"(?i)not found|no such|does not exist", "dir": r"folder|directory",
                  "nul": r"NUL|nul|control|UTF-8|empty|class name"}
BAD_DATASETS = {
    "bogus_kind": "foo=bar", "folder_missing": "folder={missing}", "folder_is_file": "folder={text}",
    "csv_missing": "csv={missing}", "csv_latin1": "csv={latin1}", "demo_unknown": "demo:nope", "empty_spec": "",
    "imagenet_missing": "imagenet={missing}",
}
BAD_ALPHA_GRIDS = {"nan": "nan", "reversed": "1:0:0.1", "zero_step": "0:1:0", "words": "a,b", "huge": "1e308",
                   "empty": "", "too_many": "0:1:0.00001"}


def _checkpoint_cases() -> list[CliCase]:
    cases = []
    for bad, expect in BAD_CHECKPOINTS.items():
        zs_bad = ("--zeroshot", "{" + bad + "}", "--finetuned", "{ft}")
        ft_bad = ("--zeroshot", "{zs}", "--finetuned", "{" + bad + "}")
        cases += [
            _case(f"inspect_zeroshot_{bad}", "inspect", *zs_bad, expect=expect),
            _case(f"inspect_finetuned_{bad}", "inspect", *ft_bad, expect=expect),
            _case(f"interpolate_{bad}", "interpolate", *ft_bad, "--alpha", "0.5", "--out", "{tmp}/m.safetensors",
                  expect=expect),
            _case(f"predict_{bad}", "predict", *zs_bad, "{png}", expect=expect),
            _case(f"convert_{bad}", "convert", "{zs}", "{" + bad + "}", "--out-dir", "{tmp}/conv", expect=expect),
            _case(f"explain_{bad}", "explain", *ft_bad, "--out", "{tmp}/ex", "{png}", expect=expect),
            _case(f"flips_{bad}", "flips", *zs_bad, "--eval", "demo:sketch", "--out", "{tmp}/f.npz", expect=expect),
            _case(f"landscape_{bad}", "landscape", "--path", "p={zs},{" + bad + "}", "--eval", "demo:sketch",
                  "--out", "{tmp}/l.csv", expect=expect),
            _case(f"sweep_{bad}", "sweep", *ft_bad, "--eval", "demo:sketch", "--out", "{tmp}/s.csv", expect=expect),
            _case(f"finetune_{bad}", "finetune", "--zeroshot", "{" + bad + "}", "--train", "demo:photo",
                  "--out", "{tmp}/run_" + bad, expect=expect),
            _case(f"talk_export_{bad}", "talk", "export", *ft_bad, "--out", "{tmp}/talk", "--format", "html",
                  expect=expect),
        ]
    return cases


def _text_file_cases() -> list[CliCase]:
    cases = []
    zeroshot = ("zeroshot", "--model", "ViT-S-32", "--pretrained", "none", "--out", "{tmp}/zs_new.safetensors")
    for bad, expect in BAD_TEXT_FILES.items():
        cases += [
            _case(f"zeroshot_classnames_{bad}", *zeroshot, "--classnames", "{" + bad + "}", expect=expect),
            _case(f"zeroshot_templates_{bad}", *zeroshot, "--classnames", "{names_dupes}", "--templates",
                  "{" + bad + "}", expect=None),
            _case(f"inspect_classnames_{bad}", "inspect", "--zeroshot", "{wzs}", "--finetuned", "{wzs}",
                  "--classnames", "{" + bad + "}", expect=expect),
            _case(f"convert_classnames_{bad}", "convert", "{wzs}", "{wzs}", "--classnames", "{" + bad + "}",
                  "--out-dir", "{tmp}/conv", expect=expect),
        ]
    for tpl in ("tpl_open_brace", "tpl_index", "tpl_named", "tpl_no_slot", "tpl_close_brace", "tpl_attr",
                "tpl_spec", "empty"):
        cases.append(_case(f"zeroshot_templates_{tpl}", *zeroshot, "--classnames", "{text}", "--templates",
                           "{" + tpl + "}", expect=r"template"))
    cases += [
        _case("zeroshot_templates_unknown_set", *zeroshot, "--templates", "bogus-set"),
        _case("zeroshot_classnames_empty", *zeroshot, "--classnames", "{empty}", expect=r"class"),
        _case("zeroshot_classnames_blank_lines", *zeroshot, "--classnames", "{names_blank_lines}", expect=r"class"),
        _case("zeroshot_unknown_model", "zeroshot", "--model", "ViT-Nope", "--pretrained", "none", "--classnames",
              "{text}", "--out", "{tmp}/z.safetensors", expect="unknown open_clip model"),
        _case("zeroshot_pretrained_missing_file", "zeroshot", "--model", "ViT-S-32", "--pretrained", "{missing}",
              "--classnames", "{text}", "--out", "{tmp}/z.safetensors"),
        _case("zeroshot_device_bogus", *zeroshot, "--classnames", "{text}", "--device", "bogus",
              expect="unknown device"),
        _case("zeroshot_out_is_dir", "zeroshot", "--model", "ViT-S-32", "--pretrained", "none", "--classnames",
              "{text}", "--templates", "reference-simple", "--out", "{dir}", expect="folder"),
        _case("zeroshot_seed_word", *zeroshot, "--seed", "x"),
    ]
    return cases


def _out_cases() -> list[CliCase]:
    return [
        _case("interpolate_out_is_dir", "interpolate", *PAIR, "--alpha", "0.5", "--out", "{dir}", expect="folder"),
        _case("interpolate_out_under_a_file", "interpolate", *PAIR, "--alpha", "0.5", "--out", "{under_file}"),
        _case("interpolate_out_in_missing_folder", "interpolate", *PAIR, "--alpha", "0.5", "--out",
              "{tmp}/no/such/folder/m.safetensors", code=0),
        _case("interpolate_out_existing_file_is_replaced", "interpolate", *PAIR, "--alpha", "0.5", "--out",
              "{tmp}/text_copy.safetensors", code=0),
        _case("convert_out_dir_is_file", "convert", "{zs}", "{ft}", "--out-dir", "{text}"),
        _case("explain_out_is_file", "explain", *PAIR, "--out", "{text}", "{png}"),
        _case("flips_out_is_dir", "flips", *PAIR, "--eval", "folder={missing}", "--out", "{dir}"),
        _case("landscape_out_is_dir", "landscape", "--path", "p={zs},{ft}", "--eval", "folder={missing}",
              "--out", "{dir}"),
        _case("sweep_out_is_dir", "sweep", *PAIR, "--eval", "demo:sketch", "--quiet", "--out", "{dir}"),
        _case("finetune_out_is_file", "finetune", "--zeroshot", "{zs}", "--train", "demo:photo", "--out", "{text}"),
        _case("merge_sweeps_out_is_dir", "merge-sweeps", "--out", "{dir}", "{csv_bad_header}"),
        _case("talk_export_out_is_file", "talk", "export", "--out", "{text}", "--format", "html", *PAIR),
        _case("demo_build_out_is_file", "demo", "build", "--quick", "--out", "{text}"),
        _case("demo_seeds_out_is_file", "demo", "seeds", "--quick", "--out", "{text}"),
        _case("demo_inspect_out_is_file", "demo", "inspect", "--quick", "--no-build", "--out", "{text}"),
    ]


def _dataset_cases() -> list[CliCase]:
    cases = []
    for bad, spec in BAD_DATASETS.items():
        cases += [
            _case(f"sweep_eval_{bad}", "sweep", *PAIR, "--eval", spec, "--quiet", "--out", "{tmp}/s.csv"),
            _case(f"flips_eval_{bad}", "flips", *PAIR, "--eval", spec, "--out", "{tmp}/f.npz"),
            _case(f"landscape_eval_{bad}", "landscape", "--path", "p={zs},{ft}", "--eval", spec, "--out",
                  "{tmp}/l.csv"),
            _case(f"finetune_train_{bad}", "finetune", "--zeroshot", "{zs}", "--train", spec, "--out",
                  "{tmp}/run_" + bad),
        ]
    return cases


def _alpha_cases() -> list[CliCase]:
    cases = []
    for bad, grid in BAD_ALPHA_GRIDS.items():
        cases += [
            _case(f"sweep_alphas_{bad}", "sweep", *PAIR, "--eval", "demo:sketch", f"--alphas={grid}", "--out",
                  "{tmp}/s.csv"),
            _case(f"flips_alphas_{bad}", "flips", *PAIR, "--eval", "demo:sketch", f"--alphas={grid}", "--out",
                  "{tmp}/f.npz"),
            _case(f"landscape_alphas_{bad}", "landscape", "--path", "p={zs},{ft}", "--eval", "demo:sketch",
                  f"--alphas={grid}", "--out", "{tmp}/l.csv"),
            _case(f"explain_alphas_{bad}", "explain", *PAIR, f"--alphas={grid}", "--out", "{tmp}/ex", "{png}"),
        ]
    alpha = r"alpha must be (a number|finite)"
    for value in ("nan", "1e308", "inf", "-11", "x"):
        cases += [
            _case(f"talk_export_alpha_{value}", "talk", "export", f"--alpha={value}", "--out", "{tmp}/talk",
                  expect=alpha),
            _case(f"flips_alpha_{value}", "flips", *PAIR, "--eval", "demo:sketch", f"--alpha={value}", "--out",
                  "{tmp}/f.npz", expect=alpha),
            _case(f"interpolate_alpha_{value}", "interpolate", *PAIR, f"--alpha={value}", "--out",
                  "{tmp}/m.safetensors", expect=alpha),
        ]
    return cases


def _number_cases() -> list[CliCase]:
    finetune = ("finetune", "--zeroshot", "{zs}", "--train", "demo:photo", "--out", "{tmp}/run_numbers")
    cases = [_case(f"finetune_{flag.strip('-').replace('-', '_')}_{value}", *finetune, flag, value)
             for flag, value in [("--lr", "nan"), ("--lr", "-1"), ("--wd", "inf"), ("--epochs", "0"),
                                 ("--epochs", "-3"), ("--steps", "0"), ("--batch-size", "0"),
                                 ("--label-smoothing", "2"), ("--label-smoothing", "nan"), ("--grad-clip", "-1"),
                                 ("--warmup", "-1"), ("--keep-epochs", "-1"), ("--log-every", "0"),
                                 ("--workers", "-1"), ("--device", "bogus"), ("--seed", "x"), ("--mode", "bogus")]]
    for command, extra in [("sweep", ("--zeroshot", "{zs}", "--finetuned", "{ft}", "--out", "{tmp}/s.csv")),
                           ("flips", ("--zeroshot", "{zs}", "--finetuned", "{ft}", "--out", "{tmp}/f.npz")),
                           ("landscape", ("--path", "p={zs},{ft}", "--out", "{tmp}/l.csv"))]:
        for flag, value in [("--batch-size", "0"), ("--batch-size", "-5"), ("--device", "bogus")]:
            cases.append(_case(f"{command}_{flag.strip('-').replace('-', '_')}_{value}", command, *extra,
                               "--eval", "demo:sketch", flag, value))
    cases += [
        _case("sweep_workers_negative", "sweep", *PAIR, "--eval", "demo:sketch", "--workers", "-1", "--out",
              "{tmp}/s.csv", expect="--workers"),
        _case("flips_workers_negative", "flips", *PAIR, "--eval", "demo:sketch", "--workers", "-1", "--out",
              "{tmp}/f.npz", expect="--workers"),
        _case("sweep_cache_gb_nan", "sweep", *PAIR, "--eval", "demo:sketch", "--cache-gb", "nan", "--out",
              "{tmp}/s.csv"),
        _case("sweep_cache_gb_negative", "sweep", *PAIR, "--eval", "demo:sketch", "--cache-gb", "-1", "--out",
              "{tmp}/s.csv"),
        _case("sweep_metrics_bogus", "sweep", *PAIR, "--eval", "demo:sketch", "--metrics", "top5", "--out",
              "{tmp}/s.csv"),
        _case("sweep_ensemble_bogus", "sweep", *PAIR, "--eval", "demo:sketch", "--ensemble", "both", "--out",
              "{tmp}/s.csv"),
        _case("sweep_reference_unknown", "sweep", *PAIR, "--eval", "demo:sketch", "--reference", "nope", "--out",
              "{tmp}/s.csv"),
        _case("flips_ensemble_bogus", "flips", *PAIR, "--eval", "demo:sketch", "--ensemble", "both", "--out",
              "{tmp}/f.npz"),
        _case("explain_class_unknown", "explain", *PAIR, "--class", "unicorn", "--out", "{tmp}/ex", "{png}",
              expect="--class 'unicorn'"),
        _case("explain_class_index_out_of_range", "explain", *PAIR, "--class", "99", "--out", "{tmp}/ex", "{png}",
              expect="--class 99"),
        _case("explain_layer_bogus", "explain", *PAIR, "--layer", "nope", "--out", "{tmp}/ex", "{png}"),
        _case("explain_method_bogus", "explain", *PAIR, "--method", "magic", "--out", "{tmp}/ex", "{png}"),
        _case("landscape_path_malformed", "landscape", "--path", "nocomma", "--eval", "demo:sketch", "--out",
              "{tmp}/l.csv", expect="NAME=THETA0,THETA1"),
        _case("landscape_path_empty_name", "landscape", "--path", "={zs},{ft}", "--eval", "demo:sketch", "--out",
              "{tmp}/l.csv"),
        _case("predict_top_k_word", "predict", *PAIR, "--top-k", "x", "{png}"),
        _case("predict_ensemble_bogus", "predict", *PAIR, "--ensemble", "both", "{png}"),
        _case("predict_block_alpha_malformed", "predict", *PAIR, "--block-alpha", "head", "{png}"),
        _case("predict_block_alpha_no_match", "predict", *PAIR, "--block-alpha", "nothing*=0.5", "{png}"),
        _case("interpolate_block_alpha_nan", "interpolate", *PAIR, "--alpha", "0.5", "--block-alpha", "head=nan",
              "--out", "{tmp}/m.safetensors"),
        _case("demo_seeds_words", "demo", "seeds", "--quick", "--finetune-seeds", "a,b", "--out", "{tmp}/demo_x"),
        _case("demo_seeds_negative", "demo", "seeds", "--quick", "--pretrain-seeds", "-1", "--out",
              "{tmp}/demo_x"),
        _case("demo_seeds_empty", "demo", "seeds", "--quick", "--finetune-seeds", ",", "--out", "{tmp}/demo_x"),
        _case("demo_build_threads_zero", "demo", "build", "--quick", "--threads", "0", "--out", "{tmp}/demo_y"),
        _case("demo_build_threads_negative", "demo", "build", "--quick", "--threads", "-2", "--out",
              "{tmp}/demo_y"),
        _case("demo_inspect_size_zero", "demo", "inspect", "--quick", "--no-build", "--size", "0", "--out",
              "{tmp}/demo_z"),
        _case("demo_inspect_missing_demo", "demo", "inspect", "--quick", "--no-build", "--out", "{tmp}/demo_z"),
        _case("talk_export_one_side_only", "talk", "export", "--zeroshot", "{zs}", "--out", "{tmp}/talk",
              expect="give both"),
        _case("talk_export_sweep_missing", "talk", "export", *PAIR, "--sweep", "{missing}", "--out", "{tmp}/talk",
              "--format", "html"),
        _case("talk_export_sweep_latin1", "talk", "export", *PAIR, "--sweep", "{csv_latin1}", "--out",
              "{tmp}/talk", "--format", "html"),
        _case("talk_export_lang_bogus", "talk", "export", "--lang", "fr", "--out", "{tmp}/talk"),
        _case("talk_export_format_bogus", "talk", "export", "--format", "gif", "--out", "{tmp}/talk"),
    ]
    return cases


def _file_input_cases() -> list[CliCase]:
    cases = []
    for bad in ("missing", "dir", "empty", "text", "truncated_png", "latin1"):
        cases += [
            _case(f"predict_image_{bad}", "predict", *PAIR, "{" + bad + "}"),
            _case(f"explain_image_{bad}", "explain", *PAIR, "--out", "{tmp}/ex", "{" + bad + "}"),
        ]
    for bad in ("missing", "dir", "empty", "latin1", "csv_bad_header", "csv_latin1", "png"):
        cases.append(_case(f"merge_sweeps_{bad}", "merge-sweeps", "--out", "{tmp}/merged.csv", "{" + bad + "}"))
    cases.append(_case("merge_sweeps_seed_label_missing", "merge-sweeps", "--out", "{tmp}/merged.csv",
                       "3={missing}"))
    return cases


def _soup_and_method_cases() -> list[CliCase]:
    soup = ("soup", "--out", "{tmp}/soup.safetensors")
    cases = [_case(f"soup_{bad}", *soup, "{zs}", "{" + bad + "}", expect=expect)
             for bad, expect in BAD_CHECKPOINTS.items()]
    cases += [
        _case("soup_method_bogus", *soup, "--method", "stew", "{zs}", "{ft}"),
        _case("soup_out_is_dir", "soup", "--out", "{dir}", "{zs}", "{ft}"),
        _case("soup_eval_bogus", *soup, "--method", "greedy", "--eval", "foo=bar", "{zs}", "{ft}"),
        _case("soup_classnames_latin1", *soup, "--classnames", "{latin1}", "{wzs}", "{wzs}"),
        _case("soup_batch_size_word", *soup, "--batch-size", "x", "{zs}", "{ft}"),
        _case("interpolate_method_bogus", "interpolate", *PAIR, "--method", "magic", "--alpha", "0.5", "--out",
              "{tmp}/m.safetensors"),
        _case("interpolate_method_arg_malformed", "interpolate", *PAIR, "--method", "ties", "--method-arg",
              "density", "--alpha", "0.5", "--out", "{tmp}/m.safetensors"),
        _case("interpolate_method_arg_nan", "interpolate", *PAIR, "--method", "ties", "--method-arg",
              "density=nan", "--alpha", "0.5", "--out", "{tmp}/m.safetensors"),
    ]
    return cases


def _usage_cases() -> list[CliCase]:
    commands = ["zeroshot", "interpolate", "predict", "inspect", "convert", "finetune", "sweep", "merge-sweeps",
                "explain", "flips", "landscape", "soup"]
    cases = [_case(f"{c.replace('-', '_')}_help", c, "--help", code=0) for c in commands]
    cases += [_case(f"{c.replace('-', '_')}_no_arguments", c) for c in commands]
    cases += [
        _case("top_level_help", "--help", code=0),
        _case("no_command"),
        _case("unknown_command", "frobnicate"),
        _case("talk_help", "talk", "export", "--help", code=0),
        _case("demo_help", "demo", "build", "--help", code=0),
        _case("demo_no_subcommand", "demo"),
        _case("talk_no_subcommand", "talk"),
        _case("unknown_flag", "inspect", *PAIR, "--frobnicate"),
    ]
    return cases


CLI_CASES = (_checkpoint_cases() + _text_file_cases() + _out_cases() + _dataset_cases() + _alpha_cases()
             + _number_cases() + _file_input_cases() + _soup_and_method_cases() + _usage_cases())
