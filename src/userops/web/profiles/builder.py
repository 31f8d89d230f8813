"""The segment builder's form: a rule tree drawn as nested groups of condition rows, read back
from the posted fields into the rule JSON of docs/segments.md (then checked by `parse_rule`).

Every node of the tree has a path (`r` the root group, `r.0` its first child, `r.0.1`, ...),
posted as a hidden `node` field, and its fields are posted as `<field>.<path>` (`kind.r.0`,
`op.r.0`, `value.r.0`...). Reading the form rebuilds the tree; an action button
(`add:<path>:condition`, `add:<path>:group`, `remove:<path>`) changes it, and the page is drawn
again from the tree. Nothing here touches a store: the routes give the context (tags, events,
segments) and call the services.

Values arrive as text and are typed by what the condition compares: a whole number for counts
and ages, a number for amounts and number tags, a number of days ago or an ISO date for days,
a list (split on commas, `,` or `，`) for `in`/`not_in`, two boxes for `between`. Anything the
rows cannot express (an event condition with property filters, a value holding a comma) stays
a JSON condition row, so a saved rule is never changed by being shown in the builder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import orjson
from starlette.datastructures import FormData

from userops.domain.audience import (
    MEASURES,
    OPS,
    PROPERTY_MEASURES,
    TIME_MEASURES,
    TRAIT_FIELDS,
    TRAITS_PREFIX,
    parse_rule,
    rule_to_json,
)
from userops.errors import InputError

ROOT: Final = "r"
GROUP_KINDS: Final = ("all", "any", "not")
LEAF_KINDS: Final = ("trait", "tag", "event", "segment", "json")
MAX_NODES: Final = 150
TEXT_OPS: Final = ("=", "!=", "in", "not_in", "is_set", "not_set")
LIST_OPS: Final = frozenset({"in", "not_in"})
NO_VALUE_OPS: Final = frozenset({"is_set", "not_set", ""})
OP_KEYS: Final[dict[str, str]] = {
    "=": "eq",
    "!=": "ne",
    "in": "in",
    "not_in": "not_in",
    "between": "between",
    "<": "lt",
    "<=": "lte",
    ">": "gt",
    ">=": "gte",
    "is_set": "is_set",
    "not_set": "not_set",
    "": "did",
}
"""Each operator's message key (`profiles.op.<key>`); "" is an event's "did it"."""
_SPLIT = re.compile(r"[,，]")
_PATH = re.compile(r"r(\.\d+)*")


@dataclass(frozen=True, slots=True)
class TagChoice:
    """What the builder knows of a tag: its type and its values' names (enum tags)."""

    code: str
    name: str
    value_type: str
    values: tuple[tuple[str, str], ...] = ()  # (value, shown name)


@dataclass(frozen=True, slots=True)
class Context:
    """The choices a builder offers: traits, tags, events, segments."""

    traits: tuple[str, ...] = tuple(TRAIT_FIELDS)
    tags: tuple[TagChoice, ...] = ()
    events: tuple[str, ...] = ()
    segments: tuple[tuple[str, str], ...] = ()  # (code, name)

    def tag(self, code: str) -> TagChoice | None:
        return next((t for t in self.tags if t.code == code), None)


@dataclass
class Node:
    path: str
    kind: str
    children: list[Node] = field(default_factory=list)
    field: str = ""  # the trait, tag code, event name or segment code
    op: str = ""
    value: str = ""
    high: str = ""  # between: the high end (`value` the low)
    values: tuple[str, ...] = ()  # values picked from a list (enum tags)
    measure: str = ""
    prop: str = ""
    within: str = ""
    raw: str = ""  # a JSON condition
    error: bool = False

    @property
    def is_group(self) -> bool:
        return self.kind in GROUP_KINDS

    def walk(self) -> list[Node]:
        out = [self]
        for child in self.children:
            out += child.walk()
        return out

    def find(self, path: str) -> Node | None:
        return next((n for n in self.walk() if n.path == path), None)


def empty_leaf(path: str = ROOT, kind: str = "trait") -> Node:
    return Node(path, kind)


def new_tree() -> Node:
    """A new rule: all of one empty condition row."""
    return renumber(Node(ROOT, "all", [empty_leaf()]))


def renumber(node: Node, path: str = ROOT) -> Node:
    node.path = path
    for i, child in enumerate(node.children):
        renumber(child, f"{path}.{i}")
    return node


