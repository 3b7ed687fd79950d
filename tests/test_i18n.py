"""wiseft_core.serve.i18n: one JSON file per language, checked against English on load, fields filled in."""

from __future__ import annotations

import json

import pytest

from wiseft_core.errors import WiseftError
from wiseft_core.serve.i18n import LANGS, load_strings, pick_lang, translate


def write(folder, lang: str, strings: dict) -> None:
    (folder / f"{lang}.json").write_text(json.dumps({"strings": strings}, ensure_ascii=False), encoding="utf-8")


def test_the_shipped_languages_have_the_same_keys_and_fields():
    english = load_strings("en")
    for lang in LANGS:
        assert set(load_strings(lang)) == set(english)
    assert len(english) > 150


def test_a_text_gets_its_fields_and_keeps_other_braces(tmp_path):
    write(tmp_path, "en", {"a": "{n} images at α = {alpha}", "tex": "$\\theta_{\\text{ft}}$ {n}"})
    write(tmp_path, "ru", {"a": "{n} изобр. при α = {alpha}", "tex": "$\\theta_{\\text{дообуч.}}$ {n}"})
    strings = load_strings("ru", tmp_path)
    assert strings["a"] == "{n} изобр. при α = {alpha}"
    assert translate("en", "home.intro").count("\\text{") == 2  # LaTeX braces are not fields
    assert translate("ru", "playground.too_many", shown=6, total=9) == "Показаны первые 6 из 9 изображений."
    assert translate("en", "slider.prediction") == "Prediction at α = {alpha}: "  # left for the browser to fill


def test_a_russian_file_that_lacks_a_key_fails_naming_the_key(tmp_path):
    write(tmp_path, "en", {"title": "Playground", "tabs": "Gallery"})
    write(tmp_path, "ru", {"title": "Песочница"})
    with pytest.raises(WiseftError, match=r"ru\.json lacks 1 key\(s\): tabs"):
        load_strings("ru", tmp_path)


def test_a_key_english_does_not_have_is_refused(tmp_path):
    write(tmp_path, "en", {"title": "Playground"})
    write(tmp_path, "ru", {"title": "Песочница", "titel": "опечатка"})
    with pytest.raises(WiseftError, match="has key.* English does not: titel"):
        load_strings("ru", tmp_path)


def test_a_translation_that_drops_or_renames_a_field_is_refused(tmp_path):
    write(tmp_path, "en", {"shown": "Showing the first {shown} of {total} images."})
    write(tmp_path, "ru", {"shown": "Показаны первые {shown} из {всего}."})
    with pytest.raises(WiseftError, match=r"ru\.json, shown: fields \['shown'\], expected \['shown', 'total'\]"):
        load_strings("ru", tmp_path)


def test_broken_json_and_empty_texts_fail_with_one_line_naming_the_file(tmp_path):
    (tmp_path / "en.json").write_text('{"strings": {"a": "A",}}')
    with pytest.raises(WiseftError, match="en.json: not a JSON object"):
        load_strings("en", tmp_path)
    write(tmp_path, "en", {"a": ""})
    with pytest.raises(WiseftError, match="non-empty text"):
        load_strings("en", tmp_path)


def test_unknown_languages_fall_back_to_english_and_unknown_keys_are_a_clear_error():
    assert pick_lang("ru") == "ru" and pick_lang("xx") == "en" and pick_lang(None) == "en"
    with pytest.raises(WiseftError, match="unknown language 'de'"):
        load_strings("de")
    with pytest.raises(KeyError, match="no app string 'nope'"):
        translate("ru", "nope")
