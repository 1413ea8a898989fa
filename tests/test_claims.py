"""Every claim of lt_utils.book.claims on small synthetic tables: one it must call reproduced, one it must not,
and the ranges and kinds of verdict (inconclusive, measured, never) on tables made to show them."""

import pandas as pd
import pytest

from lt_utils.book.claims import (
    CLAIMS,
    INCONCLUSIVE,
    MEASURED,
    NOT_MEASURED,
    NOT_PROTOCOL,
    NOT_REPRODUCED,
    NOT_RUN,
    NOT_RUN_YET,
    REPRODUCED,
    evaluate_claims,
    not_run_claims,
)
from lt_utils.book.compare import DIAGNOSTICS, compare_runs, run_diagnostics
from lt_utils.engine.models import build_model
from lt_utils.engine.pruning import remaining_percent
from lt_utils.lottery.presets import preset


def _pms(name, rounds):
    cfg = preset(name)
    model = build_model(cfg.model)
    params = dict(model.named_parameters())
    sizes = {n: params[n].numel() for n in model.layer_kinds}
    return [remaining_percent(sizes, model.layer_kinds, cfg.prune, r) for r in range(rounds + 1)]


def _table(pms, variants, iterations=50_000, train_acc_full=1.0):
    """Tidy rows for ``variants``: {name: f(round, p_m) -> (es_iteration, es_test_acc, final_test_acc)}.
    Each network is evaluated at 0, its early-stopping iteration (minimum validation loss) and the end."""
    rows = []
    for variant, curve in variants.items():
        for r, p_m in enumerate(pms):
            if variant != "iterative" and r == 0:  # controls start at round 1
                continue
            es, es_acc, final_acc = curve(r, p_m)
            for it, val_loss, acc in ((0, 2.0, 0.1), (es, 0.1, es_acc), (iterations, 0.2, final_acc)):
                rows.append({"variant": variant, "trial": 0, "replicate": 0, "round": r, "p_m": p_m,
                             "iteration": it, "val_loss": val_loss, "val_acc": acc, "test_loss": 0.0,
                             "test_acc": acc, "train_loss": 0.0, "train_acc": 1.0,
                             "train_acc_full": train_acc_full if it == iterations else float("nan"),
                             "train_loss_full": 0.0 if it == iterations else float("nan")})
    return pd.DataFrame(rows)


def _verdicts(claims):
    return {c.key: c.verdict for c in claims}


def lenet_claims(table, cfg=None):
    return evaluate_claims("lenet_imp", {"lenet": table}, {"lenet": cfg} if cfg else None)


def conv_claims(plain, dropout, dataset="cifar10"):
    tables = plain | {f"{m}_dropout": t for m, t in dropout.items()}
    return evaluate_claims("conv_dropout", tables, {name: preset(name, dataset=dataset, rounds=int(t["round"].max()))
                                                    for name, t in tables.items()})  # runs run to their end


VGG_PRESETS = {"lr 0.1 + warmup": "vgg19_lr01_warmup", "lr 0.1": "vgg19_lr01", "lr 0.01": "vgg19_lr001"}


def vgg_claims(tables):
    return evaluate_claims("vgg19_warmup", {VGG_PRESETS[label]: t for label, t in tables.items()})


LENET_PM = _pms("lenet", 18)


def _lenet_good():
    def ticket(r, p):
        acc = 0.98 if r == 0 else 0.985 if p > 4 else 0.981 if p > 3 else 0.97
        return (1000 if r == 0 else 500), acc, acc

    def reinit(r, p):
        acc = 0.982 if p > 25 else 0.975
        return 1000, acc, acc

    return _table(LENET_PM, {"iterative": ticket, "reinit": reinit, "oneshot": lambda r, p: (600, 0.983, 0.983)})


def _lenet_bad():
    def same(r, p):  # every pruned network, ticket or not, 2 pp below the original from the first round
        acc = 0.95 if r == 0 else 0.93
        return 1000, acc, acc

    return _table(LENET_PM, {"iterative": same, "reinit": same, "oneshot": lambda r, p: (1200, 0.94, 0.94)},
                  train_acc_full=0.9)


