"""Question/answer templates: one YAML file per task, rendered in a jinja2 sandbox.

A file reads::

    task: speed
    questions:
      q1: "How fast must you move to reach the point marked by the {{ marker }} in {{ time_s }} seconds?"
      ...
    answers:
      number: "{{ speed_mps }}"
      unit: "{{ speed_mps }} m/s"
      think: "<think> ... </think>\\n<answer> {{ chain_speed_mps }} </answer>"
      chain: "The point is around {{ distance_m }} meters away. Hence, ..."

Templates may use the task's figures (``datagen.tasks.base.TASK_FIELDS``, already
formatted), its words (``TASK_WORDS``: ``mover``, "a pedestrian", in the speed and time
tasks), ``marker`` (the style's description, "red arrow"), ``markers`` (how two
marked points are named, "the red arrows labelled A and B") and the filter ``sq``
("1.20" -> "1.20²", "-0.30" -> "(-0.30)²"). Every template is compiled and rendered once
against dummy figures at load time, so a syntax error, an unknown name or an unsafe
attribute is refused with the file and YAML line of that template.

A template states figures; it does not compute. Beyond the sandbox's refusal of unsafe
attributes, a template may only use fields, text, the filters of ``ALLOWED_FILTERS``,
``if``/``else``, comparisons and ``~``; loops, ``set``, macros, calls, arithmetic and
numbers beyond ``MAX_TEMPLATE_NUMBER`` are refused at load time, and a rendered text is
at most ``MAX_RENDERED_CHARS`` long, so no template can hang a build or exhaust memory
(``{{ marker.center(3000000000) }}``, nested loops).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import jinja2
import numpy as np
import yaml
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from datagen.errors import TemplateError
from datagen.resources import templates_dir
from datagen.tasks.base import TASK_FIELDS, TASK_WORDS, TaskTruth

if TYPE_CHECKING:
    from datagen.markers import MarkerStyle

log = logging.getLogger(__name__)

ANSWER_STYLES = ("number", "unit", "think", "chain")
MARKER_FIELDS = ("marker", "markers")
TOP_KEYS = ("task", "questions", "answers")
_ID_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
_DUMMY = {"marker": "red arrow", "markers": "the red arrows labelled A and B", "mover": "a pedestrian"}
#: Filters a template may use: each returns text about as long as its input.
ALLOWED_FILTERS = frozenset({"sq", "upper", "lower", "capitalize", "title", "trim", "default", "d", "string"})
#: The largest number a template may write (an index, a filter argument).
MAX_TEMPLATE_NUMBER = 1000
#: The longest text a template may render, characters.
MAX_RENDERED_CHARS = 10_000
#: What a template may contain: text and fields, filters, conditions, comparisons, ``~``, attributes.
_ALLOWED_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Filter,
                  nodes.Test, nodes.If, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or,
                  nodes.Not, nodes.Concat, nodes.Keyword, nodes.Getattr, nodes.Getitem, nodes.Slice,
                  nodes.Tuple, nodes.List)


def _squared(text: object) -> str:
    """A stated figure squared in a chain: "1.20" -> "1.20²", "-0.30" -> "(-0.30)²"."""
    text = str(text)
    return f"({text})²" if text.startswith("-") else f"{text}²"


class _FigureSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, refusing arithmetic too: figures come computed (and rounded) from the task,
    and ``"1.23" * 10**9`` would otherwise build a huge string."""

    intercepted_binops = frozenset(["+", "-", "*", "/", "//", "%", "**"])
    intercepted_unops = frozenset(["+", "-"])

    def call_binop(self, context, operator, left, right):
        raise SecurityError(f"arithmetic ({operator!r}) is not allowed in templates; "
                            "the task states every figure")

    def call_unop(self, context, operator, arg):
        raise SecurityError(f"arithmetic ({operator!r}) is not allowed in templates; "
                            "the task states every figure")


