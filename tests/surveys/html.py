"""A tiny DOM for asserting on rendered survey pages, built on the standard library's parser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    @property
    def text(self) -> str:
        """The text inside, whitespace collapsed (entities already decoded)."""
        parts: list[str] = []

        def walk(node: Node) -> None:
            for child in node.children:
                if isinstance(child, str):
                    parts.append(child)
                else:
                    walk(child)

        walk(self)
        return " ".join("".join(parts).split())

    def iter(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Descendants with this tag (any if None) and these exact attribute values.

        An attribute name ending in ``_`` has it dropped (``class_``), ``_`` elsewhere is ``-``.
        """
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag) and all(n.attrs.get(k) == v for k, v in wanted.items())
        ]

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag or '*'} {attrs}> in <{self.tag} {self.attrs}>"
        return found[0]

    def select(self, predicate: Callable[[Node], bool]) -> list[Node]:
        return [n for n in self.iter() if predicate(n)]

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def closest(self, tag: str) -> Node | None:
        return next((a for a in self.ancestors() if a.tag == tag), None)

    def has_class(self, name: str) -> bool:
        return name in (self.attrs.get("class") or "").split()


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, parent=self.current)
        self.current.children.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, f"unclosed <{builder.current.tag}>"
    return builder.root


def label_text(doc: Node, control: Node) -> str:
    """The text of the label(s) naming a control: ``<label for=id>`` or a wrapping label."""
    texts = []
    control_id = control.get("id")
    if control_id:
        texts += [lab.text for lab in doc.find_all("label", for_=control_id)]
    wrapping = control.closest("label")
    if wrapping is not None:
        texts.append(wrapping.text)
    return " ".join(t for t in texts if t)


def legend_of(fieldset: Node) -> str:
    legends = [c for c in fieldset.children if isinstance(c, Node) and c.tag == "legend"]
    return legends[0].text if legends else ""


def hidden_inputs(form: Node) -> dict[str, str]:
    return {
        str(i.get("name")): i.get("value") or ""
        for i in form.find_all("input", type="hidden")
        if i.get("name")
    }
