"""Procedural levels: ``generate(seed, band)`` builds a valid, solvable `function-quest/1` level.

A generated level plants one chain of work per sub-goal (each step needs the previous one), then
adds what the band asks for: parameters (a setting to choose, only one right), distractor
functions (decoys that waste steps, traps that undo progress), resource pressure (a small pool
and heavy calls that hold it for several steps, so chains must be interleaved), and dearer
shortcuts (fewer steps, more resources). The story and every description come from the same
plan, so a reader can solve the level from the text. Same seed and band, same level.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from typing import Any

from symphony_pit import QuestLevel, ValidationError

_THEMES: list[dict[str, Any]] = [
    {
        "name": "observatory",
        "title": "Night at the {place} Observatory",
        "places": ["Harrow Hill", "Cold Fell", "Saltmarsh", "Lantern Point"],
        "opening": "Clouds are clearing over {place}, and the director wants {goal} before dawn.",
        "nouns": ["telescope", "dome", "mirror", "camera", "clock", "filter", "mount", "logbook"],
    },
    {
        "name": "bakery",
        "title": "Morning Rush at {place} Bakery",
        "places": ["Juniper Lane", "Old Quay", "Market Cross", "Willowbrook"],
        "opening": "The doors of {place} open at seven, and the first customers expect {goal}.",
        "nouns": ["oven", "dough", "starter", "tray", "glaze", "counter", "mixer", "till"],
    },
    {
        "name": "workshop",
        "title": "The {place} Workshop Order",
        "places": ["Ironbridge", "Copperfield", "Northgate", "Kiln Yard"],
        "opening": "A courier waits at the {place} workshop; the order is ready only with {goal}.",
        "nouns": ["lathe", "frame", "gear", "spring", "casing", "drill", "varnish", "crate"],
    },
    {
        "name": "lab",
        "title": "Deadline at the {place} Lab",
        "places": ["Fenwick", "Ashgrove", "Riverside", "Blackstone"],
        "opening": "The grant review at {place} is tomorrow; the team needs {goal}.",
        "nouns": ["sample", "centrifuge", "sequencer", "buffer", "plate", "freezer", "report", "model"],
    },
]

# (verb, state the noun is in afterwards)
_VERBS = [
    ("clean", "cleaned"),
    ("inspect", "inspected"),
    ("calibrate", "calibrated"),
    ("assemble", "assembled"),
    ("charge", "charged"),
    ("align", "aligned"),
    ("seal", "sealed"),
    ("label", "labelled"),
    ("warm", "warmed"),
    ("test", "tested"),
]
_SETTINGS = ["low", "medium", "high"]


@dataclass(frozen=True)
class BandShape:
    """What a band asks of a generated level."""

    chains: int
    chain_length: int
    params: int
    decoys: int
    traps: int
    heavy: int
    shortcuts: int
    pressure: bool

    @staticmethod
    def of(band: int) -> BandShape:
        group = (band - 1) // 5  # 0 sequencing, 1 resources, 2 optimisation, 3 orchestration
        within = (band - 1) % 5
        chains = 1 if group == 0 else 2 if group < 3 else 3
        return BandShape(
            chains=chains,
            # Plans grow with the band: 3 steps at band 1, about 15 at band 20.
            chain_length=3 + within // 2 if group == 0 else 2 + (band - 1) // 4 - (1 if chains == 3 else 0),
            params=0 if group < 2 else 1 + within // 3,
            decoys=min(1 + band // 4, 3),
            traps=0 if band < 3 else min(band // 6 + 1, 3),
            heavy=0 if group == 0 else 1 + within // 2,
            shortcuts=0 if group < 2 else 1,
            pressure=group >= 1,
        )


@functools.lru_cache(maxsize=1024)
def generate(seed: int, band: int) -> QuestLevel:
    """A solvable level of difficulty ``band`` (1–20); the same seed gives the same level.

    >>> level = generate(seed=7, band=12)
    >>> level.band, level.optimal_steps > 0
    (12, True)

    Levels are cached per process (solving the hardest bands takes up to ~0.2 s).
    """
    return QuestLevel.from_json(json.dumps(generate_document(seed, band)), source=f"generate(seed={seed}, band={band})")


def generate_document(seed: int, band: int) -> dict[str, Any]:
    """The level document `generate` loads (a plain ``function-quest/1`` dict)."""
    if isinstance(band, bool) or not isinstance(band, int) or not 1 <= band <= 20:
        raise ValidationError(f"band must be an integer from 1 to 20, got {band!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError(f"seed must be a non-negative integer, got {seed!r}")
    rng = random.Random(seed * 1_000 + band)
    shape = BandShape.of(band)
    theme = rng.choice(_THEMES)
    place = rng.choice(theme["places"])
    nouns = rng.sample(theme["nouns"], shape.chains)
    facts: list[str] = []
    functions: list[dict[str, Any]] = []
    goal: list[str] = []
    chain_facts: list[list[str]] = []
    heavy_left = shape.heavy
    shortcuts_left = shape.shortcuts
    params_left = shape.params

    for noun in nouns:
        verbs = rng.sample(_VERBS, shape.chain_length)
        steps: list[str] = []
        previous: str | None = None
        tuned_this_chain = False
        for i, (verb, state) in enumerate(verbs):
            fact = f"{noun}_{state}"
            facts.append(fact)
            fn: dict[str, Any] = {
                "name": f"{verb}_{noun}",
                "description": f"{verb.capitalize()} the {noun}."
                + (f" Only possible once the {noun} is {_state_of(previous)}." if previous else ""),
                "requires": [previous] if previous else [],
                "forbids": [fact],
                "adds": [fact],
                "returns": f"The {noun} is {state}.",
                "fails": f"The {noun} is not ready to be {state}." if previous else f"The {noun} is already {state}.",
            }
            if params_left and not tuned_this_chain and previous is not None:
                params_left -= 1
                tuned_this_chain = True
                right = rng.choice(_SETTINGS)
                tuned = [f"{noun}_at_{s}" for s in _SETTINGS]
                facts.extend(tuned)
                functions.append(
                    {
                        "name": f"set_{noun}",
                        "params": {"level": list(_SETTINGS)},
                        "description": f"Set the {noun} to a level. The manual says {verb}ing needs it at {right}.",
                        "requires": [previous],
                        "forbids": [f"{noun}_at_{s}" for s in _SETTINGS],
                        "adds": [f"{noun}_at_{{level}}"],
                        "returns": f"The {noun} hums at {{level}}.",
                        "fails": f"The {noun} is already set (or not yet {_state_of(previous)}).",
                    }
                )
                fn["requires"] = [previous, f"{noun}_at_{right}"]
                fn["description"] += f" The {noun} must be set to {right} first."
            if heavy_left and shape.pressure and rng.random() < 0.7:
                heavy_left -= 1
                fn["cost"] = {"pool": "workers", "cpu": 2, "memory_mb": 512, "steps": 3}
                fn["description"] += " Slow: it keeps two workers busy for three steps."
            elif shape.pressure:
                fn["cost"] = {"pool": "workers", "cpu": 1, "memory_mb": 256, "steps": 1}
            if i == len(verbs) - 1:
                fn["produces"] = f"{noun}_{state}_record"
            functions.append(fn)
            steps.append(fact)
            previous = fact
        if shortcuts_left and len(steps) >= 3:
            shortcuts_left -= 1
            skip_from, skip_to = steps[0], steps[2]
            functions.append(
                {
                    "name": f"rush_{noun}",
                    "description": f"Rush the {noun} from {_state_of(skip_from)} straight to {_state_of(skip_to)}. "
                    "Saves a step, but it is greedy: three workers and plenty of memory for four steps.",
                    "requires": [skip_from],
                    "forbids": [skip_to],
                    "adds": [steps[1], skip_to],
                    "returns": f"The {noun} is rushed through; it is {_state_of(skip_to)}.",
                    "fails": f"The {noun} cannot be rushed right now.",
                    "cost": {"pool": "workers", "cpu": 3, "memory_mb": 2048, "steps": 4},
                }
            )
        goal.append(steps[-1])
        chain_facts.append(steps)

    decoy_names: list[str] = []
    for _ in range(shape.decoys):
        noun = rng.choice(theme["nouns"])
        verb, state = rng.choice(_VERBS)
        fact = f"spare_{noun}_{state}"
        if fact in facts:
            continue
        facts.append(fact)
        decoy_names.append(fact)
        functions.append(
            {
                "name": f"{verb}_spare_{noun}",
                "description": f"{verb.capitalize()} the spare {noun}. Nobody asked for it.",
                "forbids": [fact],
                "adds": [fact],
                "returns": f"The spare {noun} is {state}. It changes nothing that matters.",
                "fails": f"The spare {noun} is already {state}.",
                **({"cost": {"pool": "workers", "cpu": 1, "memory_mb": 256, "steps": 1}} if shape.pressure else {}),
            }
        )
    for k in range(shape.traps):
        steps = chain_facts[k % len(chain_facts)]
        target = steps[rng.randrange(len(steps))]
        noun = target.split("_")[0]
        functions.append(
            {
                "name": f"tidy_{noun}" if k < len(chain_facts) else f"tidy_{noun}_again",
                "description": f"Tidy the {noun} away. Careful: tidying undoes its being {_state_of(target)}.",
                "requires": [target],
                "removes": [target],
                "returns": f"The {noun} is tidied away; it is no longer {_state_of(target)}.",
                "fails": f"There is nothing to tidy on the {noun}.",
            }
        )
    rng.shuffle(functions)

    goal_text = " and ".join(f"the {_noun_of(g)} {_state_of(g)}" for g in goal)
    story = [theme["opening"].format(place=place, goal=goal_text)]
    for steps in chain_facts:
        noun = _noun_of(steps[0])
        order = ", then ".join(_state_of(s) for s in steps)
        story.append(f"The {noun} must be {order}.")
    if shape.pressure:
        story.append(
            "Only three workers are on shift: every job takes at least one of them, and the slow jobs "
            "keep two busy for three steps, so plan what runs side by side."
        )
    if shape.shortcuts:
        story.append("Rushing saves time but burns workers and memory; the cheapest plan avoids it.")
    if decoy_names:
        story.append("Plenty of spare equipment lies around; none of it matters tonight.")
    total_steps = sum(len(s) for s in chain_facts) + shape.params
    doc: dict[str, Any] = {
        "format": "function-quest/1",
        "id": f"gen-b{band:02d}-s{seed}",
        "title": theme["title"].format(place=place),
        "band": band,
        "story": " ".join(story),
        "facts": sorted(set(facts)),
        "initial": [],
        "goal": goal,
        "success": f"Everything is ready at {place}. Well conducted!",
        "max_steps": 3 * total_steps + 6,
        "functions": functions,
        "x-generator": {"seed": seed, "band": band, "theme": theme["name"]},
    }
    if shape.pressure:
        doc["pools"] = {"workers": {"cpu": 3, "memory_mb": 4096}}
    return doc


def _noun_of(fact: str) -> str:
    return fact.split("_")[0]


def _state_of(fact: str | None) -> str:
    return "" if fact is None else fact.split("_", 1)[1].replace("_", " ")