def test_lenet_claims_reproduced_on_a_table_with_every_effect():
    verdicts = _verdicts(lenet_claims(_lenet_good()))
    assert {"oneshot_es", "reinit_falls_21_1", "ticket_falls_2_9", "train_acc_full"} <= set(verdicts)
    assert set(verdicts.values()) == {REPRODUCED}, verdicts


def test_lenet_claims_not_reproduced_on_a_table_without_them():
    verdicts = _verdicts(lenet_claims(_lenet_bad()))
    assert set(verdicts.values()) == {NOT_REPRODUCED}, verdicts


def test_lenet_claims_read_old_tables_without_whole_training_set_columns():
    old = _lenet_good().drop(columns=["train_acc_full", "train_loss_full"])
    claims = {c.key: c for c in lenet_claims(old)}
    assert claims["train_acc_full"].this_run is None and claims["train_acc_full"].verdict == NOT_RUN
    short = _lenet_good().assign(iteration=lambda t: t["iteration"].clip(upper=3000))
    assert _verdicts(lenet_claims(short))["train_acc_full"] == NOT_RUN  # the paper's 100% is at 50K iterations


def _stopped_early(table, variant="reinit"):
    """``table`` as a patience run leaves it when every ``variant`` network stopped before the end."""
    last = (table["variant"] == variant) & (table["iteration"] == table["iteration"].max())
    metrics = ["val_loss", "val_acc", "test_loss", "test_acc", "train_loss", "train_acc", "train_acc_full",
               "train_loss_full"]
    return table.assign(**{m: table[m].mask(last) for m in metrics})


def test_lenet_claims_on_end_of_training_values_are_not_measured_where_networks_stopped():
    good = {c.key: c for c in lenet_claims(_lenet_good())}
    cut = {c.key: c for c in lenet_claims(_stopped_early(_lenet_good(), "iterative"))}  # prune_at="stop"
    assert cut["train_acc_full"].this_run is None and cut["train_acc_full"].verdict == NOT_MEASURED
    for key in set(good) - {"train_acc_full"}:  # the others read early-stopping values, which are all there
        assert (cut[key].this_run, cut[key].verdict) == (good[key].this_run, good[key].verdict), key
    # prune_at="end": only the controls stopped; the claim reads the tickets, which trained to the end
    controls = {c.key: c for c in lenet_claims(_stopped_early(_lenet_good(), "reinit"))}
    assert (controls["train_acc_full"].this_run, controls["train_acc_full"].verdict) == \
        (good["train_acc_full"].this_run, good["train_acc_full"].verdict)


def test_falling_onset_needs_every_sparser_pm_below():
    def reinit(r, p):  # below the original only at one P_m, back above at the sparser ones
        return 1000, (0.975 if 20 < p < 22 else 0.99), 0.98

    table = _lenet_good()
    table = pd.concat([table[table["variant"] != "reinit"], _table(LENET_PM, {"reinit": reinit})])
    claims = {c.key: c for c in lenet_claims(table)}
    falls = claims["reinit_falls_21_1"]
    assert falls.verdict == NOT_REPRODUCED and falls.this_run is None  # never falls for good: sparsest is 1.9%
    assert falls.shown() == "never, down to P_m 1.9%"  # written out, not a dash that reads "not measured"


CONV4_PM = _pms("conv4", 15)


def _conv4(good):
    def plain(r, p):
        if not good:
            return 3000, (0.72 if r == 0 else 0.71), 0.72
        return (3000 if r == 0 else 1000), (0.72 if r == 0 else 0.76), 0.72

    def reinit(r, p):  # good: later and less accurate, more so as P_m falls; bad: faster, and catching up
        return (3000, 0.75 - 0.002 * r, 0.72) if good else (2000, 0.715 + 0.001 * r, 0.72)

    def dropout(r, p):
        if not good:  # dropout lowers accuracy and no ticket stands out
            return 3000, 0.70, 0.70
        acc = 0.776 if r == 0 else (0.826 if abs(p - 7.6) < 1.5 else 0.78)
        return 3000, acc, acc

    plain_table = _table(CONV4_PM, {"iterative": plain, "reinit": reinit})
    plain_table["val_acc"] = plain_table["val_acc"].where(plain_table["round"] > 0, 0.749 if good else 0.6)
    return {"conv4": plain_table}, {"conv4": _table(CONV4_PM, {"iterative": dropout})}


