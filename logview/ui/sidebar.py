"""The source picker: provider → source → pods, with live state icons."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from logview.model import SourceStatus, State
from logview.ui.logpane import pod_label, source_colour

ICONS = {
    State.CONNECTING: ("◌", "dim"),
    State.LIVE: ("●", "green"),
    State.BACKFILLING: ("◐", "cyan"),
    State.RECONNECTING: ("↻", "yellow"),
    State.ENDED: ("■", "dim"),
    State.FAILED: ("✖", "red"),
    State.POD_GONE: ("✝", "dim"),
    State.POD_WAITING: ("◌", "yellow"),
}


@dataclass(frozen=True)
class NodeRef:
    kind: str  # "all" | "provider" | "source" | "pod"
    source: str | None = None
    pod: str | None = None


class SourceTree(Tree[NodeRef]):
    """Selecting a node posts `Chosen`; space toggles a source in/out of All."""

    BINDINGS = [
        Binding("space", "toggle_include", "Include in All", show=False),
        Binding("r", "retry", "Retry source", show=False),
    ]

    class Chosen(Message):
        def __init__(self, ref: NodeRef) -> None:
            super().__init__()
            self.ref = ref

    class ToggleInclude(Message):
        def __init__(self, source: str) -> None:
            super().__init__()
            self.source = source

    class Retry(Message):
        def __init__(self, source: str) -> None:
            super().__init__()
            self.source = source

    def __init__(self, sources: list[tuple[str, str]], *, id: str | None = None) -> None:
        super().__init__("sources", data=NodeRef("all"), id=id)
        self.show_root = False
        self.guide_depth = 2
        self._sources = sources
        self._source_nodes: dict[str, TreeNode[NodeRef]] = {}
        self._pod_nodes: dict[tuple[str, str], TreeNode[NodeRef]] = {}
        self._labels: dict[int, str] = {}

    def on_mount(self) -> None:
        self.all_node = self.root.add_leaf("All sources", data=NodeRef("all"))
        providers: dict[str, TreeNode[NodeRef]] = {}
        for name, provider in self._sources:
            parent = providers.get(provider)
            if parent is None:
                parent = providers[provider] = self.root.add(provider, data=NodeRef("provider"), expand=True)
            node = parent.add(name, data=NodeRef("source", name), expand=True, allow_expand=True)
            self._source_nodes[name] = node
        self.root.expand()

    def refresh_labels(
        self,
        states: dict[str, SourceStatus],
        counts: dict[str, int],
        pods: dict[tuple[str, str], int],
        pod_states: dict[tuple[str, str], State],
        included: set[str],
        total: int,
    ) -> None:
        self._set(self.all_node, Text.assemble(("All sources", "bold"), (f"  {total:,}", "dim")))
        for ix, (name, _provider) in enumerate(self._sources):
            node = self._source_nodes[name]
            st = states.get(name)
            icon, style = ICONS.get(st.state if st else State.CONNECTING, ("◌", "dim"))
            if st and st.state is State.LIVE:
                icon, style = "●", "green"
            check = "" if name in included else " (hidden)"
            label = Text.assemble(
                (icon + " ", style),
                (name, source_colour(ix)),
                (f"  {counts.get(name, 0):,}", "dim"),
                (check, "dim italic"),
            )
            self._set(node, label)
        for (source, pod), n in pods.items():
            key = (source, pod)
            parent = self._source_nodes.get(source)
            if parent is None:
                continue
            node = self._pod_nodes.get(key) or parent.add_leaf(pod, data=NodeRef("pod", source, pod))
            self._pod_nodes[key] = node
            state = pod_states.get(key)
            icon, style = ICONS.get(state, ("·", "dim")) if state else ("·", "dim")
            name = pod_label(pod) + (" (gone)" if state is State.POD_GONE else "")
            self._set(
                node,
                Text.assemble(
                    (icon + " ", style), (name, "dim" if state is State.POD_GONE else ""), (f"  {n:,}", "dim")
                ),
            )

    def _set(self, node: TreeNode[NodeRef], label: Text) -> None:
        plain = label.markup
        if self._labels.get(node.id) != plain:
            self._labels[node.id] = plain
            node.set_label(label)

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeRef]) -> None:
        event.stop()
        if event.node.data is not None and event.node.data.kind != "provider":
            self.post_message(self.Chosen(event.node.data))

    def _cursor_source(self) -> str | None:
        node = self.cursor_node
        return node.data.source if node is not None and node.data is not None else None

    def action_toggle_include(self) -> None:
        src = self._cursor_source()
        if src:
            self.post_message(self.ToggleInclude(src))

    def action_retry(self) -> None:
        src = self._cursor_source()
        if src:
            self.post_message(self.Retry(src))
