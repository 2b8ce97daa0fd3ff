"""The campaign, the level loader's bad-input handling, and the generator."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from function_quest import campaign, generate, generate_document, load_level, load_pack
from function_quest.packs import LEVELS_DIR
from symphony_pit import QuestGame, QuestLevel, ValidationError

FORMAT_EXAMPLE = LEVELS_DIR / "campaign" / "01-locked-study.yaml"


def play(level: QuestLevel, actions: list[int]) -> QuestGame:
    game = QuestGame(level)
    for a in actions:
        game.step(a)
    return game


def test_the_campaign_has_twenty_levels_one_per_band_each_solved_fast() -> None:
    levels = campaign()
    assert [lvl.band for lvl in levels] == list(range(1, 21))
    for path, level in zip(sorted((LEVELS_DIR / "campaign").glob("*.yaml")), levels, strict=True):
        assert path.stem.split("-", 1)[1] == level.id, "file names follow the level ids"
        started = time.perf_counter()
        again = QuestLevel.load(path)  # validation + the exact solver + `optimal_steps` check
        assert time.perf_counter() - started < 0.1
        assert again.optimal_steps == level.optimal_steps
        game = play(level, level.plan_actions)
        assert game.won
        assert game.steps == level.optimal_steps
        assert len(level.story) > 150, f"{level.id}: a story worth reading"
        assert all(call["description"] for call in level.calls)
    assert {lvl.visibility for lvl in levels[:5]} == {"hidden"}
    assert {lvl.visibility for lvl in levels[5:10]} == {"indicators"}
    assert {lvl.visibility for lvl in levels[10:]} == {"full"}
    assert [lvl.band for lvl in campaign(range(6, 11))] == [6, 7, 8, 9, 10]


def test_resource_levels_punish_a_bad_order() -> None:
    bakery = load_level("bakery-oven")
    names = [c["label"] for c in bakery.calls]
    # Pie first: the loaf must then wait for the oven.
    order = ["roll_crust()", "make_filling()", "bake_pie()", "knead_dough()", "bake_loaf()"]
    game = play(bakery, [names.index(n) for n in order])
    assert not game.won
    assert game.failures == (0, 1)
    assert "resource exhausted" in game.message


def test_json_and_yaml_copies_of_a_level_are_the_same_level(tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load(FORMAT_EXAMPLE.read_text())
    as_json = tmp_path / "locked.json"
    as_json.write_text(json.dumps(doc))
    a, b = QuestLevel.load(as_json), QuestLevel.load(FORMAT_EXAMPLE)
    assert (a.calls, a.plan, a.facts) == (b.calls, b.plan, b.facts)
    assert load_pack(tmp_path)[0].id == "locked-study"


def _doc() -> dict[str, object]:
    import yaml

    return dict(yaml.safe_load(FORMAT_EXAMPLE.read_text()))


BAD_LEVELS = [
    ("missing goal", lambda d: d.pop("goal"), "goal"),
    (
        "undeclared fact",
        lambda d: d["functions"][2].update(adds=["door_opn"]),
        'functions[2].adds[0]: fact "door_opn" is not declared',
    ),
    ("wrong type", lambda d: d.update(max_steps="twelve"), "max_steps"),
    ("unknown key", lambda d: d.update(colour="red"), "colour"),
    ("unreachable goal", lambda d: d["functions"].pop(2), "no plan reaches it"),
    ("wrong optimal_steps", lambda d: d.update(optimal_steps=2), "optimal_steps"),
    ("cost in an undeclared pool", lambda d: d["functions"][0]["cost"].update(pool="gpu"), "gpu"),
    ("negative capacity", lambda d: d["pools"]["cpu"].update(cpu=-1), "cpu"),
    ("goal holds at the start", lambda d: d.update(initial=["door_open"]), "already holds"),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), BAD_LEVELS, ids=[c[0] for c in BAD_LEVELS])
def test_malformed_levels_name_file_field_and_reason(case: str, mutate: object, expected: str) -> None:
    doc = _doc()
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(ValidationError) as err:
        QuestLevel.from_json(json.dumps(doc), source="bad.json")
    assert str(err.value).startswith("bad.json: ")
    assert expected in str(err.value), str(err.value)


def test_hostile_documents_fail_fast_and_cleanly(tmp_path: Path) -> None:
    doc = _doc()
    doc["functions"] = [{"name": f"f{i}", "adds": ["lamp_on"]} for i in range(10_000)]
    started = time.perf_counter()
    with pytest.raises(ValidationError, match="grounded calls"):
        QuestLevel.from_json(json.dumps(doc), source="huge.json")
    deep = '{"format": "function-quest/1", "x-deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(ValidationError, match="deep.json"):
        QuestLevel.from_json(deep, source="deep.json")
    noise = tmp_path / "noise.json"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValidationError, match="noise.json"):
        QuestLevel.load(noise)
    with pytest.raises(ValidationError, match="not valid YAML"):
        QuestLevel.from_yaml("facts: [a, b\n  - : :", source="broken.yaml")
    # A function that changes nothing, forever available: the level is unsolvable, not a hang.
    doc = _doc()
    doc["functions"] = [{"name": "spin", "returns": "Round and round."}]
    with pytest.raises(ValidationError, match="no plan reaches it"):
        QuestLevel.from_json(json.dumps(doc), source="spin.json")
    assert time.perf_counter() - started < 5
    with pytest.raises(ValidationError, match="no such file"):
        load_level("no-such-level")


def test_generated_levels_are_deterministic_solvable_and_grow_with_the_band() -> None:
    assert generate_document(3, 9) == generate_document(3, 9)
    assert generate_document(3, 9) != generate_document(4, 9)
    plan_lengths = []
    for band in range(1, 21):
        levels = [generate(seed, band) for seed in range(3)]
        for level in levels:
            assert level.band == band
            assert play(level, level.plan_actions).won
            assert level.story
            assert all(c["description"] for c in level.calls)
        plan_lengths.append(sum(lvl.optimal_steps for lvl in levels) / len(levels))
    assert plan_lengths[19] > plan_lengths[10] > plan_lengths[0]
    assert generate(1, 2).visibility == "hidden"
    assert generate(1, 7).visibility == "indicators"
    assert any(c["args"] for c in generate(0, 18).calls), "parameters appear in the high bands"
    with pytest.raises(ValidationError, match="band"):
        generate(0, 21)
    with pytest.raises(ValidationError, match="seed"):
        generate(-1, 3)