def test_conv_claims_reproduced_and_not():
    good = _verdicts(conv_claims(*_conv4(good=True)))
    assert "conv4_dropout_best" in good
    assert {v for k, v in good.items() if k.startswith("conv4")} == {REPRODUCED}, good
    bad = _verdicts(conv_claims(*_conv4(good=False)))
    assert {v for k, v in bad.items() if k.startswith("conv4")} == {NOT_REPRODUCED}, bad
    assert list(good) == [c.key for c in not_run_claims("conv_dropout")]  # every claim of the page, in its order
    assert {v for k, v in good.items() if not k.startswith("conv4")} == {NOT_RUN_YET}  # Conv-2 and Conv-6 not run



def test_on_the_jpeg_copy_absolute_accuracy_claims_are_measured_with_the_caveat():
    on_copy = {c.key: c for c in conv_claims(*_conv4(good=True), dataset="cifar10_jpeg")}
    assert on_copy["conv4_unpruned"].shown() == "74.90 % (CIFAR-10, JPEG copy (quality 75): not comparable exactly)"
    absolute = ["conv4_unpruned", "conv4_dropout_best"]
    assert [k for k, c in on_copy.items() if c.caveat] == absolute  # of the claims measured
    assert {on_copy[k].verdict for k in absolute} == {MEASURED}  # not "reproduced" on data not comparable
    assert on_copy["conv4_unpruned"].rule.endswith("(not applied)")  # shown, and said not to judge it
    real = _verdicts(conv_claims(*_conv4(good=True)))
    assert {k: v for k, v in _verdicts(on_copy.values()).items() if k not in absolute} == \
        {k: v for k, v in real.items() if k not in absolute}  # the relative claims are judged as on CIFAR-10
    assert {real[k] for k in absolute} == {REPRODUCED}
    assert not any(c.caveat for c in conv_claims(*_conv4(good=True)))


VGG_PM = _pms("vgg19_lr01_warmup", 20)


def _vgg(ticket_acc, reinit_acc=None):
    def ticket(r, p):
        acc = 0.92 if r == 0 else ticket_acc(p)
        return 50_000, acc, acc

    curves = {"iterative": ticket}
    if reinit_acc is not None:
        curves["reinit"] = lambda r, p: (50_000, reinit_acc(p), reinit_acc(p))
    return _table(VGG_PM, curves, iterations=112_480)


def test_vgg_claims_reproduced():
    tables = {"lr 0.1 + warmup": _vgg(lambda p: 0.925), "lr 0.1": _vgg(lambda p: 0.90, lambda p: 0.90),
              "lr 0.01": _vgg(lambda p: 0.915 if p >= 3.5 else 0.85)}
    verdicts = _verdicts(vgg_claims(tables))
    assert verdicts == {"warmup_min_pm": REPRODUCED, "lr01_no_tickets": REPRODUCED, "lr001_within_1pp": REPRODUCED}


def test_vgg_claims_not_reproduced_by_one_lucky_pm():
    tables = {  # matching only at the sparsest P_m, not above it
        "lr 0.1 + warmup": _vgg(lambda p: 0.93 if p < 2 else 0.90),
        # tickets beat reinitialization by 3 pp at moderate sparsity, not at the sparsest
        "lr 0.1": _vgg(lambda p: 0.90, lambda p: 0.87 if p > 10 else 0.90),
        # 2 pp below the original at P_m ~10%
        "lr 0.01": _vgg(lambda p: 0.90 if 8 < p < 14 else 0.92)}
    assert set(_verdicts(vgg_claims(tables)).values()) == {NOT_REPRODUCED}