def _environment() -> ImmutableSandboxedEnvironment:
    """A sandbox with strict undefined names, no autoescape and no globals (no range, cycler, ...)."""
    env = _FigureSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.globals.clear()
    env.filters["sq"] = _squared
    return env


_ENV = _environment()


@dataclass(frozen=True, eq=False)
class _Template:
    """One compiled template and where it came from."""

    key: str
    text: str
    where: str  # "path:line"
    compiled: jinja2.Template
    names: frozenset
    sample: str  # rendered with dummy figures


@dataclass(frozen=True)
class RenderedQA:
    """A question and its answer as one record states them.

    Attributes:
        question: the question text.
        answer: the answer text.
        template_id: "<task>/<question id>+<answer style>", e.g. "speed/q3+chain".
        question_id: the question template used.
        style: the answer style used.
        stated: the figures the answer states, as floats of their stated text (for checking).
    """

    question: str
    answer: str
    template_id: str
    question_id: str
    style: str
    stated: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class TemplateSet:
    """The question and answer templates of one task, compiled and checked.

    Attributes:
        task: the task name (also the file's stem).
        path: the YAML file.
        questions: question id -> compiled template, in file order.
        answers: answer style -> compiled template, in file order.
    """

    task: str
    path: Path
    questions: dict
    answers: dict

    @property
    def question_ids(self) -> tuple[str, ...]:
        return tuple(self.questions)

    @property
    def answer_styles(self) -> tuple[str, ...]:
        return tuple(self.answers)

    @classmethod
    def load(cls, path: str | Path) -> "TemplateSet":
        """Parse, compile and check ``path``.

        Raises:
            TemplateError: the file is unreadable or not YAML, its structure is wrong, or a
                template breaks the syntax, names an unknown field or is refused by the sandbox;
                the message starts with "path:line".
        """
        path = Path(path)
        top = _mapping(_compose(path), path, "the file", TOP_KEYS)
        task = _string(top["task"], path, "task")
        if task != path.stem or task not in TASK_FIELDS:
            raise TemplateError(f"{_where(path, top['task'])}: task {task!r} must name the file's task "
                                f"({path.stem!r}), one of {sorted(TASK_FIELDS)}")
        allowed = frozenset(TASK_FIELDS[task]) | frozenset(TASK_WORDS[task]) | frozenset(MARKER_FIELDS)
        questions = _templates(top["questions"], path, "questions", allowed, lambda key: _ID_RE.match(key))
        answers = _templates(top["answers"], path, "answers", allowed, lambda key: key in ANSWER_STYLES)
        for template in answers.values():
            _check_answer_form(template)
        log.debug("%s: %d questions, answer styles %s", path, len(questions), list(answers))
        return cls(task=task, path=path, questions=questions, answers=answers)

    def render(self, truth: TaskTruth, marker: "MarkerStyle | None", rng: np.random.Generator, *,
               style: str | None = None, question_id: str | None = None) -> RenderedQA:
        """Fill a question and an answer with the truth's stated figures and the marker's description.

        Args:
            truth: what the task computed; ``truth.task`` must be this set's task.
            marker: the marker style drawn on the image (None only if no template names it).
            rng: draws the question, then the answer style, uniformly, unless given.
            style: the answer style to use, one of ``answer_styles``.
            question_id: the question to use, one of ``question_ids``.

        Raises:
            TemplateError: another task's truth, an unknown style or question id, or a
                template that names the marker when ``marker`` is None.
        """
        if truth.task != self.task:
            raise TemplateError(f"{self.path}: templates of {self.task!r} cannot render a {truth.task!r} truth")
        question_id = _pick(self.path, "question id", question_id, self.question_ids, rng)
        style = _pick(self.path, "answer style", style, self.answer_styles, rng)
        context = {**truth.stated, **truth.words, **_marker_fields(marker)}
        answer = self.answers[style]
        stated = {name: float(truth.stated[name]) for name in TASK_FIELDS[self.task] if name in answer.names}
        return RenderedQA(question=_fill(self.questions[question_id], context), answer=_fill(answer, context),
                          template_id=f"{self.task}/{question_id}+{style}", question_id=question_id,
                          style=style, stated=stated)


