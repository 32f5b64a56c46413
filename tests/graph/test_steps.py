"""Apply-step ordering: destroys reversed, replacements ordered, moves before deletes."""

from __future__ import annotations

from catalogctl.graph.steps import StepGraph


def order(graph: StepGraph) -> list[tuple[str, str]]:
    seq = graph.order
    assert sorted(seq) == sorted(graph.nodes)
    return seq


def before(seq: list[tuple[str, str]], a: tuple[str, str], b: tuple[str, str]) -> bool:
    return seq.index(a) < seq.index(b)


def test_replace_destroys_dependents_first_and_recreates_after() -> None:
    deps = {"B": ["I"], "S": ["B"]}
    seq = order(StepGraph.build(destroy=["I", "B", "S"], apply=["I", "B", "S"], depends_on=deps))
    assert before(seq, ("destroy", "S"), ("destroy", "B"))
    assert before(seq, ("destroy", "B"), ("destroy", "I"))
    assert before(seq, ("destroy", "I"), ("apply", "I"))
    assert before(seq, ("apply", "I"), ("apply", "B"))
    assert before(seq, ("apply", "B"), ("apply", "S"))


def test_a_mapping_moves_to_the_new_secret_before_the_old_one_is_deleted() -> None:
    # The binding's secretName changed: Secret/old is deleted, Secret/new created,
    # and the mapping (updated in place) previously depended on Secret/old.
    graph = StepGraph.build(
        destroy=["Secret/old"],
        apply=["Secret/new", "PodMapping/m"],
        depends_on={"PodMapping/m": ["Secret/new", "Secret/old"], "Secret/old": ["B"]},
        previously={"PodMapping/m": ["Secret/old"]},
    )
    seq = order(graph)
    assert before(seq, ("apply", "Secret/new"), ("apply", "PodMapping/m"))
    assert before(seq, ("apply", "PodMapping/m"), ("destroy", "Secret/old"))


def test_no_cycle_when_the_binding_is_replaced_in_the_same_run() -> None:
    graph = StepGraph.build(
        destroy=["B", "Secret/old"],
        apply=["B", "Secret/new", "PodMapping/m"],
        depends_on={
            "Secret/old": ["B"],
            "Secret/new": ["B"],
            "PodMapping/m": ["Secret/new", "Secret/old"],
        },
        previously={"PodMapping/m": ["Secret/old"], "Secret/old": ["B"]},
    )
    seq = order(graph)  # a cycle would make the topological sort fail
    assert before(seq, ("destroy", "Secret/old"), ("destroy", "B"))
    assert before(seq, ("apply", "B"), ("apply", "PodMapping/m"))


def test_a_rotation_retires_the_old_binding_after_everything_made_from_the_new_one() -> None:
    from catalogctl.graph.steps import StepGraph

    bind, secret, mapping = "ServiceBinding/a/b", "Secret/a/b", "PodMapping/a/m"
    graph = StepGraph.build(
        [],
        [bind, secret, mapping],
        {secret: [bind], mapping: [secret]},
        retire=[bind],
    )
    order = graph.order
    assert order[-1] == ("retire", bind)
    assert set(graph.dependencies(("retire", bind))) == {
        ("apply", bind),
        ("apply", secret),
        ("apply", mapping),
    }
    # Nothing made from the binding in this run: the retire step follows its bind only.
    alone = StepGraph.build([], [bind], {}, retire=[bind])
    assert alone.dependencies(("retire", bind)) == [("apply", bind)]