def test_vgg_claims_not_measured_where_networks_stopped_before_the_end():
    tables = {"lr 0.1 + warmup": _stopped_early(_vgg(lambda p: 0.925), "iterative"),
              "lr 0.1": _vgg(lambda p: 0.90, lambda p: 0.90)}
    assert _verdicts(vgg_claims(tables)) == {"warmup_min_pm": NOT_MEASURED, "lr01_no_tickets": REPRODUCED,
                                             "lr001_within_1pp": NOT_RUN_YET}  # every claim of the page, in order


@pytest.mark.parametrize("setting", ["lr 0.1 + warmup", "lr 0.01"])
def test_vgg_claims_not_run_when_the_run_stops_early(setting):
    table = _vgg(lambda p: 0.93)
    shallow = table[table["round"] <= 5]
    verdicts = _verdicts(vgg_claims({setting: shallow}))
    own = {"lr 0.1 + warmup": "warmup_min_pm", "lr 0.01": "lr001_within_1pp"}[setting]
    assert verdicts[own] == NOT_RUN  # its run stops short of the P_m it reads
    assert {v for k, v in verdicts.items() if k != own} == {NOT_RUN_YET}  # the other settings were never run


def test_compare_runs_puts_each_runs_number_and_verdict_side_by_side():
    good, bad = _lenet_good(), _lenet_bad()
    table = compare_runs({"good": (lenet_claims(good), run_diagnostics(good, 50_000)),
                          "bad": (lenet_claims(bad), run_diagnostics(bad, 50_000))})
    claims = lenet_claims(good)
    assert list(table.columns) == ["", "paper", "good", "bad"]
    assert len(table) == len(claims) + len(DIAGNOSTICS)
    first = table.iloc[0]
    assert first[""] == claims[0].claim and first["paper"] == claims[0].paper
    assert first["good"].endswith(f"({REPRODUCED})") and first["bad"].endswith(f"({NOT_REPRODUCED})")
    dense_es = table.set_index("").loc[DIAGNOSTICS["dense_es_iteration"]]
    assert (dense_es["good"], dense_es["bad"]) == ("1000.0", "1000.0")


def test_what_changed_names_the_verdicts_that_changed_and_every_diagnostic():
    from lt_utils.book.claims import Claim
    from lt_utils.book.compare import what_changed

    def claims(verdict_b):
        return [Claim("a", "tickets learn faster", "38%", 0.3, "", "reproduced"),
                Claim("b", "tickets are more accurate", "0.5 pp", 0.1, "pp", verdict_b)]

    diag = {name: 50.0 for name in DIAGNOSTICS}
    text = what_changed(("5,000 it.", claims("not reproduced"), diag),
                        ("20,000 it.", claims("reproduced"), diag | {"late_share": 12.0}))
    assert "1 of the claims both runs judge changed verdict: *tickets are more accurate*: not reproduced → " \
           "reproduced." in text
    assert "tickets learn faster" not in text
    assert f"{DIAGNOSTICS['late_share']}: 50.0 → 12.0" in text
    same = what_changed(("x", claims("reproduced"), diag), ("y", claims("reproduced"), diag))
    assert "0 of the claims both runs judge changed verdict." in same and "status" not in same
    unjudged = what_changed(("x", claims(NOT_RUN), diag), ("y", claims(NOT_MEASURED), diag))
    assert "0 of the claims both runs judge changed verdict. 1 claim judged by at most one of them changed status: " \
           f"*tickets are more accurate*: {NOT_RUN} → {NOT_MEASURED}." in unjudged