def load_templates(folder: str | Path | None = None, tasks: Iterable[str] | None = None) -> dict[str, TemplateSet]:
    """The template sets of ``tasks`` (default: every task) from ``folder`` (default: the bundled ones).

    Raises:
        TemplateError: an unknown task, a missing file, or a file ``TemplateSet.load`` refuses.
    """
    folder = Path(folder) if folder is not None else templates_dir()
    names = list(TASK_FIELDS) if tasks is None else list(dict.fromkeys(tasks))
    unknown = [name for name in names if name not in TASK_FIELDS]
    if unknown:
        raise TemplateError(f"no such task(s) {unknown}; known: {sorted(TASK_FIELDS)}")
    out = {}
    for name in names:
        path = folder / f"{name}.yaml"
        if not path.is_file():
            raise TemplateError(f"{path}: missing (templates of task {name!r} are expected there)")
        out[name] = TemplateSet.load(path)
    return out


# --- YAML structure, with lines --------------------------------------------------------------


def _compose(path: Path) -> yaml.Node:
    """The YAML node tree of ``path`` (nodes keep their line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read ({exc})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise TemplateError(f"{path}:{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if node is None:
        raise TemplateError(f"{path}:1: empty file; expected a mapping with keys {', '.join(TOP_KEYS)}")
    return node


def _where(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _mapping(node: yaml.Node, path: Path, what: str, required: tuple = ()) -> dict:
    """A mapping node as {key: value node}, refusing duplicate keys and, if ``required``, other keys."""
    if not isinstance(node, yaml.MappingNode):
        raise TemplateError(f"{_where(path, node)}: {what} must be a mapping")
    out: dict = {}
    for key_node, value_node in node.value:
        key = _string(key_node, path, f"a key of {what}")
        if key in out:
            raise TemplateError(f"{_where(path, key_node)}: duplicate key {key!r} in {what}")
        if required and key not in required:
            raise TemplateError(f"{_where(path, key_node)}: unknown key {key!r} in {what}; "
                                f"expected {', '.join(required)}")
        out[key] = value_node
    missing = [key for key in required if key not in out]
    if missing:
        raise TemplateError(f"{_where(path, node)}: {what} lacks {', '.join(missing)}")
    return out


def _string(node: yaml.Node, path: Path, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
        raise TemplateError(f"{_where(path, node)}: {what} must be a string")
    return node.value


def _templates(node: yaml.Node, path: Path, what: str, allowed: frozenset, key_ok) -> dict:
    """Compile every entry of the mapping ``what``; keys must pass ``key_ok``; at least one entry."""
    entries = {} if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null") else _mapping(node, path, what)
    if not entries:
        raise TemplateError(f"{_where(path, node)}: {what} must hold at least one template")
    out = {}
    for key, value_node in entries.items():
        if not key_ok(key):
            expected = f"one of {', '.join(ANSWER_STYLES)}" if what == "answers" else "letters, digits, _ or -"
            raise TemplateError(f"{_where(path, value_node)}: {what} key {key!r} must be {expected}")
        text = _string(value_node, path, f"{what}.{key}")
        out[key] = _compile(key, text, _where(path, value_node), allowed)
    return out


# --- compiling, checking and filling templates -------------------------------------------------


def _compile(key: str, text: str, where: str, allowed: frozenset) -> _Template:
    """Compile ``text`` in the sandbox and render it once with dummy figures."""
    try:
        compiled = _ENV.from_string(text)
        names = frozenset(meta.find_undeclared_variables(_ENV.parse(text)))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{where}: template {key!r} has a syntax error (its line {exc.lineno}): "
                            f"{exc.message}") from None
    unknown = sorted(names - allowed)
    if unknown:
        raise TemplateError(f"{where}: template {key!r} uses unknown field(s) {unknown}; known: {sorted(allowed)}")
    refused = _refused_construct(_ENV.parse(text))
    if refused is not None:
        raise TemplateError(f"{where}: template {key!r} is refused by the sandbox ({refused}); a template states "
                            f"fields with the filters {', '.join(sorted(ALLOWED_FILTERS))}, if/else and ~ only")
    try:
        rendered = compiled.render(_dummy(allowed))
    except SecurityError as exc:
        raise TemplateError(f"{where}: template {key!r} is refused by the sandbox ({exc})") from None
    except Exception as exc:  # a template must render; whatever stops it is the template's fault
        raise TemplateError(f"{where}: template {key!r} fails to render ({type(exc).__name__}: {exc})") from None
    if not rendered.strip():
        raise TemplateError(f"{where}: template {key!r} renders to empty text")
    _check_length(rendered, where, key)
    return _Template(key=key, text=text, where=where, compiled=compiled, names=names, sample=rendered.strip())


def _refused_construct(tree: nodes.Template) -> str | None:
    """What in a parsed template is beyond a template's bounds (see the module docstring), else None."""
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            kind = {nodes.For: "a for loop", nodes.Call: "a call", nodes.Assign: "set", nodes.AssignBlock: "set",
                    nodes.Macro: "a macro"}.get(type(node), type(node).__name__)
            if isinstance(node, (nodes.BinExpr, nodes.UnaryExpr)):
                kind = f"arithmetic ({getattr(node, 'operator', type(node).__name__)!r})"
            return f"{kind} is not allowed in templates"
        if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
            return f"filter {node.name!r} is not allowed in templates"
        if isinstance(node, nodes.Const) and isinstance(node.value, (int, float)) \
                and not abs(node.value) <= MAX_TEMPLATE_NUMBER:
            return f"the number {node.value!r} is beyond {MAX_TEMPLATE_NUMBER}"
    return None