# -- the form -------------------------------------------------------------------------------


def _text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        raise InputError(f"a field of the rule is longer than {limit} characters")
    return text


def from_form(form: FormData) -> Node:
    """The tree the posted builder fields describe (the root group when there are none)."""
    paths = [str(p) for p in form.getlist("node") if isinstance(p, str)]
    if len(paths) > MAX_NODES:
        raise InputError(f"the rule has more than {MAX_NODES} rows and groups")
    nodes: dict[str, Node] = {}
    for path in paths:
        if not _PATH.fullmatch(path) or path in nodes:
            continue
        kind = _text(form, f"kind.{path}", 20)
        allowed = GROUP_KINDS if path == ROOT else (*GROUP_KINDS, *LEAF_KINDS)
        if kind not in allowed:
            kind = "all" if path == ROOT else "trait"
        node = Node(path, kind)
        if not node.is_group:
            node.field = _text(form, f"field.{path}", 300)
            node.op = _text(form, f"op.{path}", 20)
            node.value = _text(form, f"value.{path}")
            node.high = _text(form, f"high.{path}")
            node.values = tuple(
                str(v).strip() for v in form.getlist(f"values.{path}") if str(v).strip()
            )
            node.measure = _text(form, f"measure.{path}", 20)
            node.prop = _text(form, f"property.{path}", 100)
            node.within = _text(form, f"within.{path}", 20)
            node.raw = _text(form, f"json.{path}", 20_000)
            if _text(form, f"was.{path}", 20) not in ("", kind):  # the row changed kind
                node = Node(path, kind)
        nodes[path] = node
    root = nodes.get(ROOT) or Node(ROOT, "all")
    if not root.is_group:
        root = Node(ROOT, "all")
    for path, node in nodes.items():
        if path == ROOT:
            continue
        parent = nodes.get(path.rsplit(".", 1)[0])
        if parent is not None and parent.is_group:
            parent.children.append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: int(n.path.rsplit(".", 1)[1]))
    return renumber(root)


def apply_action(tree: Node, action: str) -> Node:
    """`add:<path>:condition|group` or `remove:<path>`; an action naming no node does nothing."""
    parts = action.split(":")
    target = tree.find(parts[1]) if len(parts) >= 2 else None
    if target is None:
        return tree
    if parts[0] == "add" and target.is_group and len(tree.walk()) < MAX_NODES:
        if len(parts) == 3 and parts[2] == "group":
            target.children.append(Node("", "any", [empty_leaf("")]))
        else:
            target.children.append(empty_leaf(""))
    elif parts[0] == "remove" and target is not tree:
        for node in tree.walk():
            node.children = [c for c in node.children if c is not target]
    return renumber(tree)


# -- from a rule ------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _raw(doc: Mapping[str, Any]) -> Node:
    return Node("", "json", raw=orjson.dumps(doc).decode())


def _leaf(doc: Mapping[str, Any]) -> Node:
    """One condition as a row; a JSON row when a row cannot hold it exactly."""
    op = str(doc.get("op", ""))
    value = doc.get("value")
    node = Node("", "json", op=op)
    if isinstance(value, list):
        items = [_shown(v) for v in value]
        if any(_SPLIT.search(v) for v in items):
            return _raw(doc)
        if op == "between":
            node.value, node.high = items
        else:
            node.value = ", ".join(items)
            node.values = tuple(items)
    else:
        if isinstance(value, str) and op in LIST_OPS:
            return _raw(doc)
        node.value = _shown(value)
    if "trait" in doc:
        return replace(node, kind="trait", field=str(doc["trait"]))
    if "tag" in doc:
        return replace(node, kind="tag", field=str(doc["tag"]))
    if "segment" in doc:
        return Node("", "segment", field=str(doc["segment"]))
    if "event" in doc and "where" not in doc:
        return replace(
            node,
            kind="event",
            field=str(doc["event"]),
            measure=str(doc.get("measure", "")),
            prop=str(doc.get("property", "")),
            within=_shown(doc.get("within_days")),
        )
    return _raw(doc)


def _node(doc: Mapping[str, Any]) -> Node:
    if "all" in doc or "any" in doc:
        kind = "all" if "all" in doc else "any"
        return Node("", kind, [_node(d) for d in doc[kind]])
    if "not" in doc:
        inner = doc["not"]
        if "all" in inner:
            return Node("", "not", [_node(d) for d in inner["all"]])
        return Node("", "not", [_node(inner)])
    return _leaf(doc)