def test_variants_side_by_side_reads_each_run_at_the_same_sparsities():
    from pathlib import Path

    from lt_utils.book.compare import variants_side_by_side

    stored = pd.read_csv(next(Path(__file__).resolve().parents[1].glob("book/results/lenet-*.csv.gz")))
    shorter = stored[stored["iteration"] <= 2_000]  # the same run cut at 2,000 iterations: earlier minima
    table = variants_side_by_side({"all": stored, "cut": shorter}, p_ms=(21.1,))
    assert table.iloc[0][""] == "unpruned" and table["P_m (%)"].tolist()[1:] == ["21.1"] * (len(table) - 1)
    for _, row in table.iterrows():
        assert int(row["cut"].split(" it.")[0].replace(",", "")) <= 2_000
        assert int(row["all"].split(" it.")[0].replace(",", "")) >= int(row["cut"].split(" it.")[0].replace(",", ""))


# Ranges and the kinds of verdict

def _one_network(losses, accs, variant="iterative", trial=0, round_=0, p_m=100.0, test=None):
    """One network's evaluations every 100 iterations (``test``: its test accuracies; None: as ``accs``)."""
    test = accs if test is None else test
    return pd.DataFrame({"variant": variant, "trial": trial, "replicate": 0, "round": round_, "p_m": p_m,
                         "iteration": [100 * i for i in range(len(losses))], "val_loss": losses, "val_acc": accs,
                         "test_loss": 0.0, "test_acc": test, "train_loss": 0.0, "train_acc": 1.0})


def test_near_minimum_ranges_follow_the_jitter_definition():
    from lt_utils.book.noise import near_minimum_ranges

    # changes between evaluations: 1.0, 0.5, 0.02, 0.01, 0.03, 0.3 -> median 0.265 (the jitter)
    losses = [2.0, 1.0, 0.5, 0.52, 0.51, 0.54, 0.84]
    accs = [0.1, 0.5, 0.70, 0.71, 0.72, 0.69, 0.60]
    row = near_minimum_ranges(_one_network(losses, accs)).iloc[0]
    assert row["es_iteration"] == 200  # the minimum
    # within 0.265 of 0.5: iterations 200 to 500 (0.84 at 600 is not)
    assert (row["es_iteration_low"], row["es_iteration_high"]) == (200, 500)
    assert (row["es_test_acc_low"], row["es_test_acc_high"]) == (0.69, 0.72)
    # test measured only at the minimum (test_eval="where_read"): shifted by the validation accuracy's changes
    where_read = [float("nan")] * 2 + [0.65] + [float("nan")] * 4
    row = near_minimum_ranges(_one_network(losses, accs, test=where_read)).iloc[0]
    assert row["es_test_acc_low"] == pytest.approx(0.64) and row["es_test_acc_high"] == pytest.approx(0.67)


def _conv2_one_trial(ticket_es_spread):
    """Conv-2's unpruned network and its ticket at P_m 8.8%, one trial, 8,000 iterations. Both curves jitter
    by 0.2 between evaluations; the unpruned network's minimum (1.0) lies at 3,000, alone within that of it;
    the ticket's at 1,000, followed out to ``ticket_es_spread`` by losses within it (1.1 and 1.15)."""
    high = [2.0 + 0.2 * (i % 2) for i in range(81)]
    dense = high[:30] + [1.0] + high[31:]
    flat = ticket_es_spread // 100
    ticket = high[:10] + [1.0] + [1.1 + 0.05 * (i % 2) for i in range(11, flat + 1)] + high[flat + 1:]
    p_m = [p for p in _pms("conv2", 11) if abs(p - 8.8) < 0.3][0]
    return pd.concat([_one_network(dense, [0.6] * 81),
                      _one_network(ticket, [0.6] * 81, round_=11, p_m=p_m)], ignore_index=True)