def _check_length(text: str, where: str, key: str) -> None:
    if len(text) > MAX_RENDERED_CHARS:
        raise TemplateError(f"{where}: template {key!r} renders {len(text)} characters, more than "
                            f"{MAX_RENDERED_CHARS}")


def _dummy(names: frozenset) -> dict:
    """A figure for every name (negative offsets, so that ``sq`` meets both cases) and marker texts."""
    return {name: _DUMMY.get(name, "-1.23" if name in ("dx_m", "dy_m", "dz_m") else "1.23") for name in names}


_THINK_RE = re.compile(r"<think>.*</think>\n<answer>.*</answer>", re.DOTALL)


def _check_answer_form(template: _Template) -> None:
    """A "think" answer must read "<think> ... </think>\\n<answer> ... </answer>" as the paper trains."""
    if template.key == "think" and not _THINK_RE.fullmatch(template.sample):
        raise TemplateError(f"{template.where}: a think answer must read "
                            "'<think> ... </think>\\n<answer> ... </answer>'")


def _pick(path: Path, what: str, given: str | None, choices: tuple, rng: np.random.Generator) -> str:
    if given is None:
        return choices[int(rng.integers(len(choices)))]
    if given not in choices:
        raise TemplateError(f"{path}: unknown {what} {given!r}; known: {', '.join(choices)}")
    return given


def _marker_fields(marker: "MarkerStyle | None") -> dict:
    if marker is None:
        return {}
    return {"marker": marker.description, "markers": marker.description_two}


def _fill(template: _Template, context: dict) -> str:
    try:
        text = template.compiled.render(context).strip()
        _check_length(text, template.where, template.key)
        return text
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"{template.where}: template {template.key!r} lacks a value ({exc.message})") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{template.where}: template {template.key!r} failed ({exc})") from None
