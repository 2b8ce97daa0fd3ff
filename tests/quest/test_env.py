"""FunctionQuest-v0 through Gymnasium: checkers, vector env, rendering, bad input, the Pit as
physics, and the baselines."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from function_quest import (
    FunctionQuestEnv,
    FunctionQuestVectorEnv,
    GreedyPolicy,
    RandomPolicy,
    SolverPolicy,
    campaign,
    evaluate,
    generate,
)
from symphony_pit import Pit, QuestLevel, ValidationError


def test_gymnasium_and_sb3_checkers_pass() -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(gym.make("FunctionQuest-v0", level="grand-symphony").unwrapped, skip_render_check=False)
        check_env(gym.make("FunctionQuest-v0", levels="campaign", render_mode="ansi").unwrapped)
    sb3_check_env(FunctionQuestEnv(band=12), warn=True)


def test_make_plays_a_level_to_a_win_with_story_and_score() -> None:
    env = gym.make("FunctionQuest-v0", level="locked-study", render_mode="ansi")
    obs, info = env.reset(seed=0)
    assert "dusty study" in str(env.render())
    assert obs["facts"].dtype == np.int8
    assert obs["preconditions"].shape == (64, 64)
    mask = env.unwrapped.action_masks()  # type: ignore[attr-defined]
    assert mask[:4].all()
    assert not mask[4:].any()
    total = 0.0
    for action in (0, 1, 3):
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
    assert terminated
    assert not truncated
    assert info["won"]
    assert info["tier"] == "Grand Maestro"
    assert info["score"] == 200.0
    assert total == pytest.approx(2.0)
    assert "You are free!" in info["message"]
    assert "You are free!" in str(env.render())
    with pytest.raises(ValidationError, match="reset"):
        env.step(0)


def test_kept_observations_never_change_whatever_the_caller_does_with_them() -> None:
    env = FunctionQuestEnv(level="locked-study")
    first, _ = env.reset(seed=0)
    kept = {key: value.copy() for key, value in first.items()}
    facts_view = first["facts"][:8]  # a view keeps its base array alive
    del first
    expected = []
    for action in (0, 2, 1):  # drop some observations, damage others before dropping them
        obs, *_ = env.step(action)
        expected.append({key: value.copy() for key, value in obs.items()})
        obs["goal"][:] = 1
        obs["costs"].shape = (obs["costs"].size,)
        obs["preconditions"].flags.writeable = False
        del obs
    np.testing.assert_array_equal(facts_view, kept["facts"][:8])
    # The same moves again from a reset replay the same observations, undamaged.
    again = FunctionQuestEnv(level="locked-study")
    held = [again.reset(seed=0)[0]]
    for action, want in zip((0, 2, 1), expected, strict=True):
        obs, *_ = again.step(action)
        held.append(obs)
        for key, value in want.items():
            np.testing.assert_array_equal(obs[key], value, err_msg=key)
    assert len({id(obs["facts"]) for obs in held}) == len(held), "arrays still held are never reused"
    first_again = FunctionQuestEnv(level="locked-study").reset(seed=0)[0]
    for key, value in held[0].items():
        np.testing.assert_array_equal(value, first_again[key], err_msg=key)


def test_bad_actions_and_arguments_get_clear_errors() -> None:
    env = FunctionQuestEnv(level="locked-study")
    env.reset(seed=1)
    for bad in (64, -1):
        with pytest.raises(ValidationError, match="out of range"):
            env.step(bad)
    for wrong in (1.5, "0", None, True, np.zeros(2, np.int64)):
        with pytest.raises(ValidationError, match="integer"):
            env.step(wrong)
    assert env.game.steps == 0, "refused actions change nothing"
    _, _, _, _, info = env.step(np.int64(40))  # an empty slot: a legal failed call
    assert info["outcome"] == "failed"
    assert "no call in slot 40" in info["message"]
    with pytest.raises(ValidationError, match="exactly one of"):
        FunctionQuestEnv(level="locked-study", band=3)
    with pytest.raises(ValidationError, match="band"):
        FunctionQuestEnv(band=0)
    with pytest.raises(ValidationError, match="render_mode"):
        FunctionQuestEnv(level="locked-study", render_mode="human")


def test_reset_picks_levels_deterministically_by_seed() -> None:
    env = FunctionQuestEnv(levels="campaign")
    picks = [env.reset(seed=s)[1]["level"] for s in range(10)]
    again = [env.reset(seed=s)[1]["level"] for s in range(10)]
    assert picks == again
    assert len(set(picks)) > 3
    assert env.reset(options={"level": 19})[1]["level"] == "grand-symphony"


def test_vector_env_matches_single_envs_and_auto_resets() -> None:
    levels = campaign(range(1, 11))
    envs = gym.make_vec("FunctionQuest-v0", num_envs=8, vectorization_mode="vector_entry_point", levels=levels)
    assert isinstance(envs.unwrapped, FunctionQuestVectorEnv)
    obs, info = envs.reset(seed=3)
    vec = envs.unwrapped
    singles = []
    for i in range(8):
        single = FunctionQuestEnv(levels=levels)
        single.reset(options={"level": int(info["level"][i])})
        singles.append(single)
    rng = np.random.default_rng(0)
    ended = np.zeros(8, bool)
    for _ in range(40):
        masks = vec.action_masks()
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        obs, rewards, terminated, truncated, info = envs.step(actions)
        for i, single in enumerate(singles):
            if ended[i]:  # next-step auto-reset: this step started a new episode
                assert info["outcome"][i] == 0
                assert rewards[i] == 0.0
                single.reset(options={"level": int(info["level"][i])})
                ended[i] = False
                continue
            s_obs, s_reward, s_term, s_trunc, _s_info = single.step(int(actions[i]))
            assert rewards[i] == pytest.approx(s_reward, abs=1e-6)
            assert (terminated[i], truncated[i]) == (s_term, s_trunc)
            for key in s_obs:
                np.testing.assert_array_equal(obs[key][i], s_obs[key], err_msg=key)
            ended[i] = s_term or s_trunc
    with pytest.raises(ValidationError, match="shape"):
        envs.step(np.zeros(3, np.int64))
    with pytest.raises(ValidationError, match="out of range"):
        envs.step(np.full(8, 99))


def test_copy_false_returns_the_engine_buffers() -> None:
    envs = FunctionQuestVectorEnv(num_envs=4, band=2, copy=False)
    first, _ = envs.reset(seed=0)
    second, *_ = envs.step(np.zeros(4, np.int64))
    assert first["facts"] is second["facts"]
    fresh = FunctionQuestVectorEnv(num_envs=4, band=2)
    a, _ = fresh.reset(seed=0)
    b, *_ = fresh.step(np.zeros(4, np.int64))
    assert not np.shares_memory(a["facts"], b["facts"])


def test_the_pit_is_the_physics_and_agrees_with_the_engine() -> None:
    pit = Pit()
    env = FunctionQuestEnv(levels=[*campaign(range(6, 21)), generate(0, 9), generate(1, 14)], pit=pit)
    rng = np.random.default_rng(7)
    for episode in range(30):
        env.reset(seed=episode)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(int(rng.integers(len(env.level))))
            done = terminated or truncated
            pit.pools.check_invariants()
    assert env.physics is not None
    assert env.physics.run_id is not None
    runs = pit.dags.to_pandas()
    assert len(runs) == 30
    assert runs["workflow"].str.startswith("quest:").all()
    stored = pit.artifacts.to_pandas()
    assert len(stored) > 0
    kinds = {e.kind for e in pit.poll_events(100_000)}
    assert {"model.allocated", "model.released", "artifact.stored", "node.state", "run.status"} <= kinds
    env.close()
    assert not [p for p in pit.pools.pools() if p["name"].startswith("quest-")]


def test_each_call_is_a_live_node_and_idle_models_are_released() -> None:
    pit = Pit()
    level = campaign([8])[0]
    env = FunctionQuestEnv(level=level, pit=pit)
    env.reset(seed=0)
    physics = env.physics
    assert physics is not None
    run = physics.run_id
    assert run is not None
    assert pit.dags.state(run, "episode") == "running"
    done = False
    for step, action in enumerate(level.plan_actions, start=1):
        _, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        node = f"{step:03d} {level.calls[action]['label']}"
        # There as soon as the call happened (a plan may wait out a busy pool with a failing call).
        assert pit.dags.state(run, node) == ("succeeded" if info["outcome"] == "succeeded" else "skipped")
        held = sum(1 for _ in physics._holds)
        models = sum(p["models"] for p in physics.pools())
        assert models == held  # released models were cooled by the Stale Manager, not left warm
    assert done
    assert pit.dags.state(run, "episode") == "succeeded"
    added = [e for e in pit.poll_events(100_000) if e.kind == "node.added"]
    assert len(added) == len(level.plan_actions)
    env.close()


def test_baselines_rank_solver_over_greedy_over_random() -> None:
    levels = campaign()
    solver = evaluate(SolverPolicy(), levels)
    greedy = evaluate(GreedyPolicy(), levels)
    random = evaluate(RandomPolicy(seed=0), levels, episodes=3)
    assert solver.summary["success_rate"] == 1.0
    assert (solver.levels["steps"] == solver.levels["optimal_steps"]).all()
    assert list(solver.levels.columns[:7]) == ["level", "band", "success", "steps", "optimal_steps", "score", "tier"]
    assert solver.summary["mean_score"] >= greedy.summary["mean_score"] >= random.summary["mean_score"]
    assert greedy.summary["success_rate"] > random.summary["success_rate"]
    assert "greedy" in greedy._repr_html_()


def test_the_env_says_what_it_is() -> None:
    from function_quest import FunctionQuestEnv

    env = FunctionQuestEnv(level="locked-study")
    env.reset(seed=0)
    env.step(0)
    assert repr(env) == "FunctionQuestEnv(level='locked-study', band=1, steps=1, score=0.0, won=False)"
    card = env._repr_html_()
    assert "The Locked Study" in card
    assert "<code>has_key</code>" in card


def test_a_won_episode_completes_its_run_even_after_a_failed_call() -> None:
    pit = Pit()
    level = campaign([1])[0]
    env = FunctionQuestEnv(level=level, pit=pit)
    env.reset(seed=0)
    assert env.physics is not None
    run = env.physics.run_id
    assert run is not None
    wrong = next(k for k in range(len(level)) if k not in level.plan_actions[:1])
    _, _, _, _, info = env.step(wrong)
    assert info["outcome"] == "failed"
    for action in level.plan_actions:
        *_, info = env.step(action)
    assert info["won"]
    assert pit.dags.status(run) == "completed"
    failed_call = next(r for r in pit.dags.nodes(run) if r["node"].startswith("001 "))
    assert failed_call["state"] == "skipped"
    assert failed_call["error"] == info_message(level, wrong)
    env.close()


def info_message(level: QuestLevel, action: int) -> str:
    return str(level.calls[action]["fails"])


def test_a_lost_episode_fails_and_one_never_played_is_cancelled() -> None:
    import gc

    pit = Pit()
    level = campaign([1])[0]
    env = FunctionQuestEnv(level=level, pit=pit)
    env.reset(seed=0)
    assert env.physics is not None
    unplayed = env.physics.run_id
    assert unplayed is not None
    env.reset(seed=1)  # reset again before any call
    assert pit.dags.status(unplayed) == "cancelled"
    lost = env.physics.run_id
    assert lost is not None
    wrong = next(k for k in range(len(level)) if k not in level.plan_actions[:1])
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(wrong)
        done = terminated or truncated
    assert pit.dags.status(lost) == "failed"
    env.reset(seed=2)
    dropped = env.physics.run_id
    assert dropped is not None
    del env  # never closed
    gc.collect()
    assert pit.dags.status(dropped) == "cancelled"
    assert not [p for p in pit.pools.pools() if p["name"].startswith("quest-")]


def test_the_sb3_vec_env_resets_on_the_same_step_and_loses_no_transition() -> None:
    from function_quest.sb3 import FunctionQuestSB3VecEnv

    level = campaign([1])[0]
    vec = FunctionQuestSB3VecEnv(num_envs=1, level=level.id)
    single = FunctionQuestEnv(level=level)
    vec.seed(0)
    first = vec.reset()
    single_obs, _ = single.reset(seed=0)
    assert all(np.array_equal(first[k][0], single_obs[k]) for k in first)
    rng = np.random.default_rng(3)
    episodes = 0
    for _ in range(200):
        action = int(rng.integers(len(level)))
        vec.step_async(np.array([action]))
        obs, rewards, dones, infos = vec.step_wait()
        expected, reward, terminated, truncated, _ = single.step(action)
        assert rewards[0] == pytest.approx(reward)  # every transition is a real one
        assert dones[0] == (terminated or truncated)
        if dones[0]:
            episodes += 1
            ended = infos[0]["terminal_observation"]
            assert all(np.array_equal(ended[k], expected[k]) for k in ended)
            assert infos[0]["TimeLimit.truncated"] == (truncated and not terminated)
            expected, _ = single.reset()
        assert all(np.array_equal(obs[k][0], expected[k]) for k in obs)  # the new episode, at once
    assert episodes > 5
    assert vec.action_masks().shape == (1, 64)
    assert vec.env_method("action_masks")[0].shape == (64,)
    with pytest.raises(ValidationError, match="seed"):
        vec.seed(-1)


def test_maskable_ppo_trains_on_the_sb3_vec_env_as_it_is() -> None:
    from function_quest.sb3 import FunctionQuestSB3VecEnv
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import VecEnv

    vec = FunctionQuestSB3VecEnv(num_envs=8, band=2)
    assert isinstance(vec, VecEnv)
    model = MaskablePPO("MultiInputPolicy", vec, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=512)
    assert model.num_timesteps >= 512


def test_the_solver_plans_from_any_state_and_names_every_optimal_first_call() -> None:
    rng = np.random.default_rng(11)
    for level in campaign(range(1, 11)):
        env = FunctionQuestEnv(level=level)
        env.reset(seed=0)
        taken = [int(rng.integers(len(level))) for _ in range(3)]  # wander off the optimal path
        for action in taken:
            env.step(action)
        plan = env.game.solve()
        if plan is None:
            assert env.game.optimal_actions() == []
            continue
        firsts = env.game.optimal_actions()
        assert not plan or plan[0] in firsts
        for action in firsts:  # each one starts a plan one call shorter
            probe = FunctionQuestEnv(level=level)
            probe.reset(seed=0)
            for past in taken:
                probe.step(past)
            *_, info = probe.step(action)
            rest = probe.game.solve()
            assert info["won"] or (rest is not None and len(rest) == len(plan) - 1)
        won = False
        for action in plan:  # the plan replays to a win in exactly its length
            *_, info = env.step(action)
            won = info["won"]
        assert won
        assert env.game.solve() == []


def test_valid_masks_agree_single_vector_and_sb3_and_never_leave_no_move() -> None:
    from function_quest.sb3 import FunctionQuestSB3VecEnv

    level = campaign([1])[0]
    env = FunctionQuestEnv(level=level)
    env.reset(seed=0)
    assert env.valid_action_masks()[: len(level)].tolist() == [True, False, False, False]  # the desk first
    vec = FunctionQuestVectorEnv(num_envs=16, band=6)
    vec.reset(seed=0)
    sb3 = FunctionQuestSB3VecEnv(num_envs=16, band=6, masks="valid")
    sb3.seed(0)
    sb3.reset()
    rng = np.random.default_rng(5)
    for _ in range(100):
        masks = vec.valid_action_masks()
        assert masks.any(axis=1).all()  # always a move
        assert not (masks & ~vec.action_masks()).any()  # never a padding slot
        assert np.array_equal(masks, sb3.action_masks())
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        vec.step(actions)
        vec.reset_done()  # as the SB3 adapter does, so the two stay in step
        sb3.step_async(actions)
        sb3.step_wait()
    with pytest.raises(ValidationError, match="masks must be"):
        FunctionQuestSB3VecEnv(num_envs=1, band=1, masks="everything")