def from_rule(rule: Mapping[str, Any]) -> Node:
    """The tree of a stored rule (the root is always an all/any group)."""
    top = _node(rule)
    if top.kind not in ("all", "any"):
        top = Node("", "all", [top])
    return renumber(top)


def from_json_text(text: str) -> Node:
    """The tree of a rule typed as JSON (checked first: a bad rule names its bad part)."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the rule is not valid JSON: {exc}") from None
    return from_rule(rule_to_json(parse_rule(doc)))


# -- to a rule --------------------------------------------------------------------------------


def _number(text: str) -> Any:
    """A number when the text is one (thousands separators allowed), else the text itself,
    which the rule check then refuses with the reason."""
    cleaned = text.replace(",", "").replace("_", "").strip()
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        return float(cleaned)
    except ValueError:
        return text


def _whole_or_text(text: str) -> Any:
    """A whole number when the text is one (negative too: the rule check names it), else the
    text (an ISO date, or a mistake the check names)."""
    try:
        return int(text.strip())
    except ValueError:
        return text


def _custom(text: str, ordering: bool) -> Any:
    if ordering:
        return _number(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def _typer(node: Node, context: Context) -> Any:
    """How one typed value of `node` becomes JSON."""
    ordering = node.op in ("<", "<=", ">", ">=", "between")
    if node.kind == "trait":
        kind = TRAIT_FIELDS.get(node.field, "json")
        if kind == "age":
            return _whole_or_text
        if kind == "instant":
            return _whole_or_text
        if kind == "json":
            return lambda text: _custom(text, ordering)
        return str
    if node.kind == "tag":
        tag = context.tag(node.field)
        if tag is not None and tag.value_type == "number":
            return _number
        return str
    measure = node.measure or "count"
    if measure == "count":
        return _whole_or_text
    if measure in TIME_MEASURES:
        return _whole_or_text
    return _number


def _comparison(node: Node, context: Context, out: dict[str, Any], path: str) -> None:
    if not node.op:
        raise InputError(f"{path}: choose an operator")
    out["op"] = node.op
    if node.op in NO_VALUE_OPS:
        return
    typed = _typer(node, context)
    if node.op == "between":
        out["value"] = [
            typed(node.value) if node.value else None,
            typed(node.high) if node.high else None,
        ]
    elif node.op in LIST_OPS:
        items = list(node.values) or [p.strip() for p in _SPLIT.split(node.value) if p.strip()]
        if not items:
            raise InputError(f"{path}.value: give one or more values (separated by commas)")
        out["value"] = [typed(v) for v in items]
    else:
        value = node.value or (node.values[0] if node.values else "")
        if not value:
            raise InputError(f"{path}.value: give a value")
        out["value"] = typed(value)


def _leaf_json(node: Node, context: Context, path: str) -> dict[str, Any]:
    if node.kind == "json":
        try:
            doc = orjson.loads(node.raw or "null")
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{path}: the JSON condition is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise InputError(f'{path}: a JSON condition is an object, like {{"segment": "vip"}}')
        return doc
    if not node.field:
        what = {"trait": "a trait", "tag": "a tag", "event": "an event", "segment": "a segment"}
        raise InputError(f"{path}: choose {what.get(node.kind, 'a field')}")
    if node.kind == "segment":
        return {"segment": node.field}
    if node.kind in ("trait", "tag"):
        out: dict[str, Any] = {node.kind: node.field}
        _comparison(node, context, out, path)
        return out
    out = {"event": node.field}
    measure = node.measure or "count"
    if node.measure and node.measure != "count":
        out["measure"] = node.measure
    if measure in PROPERTY_MEASURES:
        if not node.prop:
            raise InputError(f"{path}: measure '{measure}' needs a property (e.g. revenue)")
        out["property"] = node.prop
    if node.op:
        _comparison(node, context, out, path)
    if node.within:
        out["within_days"] = _whole_or_text(node.within)
    return out


def _json(node: Node, context: Context, path: str, where: dict[str, str]) -> dict[str, Any]:
    where[path] = node.path
    if not node.is_group:
        return _leaf_json(node, context, path)
    if not node.children:
        raise InputError(f"{path}: this group is empty; add a condition or remove it")
    if node.kind == "not":
        if len(node.children) == 1:
            return {"not": _json(node.children[0], context, f"{path}.not", where)}
        inner = f"{path}.not.all"
        return {
            "not": {
                "all": [
                    _json(c, context, f"{inner}[{i}]", where) for i, c in enumerate(node.children)
                ]
            }
        }
    return {
        node.kind: [
            _json(c, context, f"{path}.{node.kind}[{i}]", where)
            for i, c in enumerate(node.children)
        ]
    }


@dataclass(frozen=True, slots=True)
class Built:
    """The rule a tree gives, or the error (`error_path`: the row or group it names)."""

    rule: dict[str, Any] | None
    error: str | None = None
    error_path: str | None = None
    where: dict[str, str] = field(default_factory=dict)  # JSON path -> builder path

    def blame(self, tree: Node, message: str) -> Built:
        """This result failed later with `message` (a service's check): mark its row."""
        path = locate(message, self.where)
        marked = tree.find(path) if path else None
        if marked is not None:
            marked.error = True
        return Built(None, message, path, self.where)


def to_rule(tree: Node, context: Context) -> Built:
    """The checked rule JSON of the tree; a bad row gives the message, its row marked."""
    where: dict[str, str] = {}
    for node in tree.walk():
        node.error = False
    try:
        doc = _json(tree, context, "rule", where)
        rule = rule_to_json(parse_rule(doc))
    except InputError as exc:
        return Built(None, where=where).blame(tree, str(exc))
    return Built(rule, where=where)


def locate(message: str, where: Mapping[str, str]) -> str | None:
    """The builder path of the JSON path a rule error starts with (its longest known prefix)."""
    head = message.split(":", 1)[0].split(" ", 1)[0]
    found = [
        json_path
        for json_path in where
        if head == json_path or head.startswith((json_path + ".", json_path + "["))
    ]
    return where[max(found, key=len)] if found else None


# -- what a row offers ------------------------------------------------------------------------


def ops_for(node: Node, context: Context) -> tuple[str, ...]:
    """The operators that fit the row's field ("" = an event's "did it at least once")."""
    if node.kind == "trait":
        kind = TRAIT_FIELDS.get(node.field, "json")
        return TEXT_OPS if kind == "text" else OPS
    if node.kind == "tag":
        tag = context.tag(node.field)
        if tag is not None and tag.value_type in ("enum", "boolean"):
            return TEXT_OPS
        return OPS
    if node.kind == "event":
        if (node.measure or "count") in ("count", "sum"):
            return ("", *(op for op in OPS if op not in ("is_set", "not_set")))
        return OPS
    return ()


def normalize(tree: Node, context: Context) -> Node:
    """Give every row an operator that fits its field (the first one when it has none or its
    field changed to one the operator does not fit)."""
    for node in tree.walk():
        ops = ops_for(node, context)
        if ops and node.op not in ops:
            node.op = ops[0]
    return tree


def widget(node: Node, context: Context) -> str:
    """How the row asks for its value: none, range, choice, choices (several) or text."""
    if node.is_group or node.kind in ("segment", "json"):
        return "none"
    op = node.op
    if op in NO_VALUE_OPS:
        return "none"
    if op == "between":
        return "range"
    if node.kind == "tag":
        tag = context.tag(node.field)
        if tag is not None and tag.values:
            return "choices" if op in LIST_OPS else "choice"
    return "text"


def hint(node: Node) -> str:
    """The message key of the value box's placeholder."""
    if node.op in LIST_OPS:
        return "profiles.builder.hint.list"
    if node.kind == "trait":
        kind = TRAIT_FIELDS.get(node.field, "json")
        return {
            "instant": "profiles.builder.hint.days_or_date",
            "date": "profiles.builder.hint.date",
            "age": "profiles.builder.hint.years",
        }.get(kind, "profiles.builder.hint.text")
    if node.kind == "event":
        if node.measure in TIME_MEASURES:
            return "profiles.builder.hint.days_or_date"
        return "profiles.builder.hint.number"
    return "profiles.builder.hint.text"


def row_label(path: str | None) -> str:
    """A row's number as the builder shows it: `r.1.0` is 2.1."""
    if not path or path == ROOT:
        return ""
    return ".".join(str(int(p) + 1) for p in path.split(".")[1:])


def trait_choices(custom: Sequence[str]) -> tuple[str, ...]:
    return (*TRAIT_FIELDS, *(f"{TRAITS_PREFIX}{key}" for key in custom))


MEASURE_CHOICES: Final = MEASURES
