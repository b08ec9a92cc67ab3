"""Profiles, Pareto frontier, recommendation and `ecoai optimize` on the real H200 profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.app.cli import main
from oracle.errors import UsageError
from oracle.optimize.pareto import (
    Constraints,
    Prices,
    Weights,
    cost_per_item,
    default_row,
    dominates,
    frontier,
    objectives,
    recommend,
    recommended_configuration,
)
from oracle.optimize.profile import (
    COLUMNS,
    CPU_DIGITS_PROFILE,
    H200_DIGITS_PROFILE,
    H200_PROFILE,
    ProfileError,
    ProfileRow,
    format_profile,
    load_profile,
    parse_profile,
)


@pytest.fixture(scope="module")
def h200() -> list[ProfileRow]:
    return load_profile(H200_PROFILE)


def test_h200_profile_loads_with_blank_quality(h200: list[ProfileRow]) -> None:
    assert len(h200) == 12
    assert all(r.quality is None for r in h200)
    assert {r.precision for r in h200} == {"fp32", "bf16", "fp16"}


def test_slo_recommendation_is_lowest_energy_feasible(h200: list[ProfileRow]) -> None:
    rec = recommend(h200, Constraints(latency_slo_ms=0.25))
    feasible = [r for r in h200 if r.latency_ms <= 0.25]
    assert rec.row == min(feasible, key=lambda r: r.energy_j_per_item)
    assert (rec.row.precision, rec.row.batch) == ("bf16", 64)
    # default = fp32 at the largest batch
    assert (rec.default.precision, rec.default.batch) == ("fp32", 512)
    assert rec.saving.energy_pct == pytest.approx(100 * (1 - 0.0012263 / 0.00361002))


def test_frontier_is_exactly_the_non_dominated_feasible_set(h200: list[ProfileRow]) -> None:
    c = Constraints(latency_slo_ms=0.25)
    front = frontier(h200, c)
    feasible = [r for r in h200 if c.admits(r)]
    obj = {r: tuple(objectives([r], Prices())[0]) for r in feasible}
    expected = [r for r in feasible if not any(dominates(obj[o], obj[r]) for o in feasible)]
    assert front == expected
    assert {(r.precision, r.batch) for r in front} == {("fp32", 1), ("bf16", 64)}


def test_weights_trade_energy_for_latency(h200: list[ProfileRow]) -> None:
    fastest = recommend(h200, Constraints(0.25), Weights(0, 0, 1)).row
    assert (fastest.precision, fastest.batch) == ("fp32", 1)
    balanced = recommend(h200, Constraints(0.25), Weights(1, 1, 1)).row
    assert balanced in frontier(h200, Constraints(0.25))


def test_node_helper_returns_the_row(h200: list[ProfileRow]) -> None:
    assert recommended_configuration(h200, latency_slo_ms=0.25).batch == 64
    with pytest.raises(UsageError):
        recommended_configuration(h200, latency_slo_ms=0.01)


def test_cost_per_item_uses_both_prices(h200: list[ProfileRow]) -> None:
    r = h200[0]
    assert cost_per_item(r, Prices(0.0, 3.6)) == pytest.approx(0.001 / r.items_per_s)
    assert cost_per_item(r, Prices(3.6e6, 0.0)) == pytest.approx(r.energy_j_per_item)


def row_strategy() -> st.SearchStrategy[ProfileRow]:
    pos = st.floats(min_value=1e-4, max_value=1e4, allow_nan=False, allow_infinity=False)
    return st.builds(
        ProfileRow,
        gpu=st.just("G"), workload=st.just("w"), precision=st.sampled_from(["fp32", "bf16", "int8"]),
        batch=st.integers(1, 1024), power_limit_w=st.sampled_from([None, 300.0, 700.0]),
        items_per_s=pos, latency_ms=pos, energy_j_per_item=pos, mean_power_w=pos,
        quality=st.one_of(st.none(), st.floats(0.5, 1.0)),
    )


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(row_strategy(), min_size=1, max_size=25),
       slo=st.one_of(st.none(), st.floats(1e-3, 1e4)), weights=st.tuples(*[st.floats(0, 5)] * 3))
def test_frontier_and_recommendation_properties(rows: list[ProfileRow], slo: float | None,
                                                weights: tuple[float, float, float]) -> None:
    c = Constraints(latency_slo_ms=slo)
    feasible = [r for r in rows if c.admits(r)]
    if not feasible:
        with pytest.raises(UsageError):
            frontier(rows, c)
        return
    prices = Prices()
    front = frontier(rows, c, prices)
    obj = [tuple(o) for o in objectives(feasible, prices)]
    for i, r in enumerate(feasible):
        dominated = any(dominates(obj[j], obj[i]) for j in range(len(feasible)))
        assert (not dominated) == any(f is r for f in front)
    if any(w > 0 for w in weights):
        rec = recommend(rows, c, Weights(*weights), prices)
        assert any(f is rec.row for f in front)
    greenest = recommend(rows, c).row
    assert greenest.energy_j_per_item == min(r.energy_j_per_item for r in feasible)


def test_default_row_falls_back_to_first_row() -> None:
    text = format_profile([ProfileRow("G", "w", "bf16", 4, None, 1.0, 1.0, 1.0, 1.0, None),
                           ProfileRow("G", "w", "int8", 8, None, 1.0, 1.0, 1.0, 1.0, None)])
    rows = parse_profile(text)
    assert default_row(rows) == rows[0]


def test_format_roundtrip(h200: list[ProfileRow]) -> None:
    assert parse_profile(format_profile(h200, ["provenance line"])) == h200


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty profile"),
        (",".join(COLUMNS) + "\n", "empty profile"),
        (",".join(COLUMNS) + ",watts\n", "unknown column(s) watts"),
        ("gpu,workload\nG,w\n", "missing column(s)"),
        (",".join(COLUMNS) + "\nG,w,fp32,x,700,1,1,1,1,\n", "'batch' is not a number"),
        (",".join(COLUMNS) + "\nG,w,fp32,8,700,1,1,-1,1,\n", "must be a finite number >= 0"),
        (",".join(COLUMNS) + "\nG,w,fp32,8,700,1,1,1,1,\nG,w,fp32,8,700,1,1,1,1,\n", "duplicate configuration"),
    ],
)
def test_bad_profiles_raise_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_profile(text)


def test_cli_json_has_frontier_recommendation_and_saving(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "frontier.png"
    rc = main(["optimize", "--profile", str(H200_PROFILE), "--latency-slo-ms", "0.25", "--json",
               "--plot", str(png)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["recommendation"]) == set(COLUMNS)
    assert (out["recommendation"]["precision"], out["recommendation"]["batch"]) == ("bf16", 64)
    assert all(set(r) == set(COLUMNS) for r in out["frontier"])
    assert len(out["frontier"]) == 2
    assert out["saving"]["energy_pct"] == pytest.approx(66.03, abs=0.01)
    assert out["default_meets_constraints"] is False  # fp32 b512 takes longer than 0.25 ms per call
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["optimize", "--profile", str(H200_PROFILE), "--latency-slo-ms", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "Recommended:" in out and "bf16 b64" in out and "Saving vs default: 66.0 %" in out
    assert "the default does not meet latency <= 0.25 ms" in out
    assert main(["optimize", "--profile", str(H200_PROFILE)]) == 0
    assert "the default does not meet" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--latency-slo-ms", "0.1"], "no configuration meets latency <= 0.1 ms"),
        (["--min-quality", "0.9"], "no configuration meets quality >= 0.9"),
        (["--weights", "1,2"], "--weights wants three numbers"),
        (["--weights", "0,0,0"], "weights must be >= 0 and not all zero"),
        (["--latency-slo-ms", "-1"], "argument --latency-slo-ms: expected a number > 0"),
        (["--predict-batches", "8,x"], "argument --predict-batches: expected comma-separated positive integers"),
    ],
)
def test_cli_impossible_or_bad_constraints_exit_2(args: list[str], message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["optimize", "--profile", str(H200_PROFILE), *args])
    except SystemExit as exc:  # argparse's value checks (oracle.cliargs)
        code = int(exc.code or 0)
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty profile"),
        (",".join(COLUMNS) + ",extra\n", "unknown column(s) extra"),
    ],
)
def test_cli_bad_profile_files_exit_2(content: str, message: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "p.csv"
    f.write_text(content)
    assert main(["optimize", "--profile", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert main(["optimize", "--profile", str(tmp_path / "missing.csv")]) == 2


def test_committed_cpu_profile_is_valid_and_labelled() -> None:
    rows = load_profile(CPU_DIGITS_PROFILE)
    assert {r.precision for r in rows} == {"fp32", "bf16", "int8"}
    assert all(r.quality is not None and 0.8 <= r.quality <= 1.2 for r in rows)
    head = CPU_DIGITS_PROFILE.read_text().splitlines()[:4]
    assert any(line.startswith("# energy method: estimated") or line.startswith("# energy method: measured")
               for line in head)


def test_committed_gpu_profile_is_nvml_measured() -> None:
    path = H200_DIGITS_PROFILE
    rows = load_profile(path)
    assert {r.precision for r in rows} == {"fp32", "bf16"} and all(r.power_limit_w == 700.0 for r in rows)
    assert "# energy method: measured: NVML" in path.read_text()
    rec = recommend(rows, Constraints(latency_slo_ms=0.1))
    assert rec.row.energy_j_per_item == min(r.energy_j_per_item for r in rows if r.latency_ms <= 0.1)


# --- currency and the frontier chart --------------------------------------------------------------------------------
def test_cli_text_shows_the_documented_currency(capsys: pytest.CaptureFixture[str]) -> None:
    # README: --energy-price EUR_PER_KWH, --gpu-hour-price EUR; every cost figure carries the unit.
    assert main(["optimize", "--profile", str(H200_PROFILE), "--energy-price", "0.2", "--gpu-hour-price", "2.5"]) == 0
    out = capsys.readouterr().out
    assert "$" not in out
    assert "prices 0.2 EUR/kWh, 2.5 EUR/GPU-hour" in out.splitlines()[0]
    cost_lines = [line for line in out.splitlines() if "J/item" in line]
    assert cost_lines and all(" EUR/item " in line for line in cost_lines)
    assert " EUR)" in next(line for line in out.splitlines() if line.startswith("Saving vs default"))
    assert main(["optimize", "--profile", str(H200_PROFILE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prices"]["currency"] == "EUR"


def test_help_names_the_currency(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["optimize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--energy-price EUR_PER_KWH" in text and "EUR per kWh" in text and "EUR per GPU-hour" in text


def test_one_configuration_is_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "one.csv"
    profile.write_text(format_profile([ProfileRow("G", "w", "fp32", 8, None, 100.0, 1.0, 0.5, 50.0, None),
                                       ProfileRow("G", "w", "bf16", 8, None, 50.0, 2.0, 0.9, 50.0, None)]))
    assert main(["optimize", "--profile", str(profile)]) == 0
    assert capsys.readouterr().out.startswith("Pareto frontier (1 configuration, ")


@pytest.mark.parametrize("profile", [H200_PROFILE, H200_DIGITS_PROFILE, CPU_DIGITS_PROFILE],
                         ids=lambda p: p.stem)
@pytest.mark.parametrize("slo", [None, 0.25])
def test_frontier_chart_labels_never_overlap(profile: Path, slo: float | None) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from oracle.optimize.cli import frontier_figure

    rows = load_profile(profile)
    rec = recommend(rows, Constraints(latency_slo_ms=slo))
    fig, placed, listed = frontier_figure(rec, rows)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        frame = ax.get_window_extent(renderer)
        boxes = [(a.get_text(), Text.get_window_extent(a, renderer)) for a in placed]
        assert len(boxes) >= len(rec.frontier) // 2  # the chart is labelled, not emptied to avoid overlaps
        for i, (text_a, a) in enumerate(boxes):
            assert frame.x0 <= a.x0 and a.x1 <= frame.x1 and frame.y0 <= a.y0 and a.y1 <= frame.y1, text_a
            for text_b, b in boxes[i + 1:]:
                assert not a.overlaps(b), f"labels {text_a!r} and {text_b!r} overlap"
        # Every label on the axes (tick labels included) is clear of the point labels' boxes too.
        for tick in [*ax.get_xticklabels(which="both"), *ax.get_yticklabels(which="both")]:
            if tick.get_text() and tick.get_visible():
                tick_box = tick.get_window_extent(renderer)
                assert not any(tick_box.overlaps(box) for _, box in boxes), tick.get_text()
        # Every frontier configuration, the recommendation and the default are named: on the chart or listed.
        key = {r.label() for r in (*rec.frontier, rec.row, rec.default)}
        assert key <= {text for text, _ in boxes} | set(listed)
        legend = ax.get_legend().get_window_extent(renderer)
        assert legend.x0 >= frame.x1  # the legend is outside the axes, over no point or label
    finally:
        plt.close(fig)


def test_cli_writes_the_frontier_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "frontier.png"
    assert main(["optimize", "--profile", str(CPU_DIGITS_PROFILE), "--plot", str(png)]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1080, 600)  # 9 x 5 in at 120 dpi
    assert main(["optimize", "--profile", str(CPU_DIGITS_PROFILE), "--plot", str(tmp_path / "no" / "x.png")]) == 2
    assert "cannot write plot" in capsys.readouterr().err
