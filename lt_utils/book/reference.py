"""The paper's own numbers (arXiv 1803.03635v5, as gathered in PAPER.md), for overlays and verdicts.

Every value here is the paper's, not ours; plots and tables label them "paper".
"""

PAPER = "Frankle & Carbin (ICLR 2019)"

LENET_FIGURE3_PM = (100.0, 51.3, 21.1, 7.0, 3.6, 1.9)  # the P_m of Figure 3's curves (and this book's P_m ticks)

LENET_UNPRUNED_TEST_ACC = 0.98  # unverified: read off a figure
LENET_ITERATIONS = 50_000  # training accuracy is about 100% at 50K iterations

LENET_CLAIMS = {
    "es_speedup_21": (0.38, 21.1),  # early stopping 38% earlier than unpruned, at P_m 21.1%
    "acc_gain_13_5_pp": (0.3, 13.5),  # more than 0.3 pp above the original, at P_m 13.5%
    "acc_back_pm": 3.6,  # back to the original's accuracy at P_m 3.6%
    "reinit_es_ratio_21": (2.51, 21.1),  # ticket reaches min val loss 2.51x faster than reinit, at P_m 21.1%
    "reinit_acc_gap_21_pp": (0.5, 21.1),  # ticket about 0.5 pp more accurate than reinit, at P_m 21.1%
    "oneshot_acc_range": (95.0, 5.17),  # one-shot beats the original for 95.0% >= P_m >= 5.17%
    "oneshot_es_range": (67.5, 17.6),  # one-shot stops earlier than the original for 67.5% >= P_m >= 17.6%
    "reinit_falls_pm": 21.1,  # reinitialized networks' accuracy starts falling at P_m 21.1%
    "ticket_falls_pm": 2.9,  # winning tickets' accuracy starts falling at P_m 2.9%
}

# Conv nets (section 3 and appendix H).
CONV_ES_SPEEDUP = {"conv2": (3.5, 8.8), "conv4": (3.5, 9.2), "conv6": (2.5, 15.1)}  # (factor, at P_m)
CONV_ACC_GAIN_PP = {"conv2": (3.4, 4.6), "conv4": (3.5, 11.1), "conv6": (3.3, 26.4)}  # (pp, at P_m)
CONV_UNPRUNED_VAL_ACC = {"conv2": 0.676, "conv4": 0.749, "conv6": 0.791}
CONV_DROPOUT_GAIN_PP = {"conv2": 2.1, "conv4": 3.0, "conv6": 2.4}  # dropout's gain, unpruned
CONV_DROPOUT_BEST = {"conv4": (0.826, 7.6), "conv6": (0.848, 10.5)}  # best ticket with dropout (acc, P_m)
CONV_DROPOUT_UNPRUNED = {"conv4": 0.776, "conv6": 0.813}
CONV_DROPOUT_PRUNING_GAIN_PP = {"conv2": 2.3, "conv4": 4.6, "conv6": 4.7}  # pruning's gain beyond dropout's, at most
CONV_ABOVE_ORIGINAL_PM = 2.0  # winning tickets stay above the original's accuracy while P_m > 2%

# VGG-19 (section 4, Figure 7).
VGG19_SETTINGS = {
    "lr0.1": ("vgg19_lr01", "lr 0.1"),
    "warmup": ("vgg19_lr01_warmup", "lr 0.1 + warmup"),
    "lr0.01": ("vgg19_lr001", "lr 0.01"),
}
"""Figure 7's three settings, the one table of them: the notebook's choice -> (preset, label)."""
VGG19_CHECKPOINTS = (30_000, 60_000, 112_480)
VGG19_WARMUP_MIN_PM = 1.5  # winning tickets down to P_m 1.5% with warmup, global pruning
VGG19_LR001_WITHIN_1PP_PM = 3.5  # at lr 0.01 within 1 pp of the original for P_m >= 3.5%
VGG19_UNPRUNED_TEST_ACC = (0.92, 0.93)  # unverified: read off a figure
VGG19_LR001_WITHIN_PP = 1.0  # ... within this many percentage points