def test_a_one_trial_range_that_straddles_the_threshold_is_inconclusive():
    clear = {c.key: c for c in evaluate_claims("conv_dropout", {"conv2": _conv2_one_trial(1_000)})}["conv2_es"]
    assert clear.this_run == 3.0 and clear.verdict == REPRODUCED  # 3,000 / 1,000 >= 2.25, no spread
    noisy = {c.key: c for c in evaluate_claims("conv_dropout", {"conv2": _conv2_one_trial(2_000)})}["conv2_es"]
    assert noisy.this_run == 3.0 and (noisy.low, noisy.high) == (1.5, 3.0)  # 3,000 / 2,000 to 3,000 / 1,000
    assert noisy.verdict == INCONCLUSIVE and "(range 1.50 to 3.00)" in noisy.shown()
    flat_out = {c.key: c for c in evaluate_claims("conv_dropout", {"conv2": _conv2_one_trial(3_000)})}["conv2_es"]
    assert flat_out.verdict == INCONCLUSIVE and flat_out.low == 1.0


def test_with_two_trials_the_range_is_the_trials_min_and_max():
    def trial(t, acc13):
        rows = _table(LENET_PM, {"iterative": lambda r, p: (1000 if r == 0 else 500, 0.98 if r == 0 else
                                                              (acc13 if abs(p - 13.5) < 0.2 else 0.98), 0.98)})
        return rows.assign(trial=t)

    both = pd.concat([trial(0, 0.982), trial(1, 0.986)], ignore_index=True)  # gains of 0.2 and 0.6 pp
    gain = {c.key: c for c in lenet_claims(both)}["acc_gain_13_5"]
    assert gain.this_run == pytest.approx(0.4) and (gain.low, gain.high) == pytest.approx((0.2, 0.6))
    assert gain.verdict == INCONCLUSIVE  # the paper's 0.3 pp lies between them
    sure = pd.concat([trial(0, 0.984), trial(1, 0.986)], ignore_index=True)
    assert {c.key: c for c in lenet_claims(sure)}["acc_gain_13_5"].verdict == REPRODUCED


def test_a_threshold_never_crossed_is_written_out_and_judged_on_its_bound():
    claims = {c.key: c for c in lenet_claims(_lenet_good())}
    assert claims["ticket_falls_2_9"].verdict == REPRODUCED  # the good table falls at 3.6 to 2.9
    def ticket(r, p):  # never below the original, down to the sparsest P_m
        return (1000 if r == 0 else 500), (0.98 if r == 0 else 0.985), 0.98
    never = {c.key: c for c in lenet_claims(_table(LENET_PM, {"iterative": ticket}))}["ticket_falls_2_9"]
    assert never.shown() == "never, down to P_m 1.9%" and never.this_run is None
    assert never.verdict == INCONCLUSIVE  # it may still fall between 1.9% and 1.45% (a factor 2 below 2.9%)
    shallow = _table(LENET_PM[:8], {"iterative": ticket})  # sparsest 21%: the claim's P_m not reached
    assert {c.key: c for c in lenet_claims(shallow)}["ticket_falls_2_9"].verdict == NOT_RUN


def test_every_claim_states_its_rule_and_the_paper_value_comes_from_reference():
    from lt_utils.book import reference as ref

    for spec in CLAIMS:
        assert (spec.rule is None) == (spec.page in ("imp_landscape", "dual_tickets")), spec.key  # the chapters
    texts = {c.key: c for c in not_run_claims("conv_dropout")}
    factor, at = ref.CONV_ES_SPEEDUP["conv2"]
    assert f"P_m {at}%" in texts["conv2_es"].claim and texts["conv2_es"].paper == f"{factor}x faster"
    assert texts["conv2_unpruned"].rule == "within ±2 pp of 67.6%"  # the tolerance is stated, in points
    lenet = {c.key: c for c in not_run_claims("lenet_imp")}
    assert lenet["acc_gain_13_5"].rule == f">= {ref.LENET_CLAIMS['acc_gain_13_5_pp'][0]:g} pp"


def test_dropout_with_pruning_needs_its_pruned_run():
    plain, dropout = _conv4(good=True)
    unpruned_only = {"conv4": dropout["conv4"][dropout["conv4"]["round"] == 0]}
    claims = {c.key: c for c in conv_claims(plain, unpruned_only)}
    assert claims["conv4_dropout_pruning_gain"].verdict == NOT_RUN
    assert claims["conv4_dropout_gain"].verdict != NOT_RUN  # the unpruned pair is enough for this one
    assert {c.key: c for c in conv_claims(plain, dropout)}["conv4_dropout_pruning_gain"].verdict == REPRODUCED


