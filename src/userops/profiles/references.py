"""Which rules read which tags and segments: one graph for the checks of both.

A dynamic segment's rule and a rule tag's definition may name tags (`{"tag": ...}`) and
segments (`{"segment": ...}`). Saving a rule must not make anything read itself, directly or
through others (each refresh would flip such a pair: the rule tags `a = b is set`,
`b = a not set`) nor name a tag or segment that does not exist, and deleting a tag or a
segment must not leave a rule naming it (its users would silently become none).

Nodes are `("tag", code)` and `("segment", code)`; a node's edges are what its rule reads.
Computed and imported tags, static segments and rules that no longer parse read nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from userops.domain.audience import (
    Rule,
    SegmentCondition,
    TagCondition,
    located_conditions,
    parse_rule,
    parse_rule_tag,
    referenced_segments,
    referenced_tags,
    tag_rules,
)
from userops.errors import ConflictError, InputError
from userops.store.models import Segment, TagDefinition

NodeKind = Literal["tag", "segment"]
Node = tuple[NodeKind, str]
Graph = dict[Node, frozenset[Node]]
_LABEL: Final[dict[str, str]] = {"tag": "rule tag", "segment": "segment"}


def reads(rules: Iterable[Rule]) -> frozenset[Node]:
    """The tags and segments some rules name."""
    out: set[Node] = set()
    for rule in rules:
        out |= {("tag", code) for code in referenced_tags(rule)}
        out |= {("segment", code) for code in referenced_segments(rule)}
    return frozenset(out)


def _parsed(kind: NodeKind, doc: Any) -> tuple[Rule, ...]:
    try:
        return tag_rules(parse_rule_tag(doc)) if kind == "tag" else (parse_rule(doc),)
    except InputError:
        return ()  # a rule that no longer parses reads nothing; its refresh reports it


def stored_graph(session: Session) -> Graph:
    """What every stored rule tag and dynamic segment reads."""
    graph: Graph = {}
    rule_tags = select(TagDefinition.code, TagDefinition.definition).where(
        TagDefinition.kind == "rule"
    )
    for code, definition in session.execute(rule_tags):
        graph[("tag", code)] = reads(_parsed("tag", definition))
    segments = select(Segment.code, Segment.rule).where(Segment.kind == "dynamic")
    for code, rule in session.execute(segments):
        graph[("segment", code)] = (
            reads(_parsed("segment", rule)) if rule is not None else frozenset()
        )
    return graph


def readers(session: Session, node: Node) -> dict[NodeKind, list[str]]:
    """The rule tags and dynamic segments whose rules name `node`, by code."""
    found: dict[NodeKind, list[str]] = {"tag": [], "segment": []}
    for (kind, code), named in sorted(stored_graph(session).items()):
        if node in named and (kind, code) != node:
            found[kind].append(code)
    return found


def refuse_readers(session: Session, node: Node) -> None:
    """Refuse to delete `node` while rules still name it (they would select no one)."""
    found = readers(session, node)
    parts = [f"{_LABEL[kind]}(s) {', '.join(codes)}" for kind, codes in found.items() if codes]
    if parts:
        raise ConflictError(
            f"{node[0]} {node[1]!r} is used by {' and '.join(parts)}; change them first"
        )


def loop_back(graph: Mapping[Node, frozenset[Node]], start: Node, goal: Node) -> list[Node] | None:
    """The chain of reads from `start` to `goal`, if there is one."""
    seen: set[Node] = set()
    stack: list[tuple[Node, list[Node]]] = [(start, [start])]
    while stack:
        current, chain = stack.pop()
        if current == goal:
            return chain
        if current in seen:
            continue
        seen.add(current)
        for nxt in sorted(graph.get(current, frozenset()), reverse=True):
            stack.append((nxt, [*chain, nxt]))
    return None


def _targets(rules: Mapping[str, Rule]) -> list[tuple[str, Node]]:
    """Each tag or segment the rules (keyed by their paths in the JSON) name, with the path of
    its field (`rule.all[1].tag`), left to right."""
    out: list[tuple[str, Node]] = []
    for root, rule in rules.items():
        for path, condition in located_conditions(rule, root):
            if isinstance(condition, TagCondition):
                out.append((f"{path}.tag", ("tag", condition.tag)))
            elif isinstance(condition, SegmentCondition):
                out.append((f"{path}.segment", ("segment", condition.segment)))
    return out


def check_rules(session: Session, node: Node | None, rules: Mapping[str, Rule]) -> None:
    """Refuse rules (keyed by their paths in the JSON) that name a tag or segment that does
    not exist, or that would make `node` (the rule tag or segment being saved; None for a
    preview) read itself, directly or through others; the error names the condition."""
    named = _targets(rules)
    if node is not None:
        _check_no_loop(session, node, rules, named)
    tags = sorted({code for _, (kind, code) in named if kind == "tag"})
    segments = sorted({code for _, (kind, code) in named if kind == "segment"})
    known: set[Node] = set()
    if tags:
        found = session.scalars(select(TagDefinition.code).where(TagDefinition.code.in_(tags)))
        known |= {("tag", code) for code in found}
    if segments:
        found = session.scalars(select(Segment.code).where(Segment.code.in_(segments)))
        known |= {("segment", code) for code in found}
    for where, target in named:
        if target not in known:
            raise InputError(f"{where}: unknown {target[0]} {target[1]!r}")


def _check_no_loop(
    session: Session, node: Node, rules: Mapping[str, Rule], named: list[tuple[str, Node]]
) -> None:
    graph = stored_graph(session)
    graph[node] = reads(rules.values())
    for where, target in named:
        if target == node:
            verb = "contain" if node[0] == "segment" else "read"
            raise InputError(f"{where}: a {_LABEL[node[0]]} cannot {verb} itself ({node[1]!r})")
        chain = loop_back(graph, target, node)
        if chain is not None:
            shown = " -> ".join(code for _, code in [node, *chain])
            raise InputError(f"{where}: {target[1]!r} refers back to {node[1]!r} ({shown})")
