"""A template states figures and cannot hang a build or exhaust memory: loops, calls, set, arithmetic,
large numbers and unlisted filters are refused when the file is loaded, with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagen.errors import TemplateError
from datagen.templates import TemplateSet

TEMPLATE = """\
task: distance
questions:
  q0: "How far is the point marked by the {{ marker }}?"
  q1: "QUESTION"
answers:
  number: "{{ distance_m }}"
"""


def _load(tmp_path: Path, question: str) -> TemplateSet:
    path = tmp_path / "distance.yaml"
    path.write_text(TEMPLATE.replace("QUESTION", question.replace('"', "'")), encoding="utf-8")
    return TemplateSet.load(path)


@pytest.mark.parametrize(("question", "message"), [
    ("{{ marker.center(3000000000) }}", "a call is not allowed"),
    ("{{ marker | center(3000000000) }}", "filter 'center' is not allowed"),
    ("{{ marker | center(300000) }}", "filter 'center' is not allowed"),
    ("{{ marker | replace('', marker) | replace('', marker) }}", "filter 'replace' is not allowed"),
    ("{% for a in marker %}{% for b in marker %}{{ a }}{{ b }}{% endfor %}{% endfor %}", "a for loop"),
    ("{% set x = marker ~ marker %}{% set y = x ~ x %}{{ y }}", "set is not allowed"),
    ("{% macro m() %}x{% endmacro %}{{ m() }}", "not allowed"),
    ("{{ marker[:100000] }}", "the number 100000 is beyond 1000"),
    ("{{ distance_m * 3 }}", "arithmetic"),
])
def test_unbounded_templates_are_refused_at_load_time(tmp_path, question, message):
    with pytest.raises(TemplateError, match=message) as info:
        _load(tmp_path, question)
    assert str(info.value).startswith(f"{tmp_path / 'distance.yaml'}:4:")


def test_what_templates_need_still_works(tmp_path):
    template_set = _load(tmp_path, "{% if marker %}Point {{ marker | upper }} at {{ distance_m | sq }}"
                                   "{% else %}none{% endif %} ~ {{ marker ~ ' and ' ~ marker | title }}?")
    assert template_set.questions["q1"].sample.startswith("Point RED ARROW at 1.23²")


def test_a_long_rendering_is_refused(tmp_path):
    from datagen.templates import MAX_RENDERED_CHARS

    with pytest.raises(TemplateError, match=f"more than {MAX_RENDERED_CHARS}"):
        _load(tmp_path, "x" * (MAX_RENDERED_CHARS + 1))