def test_pruning_where_training_stopped_qualifies_the_claims_on_pruned_rounds():
    plain, _ = _conv4(good=True)
    cfg = preset("conv4", patience=2_000, prune_at="stop")
    claims = {c.key: c for c in evaluate_claims("conv_dropout", plain, {"conv4": cfg})}
    assert "not the paper's protocol" in claims["conv4_es"].caveat
    assert claims["conv4_unpruned"].caveat == ""  # the unpruned network is the same under either protocol
    # the shortcut judges none of the claims on pruned networks; the protocols' comparison asks for them
    assert claims["conv4_es"].verdict == NOT_PROTOCOL and claims["conv4_es"].this_run is not None
    assert claims["conv4_unpruned"].verdict == REPRODUCED  # the unpruned network: judged as under the paper
    judged = {c.key: c for c in evaluate_claims("conv_dropout", plain, {"conv4": cfg}, judge_shortcut=True)}
    assert judged["conv4_es"].verdict == REPRODUCED
    paper = {c.key: c for c in evaluate_claims("conv_dropout", plain, {"conv4": cfg.with_overrides(prune_at="end")})}
    assert paper["conv4_es"].verdict == REPRODUCED and paper["conv4_es"].caveat == ""


def test_a_ratio_over_an_early_stop_at_iteration_zero_is_unbounded_not_an_error():
    from lt_utils.book.noise import Interval

    ratio = Interval(300.0, 200.0, 400.0) / Interval(100.0, 0.0, 100.0)
    assert (ratio.value, ratio.low, ratio.high) == (3.0, 2.0, float("inf"))
    assert (Interval.of(0.0) / Interval.of(0.0)).value != (Interval.of(0.0) / Interval.of(0.0)).value  # NaN


def test_a_range_over_trials_keeps_bounded_trials_and_holds_the_value():
    from lt_utils.book.claims import Measured, _trial_range
    from lt_utils.book.noise import Interval

    never = Measured(None, 0.0, 1.9, text="never, down to P_m 1.9%")  # a trial whose tickets never fall
    assert _trial_range(Measured(2.9), [Measured(2.9), never]) == (0.0, 2.9)  # not the falling trial alone
    # the lowest margin of the mean curve (5) is not bracketed by the trials' lowest margins (0 and 0)
    assert _trial_range(Measured(5.0), [Measured(0.0), Measured(0.0)]) == (0.0, 5.0)
    assert _trial_range(Measured(1.0), [Measured(float("nan")), Measured(1.0)]) == (1.0, 1.0)  # one usable
    best = Interval.highest([Interval(1.0, 0.5, 1.5), Interval(0.9, 0.2, 2.0)])
    assert (best.value, best.low, best.high) == (1.0, 0.5, 2.0)  # another P_m's noise could make it the best


def test_a_run_in_progress_judges_no_claim_that_reads_every_pruned_round():
    plain, _ = _conv4(good=True)
    last = int(plain["conv4"]["round"].max())
    early = {"conv4": plain["conv4"][plain["conv4"]["round"] <= 3]}  # rounds 0-3 of a longer run, so far
    going = {c.key: c for c in evaluate_claims("conv_dropout", early, {"conv4": preset("conv4", rounds=last)})}
    for key in ("conv4_above_original", "conv4_reinit_slower", "conv4_reinit_less_accurate",
                "conv4_reinit_gap_widens"):
        assert going[key].verdict == NOT_RUN and going[key].this_run is not None, going[key]  # shown, not judged
    assert going["conv4_unpruned"].verdict == REPRODUCED  # the unpruned network is finished
    done = {c.key: c for c in evaluate_claims("conv_dropout", early, {"conv4": preset("conv4", rounds=3)})}
    assert done["conv4_reinit_slower"].verdict == REPRODUCED  # the same rounds, as a whole run: judged
