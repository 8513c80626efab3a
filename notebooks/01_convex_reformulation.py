# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The convex reformulation of a two-layer ReLU network
#
# [![Open In Colab](/book/assets/colab-badge.svg)](https://colab.research.google.com/github/coala-book/coala-book/blob/main/notebooks/01_convex_reformulation.ipynb)
#
# COALA's Phase I trains a two-layer ReLU head not by gradient descent but by solving a convex
# program. This notebook derives that program from the weight-decayed network (Pilanci & Ergen 2020),
# draws the activation patterns it is built on for 2-D data, enumerates *all* of them, solves the
# resulting convex program to global optimality, and compares that certified optimum with the same
# network trained by Adam from several random starts. It also shows what changes when, as COALA does,
# only a few patterns are sampled: the solver then returns the optimum of the *sampled* program.

# %% tags=["remove-cell"]
# Colab only: install coala_lib and the packages Colab lacks; elsewhere this does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    package = "coala-lib @ git+https://github.com/coala-book/coala-book@main"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

# %% tags=["parameters"]
seed = 0  # data, gates and the first Adam seed
n_points = (
    30  # 2-D points (two half-moons); the full pattern set has about n^2 patterns
)
noise = 0.15  # half-moon noise
beta = 1e-2  # weight decay (non-convex), the group-lasso weight (convex)
demo_gates = 6  # gates drawn in the first figure
sampled_P = [
    4,
    8,
    10,
    16,
    32,
    64,
    128,
    256,
]  # sampled-pattern programs solved for comparison (10: COALA's P)
adam_seeds = 6  # random starts of the non-convex network
adam_width = (
    40  # hidden ReLUs of the Adam nets (> n + 1, so the convex optimum is reachable)
)
adam_steps = 3000  # full-batch Adam steps per start
adam_lr = 1e-2
neuron_threshold = 1e-6  # groups with a smaller norm are not turned into neurons

# %%
import matplotlib.pyplot as plt
import pandas as pd
import torch

from coala_lib.chapters import convex_experiments as ex
from coala_lib.chapters import readable
from coala_lib.chapters.plots import (
    plot_activation_patterns,
    plot_decision_boundaries,
    plot_objective_traces,
)
from coala_lib.convex import recovery_gap, sample_gates

pd.set_option("display.precision", 4)

# %% [markdown]
# ## 1. From weight decay to a group-$\ell_1$ penalty
#
# A two-layer ReLU network with $m$ hidden units maps $x \in \mathbb{R}^d$ to
# $h(x) = \sum_{j=1}^m (x^\top w_{1j})_+\, w_{2j}$. With data $X \in \mathbb{R}^{n \times d}$, targets
# $y \in \mathbb{R}^n$ and weight decay $\beta$, training minimises the non-convex objective
#
# $$
# \min_{W_1, w_2}\ \frac12 \Big\| \sum_{j=1}^m (X w_{1j})_+\, w_{2j} - y \Big\|_2^2
# + \frac{\beta}{2} \sum_{j=1}^m \big( \|w_{1j}\|_2^2 + w_{2j}^2 \big).
# $$
#
# The ReLU is positively homogeneous: for $t > 0$, $(X t w_{1j})_+\, w_{2j}/t = (X w_{1j})_+\, w_{2j}$. The
# prediction does not see $t$, but the penalty does, and by the AM-GM inequality
#
# $$
# \min_{t > 0}\ \frac{\beta}{2}\Big( t^2 \|w_{1j}\|_2^2 + \frac{w_{2j}^2}{t^2} \Big) = \beta\, \|w_{1j}\|_2\, |w_{2j}|,
# $$
#
# attained when $\|t w_{1j}\|_2 = |w_{2j}|/t$. So at any optimum each neuron is balanced and the penalty is
# $\beta \sum_j \|w_{1j}\|_2 |w_{2j}|$. Writing $v_j = w_{1j} |w_{2j}|$ for the neurons with $w_{2j} > 0$ and
# $w_j = w_{1j} |w_{2j}|$ for those with $w_{2j} < 0$ (the same substitution, two signs), the problem becomes
# a least-squares fit with a **group-$\ell_1$** penalty $\beta \sum_j \|v_j\|_2 + \|w_j\|_2$, which prefers few
# nonzero neurons. What is still non-convex is the ReLU itself: $(X v_j)_+$ depends on which rows of $X$
# the neuron is active on.

# %% [markdown]
# ## 2. Activation patterns
#
# A neuron $u$ splits the $n$ data points into the active ones ($x_i^\top u \ge 0$) and the rest. Call
# the diagonal 0/1 matrix $D = \operatorname{diag}(\mathbb{1}[X u \ge 0])$ its **activation pattern**; then
# $(X u)_+ = D X u$, which is linear in $u$ **as long as $u$ keeps the pattern $D$**, i.e.
#
# $$
# (2D - I)\, X u \ge 0 .
# $$
#
# The patterns that some $u$ realises are finite in number. COALA, like the convex solvers it builds on,
# samples them: draw gates $g_i \sim \mathcal{N}(0, I_d)$ and set $D_i = \operatorname{diag}(\mathbb{1}[X g_i \ge 0])$.
#
# Our data are $n$ points of two noisy half-moons in the plane, labelled $\pm 1$. To let a neuron's kink be
# any line (not only lines through the origin) every point is lifted to $(x_1, x_2, 1)$, so $d = 3$ and
# the constant feature plays the bias (it is penalised like the other weights). A gate then splits the
# plane along the line $g_1 x_1 + g_2 x_2 + g_0 = 0$; a set of gates cuts it into cells, and two points
# in one cell have the same row in every $D_i$.

# %% mystnb={"figure": {"caption": "Sampled gates on the lifted half-moons data. Left: each gate's line, with an arrow on its active side. Right: the cells the lines carve in view, one colour per cell; the points of one cell share every activation pattern.", "name": "fig-01-patterns"}, "image": {"alt": "Two panels over the same red and blue points of two half-moons. Left: several straight lines, one per sampled gate, each with a small arrow. Right: the plane cut by those lines into polygonal cells, each filled with its own colour."}}
points, labels = ex.planar_dataset(n_points, noise=noise, seed=seed)
X = ex.lift(points)  # (n, 3), float64
y = torch.as_tensor(labels)
demo = sample_gates(X, demo_gates, seed=seed)
fig = plot_activation_patterns(points, labels, demo.gates.numpy())
plt.show()

# %% [markdown]
# How many patterns are there? For $n$ points in general position in $\mathbb{R}^r$ (here $r = 3$),
# the hyperplanes $\{g : x_i^\top g = 0\}$ cut the gate space into $2 \sum_{k < r} \binom{n-1}{k}$ cells
# (Cover 1965), one pattern each. `enumerate_planar_patterns` reaches every cell through its vertices
# $\pm x_j \times x_k$ (docstring), and the count below matches Cover's formula, the all-zero pattern
# (which contributes nothing) excluded. Random sampling is far less efficient: cells near the data have
# tiny solid angles, so even thousands of Gaussian gates miss many of them.

# %%
# NBVAL_CHECK_OUTPUT
full = ex.enumerate_planar_patterns(X)
print(f"n = {n_points} points, lifted dimension d = {X.shape[1]}")
print(
    f"Cover's count of patterns (all-zero included): {ex.cover_count(n_points, X.shape[1])}"
)
print(f"nonzero patterns enumerated:                  {full.num_patterns}")
for P in (100, 1000, 10000):
    print(
        f"distinct nonzero patterns from {P:>5} Gaussian gates: {sample_gates(X, P, seed=seed).num_patterns}"
    )

# %% [markdown]
# ## 3. The convex program
#
# Group the neurons of an optimal network by their activation pattern and by the sign of $w_{2j}$. Inside
# a group the predictions add linearly, so neurons sharing a pattern and a sign can be merged into one
# (by the triangle inequality this never increases the penalty). With the full pattern set
# $D_1, \dots, D_P$ the training problem becomes (Pilanci & Ergen 2020)
#
# $$
# \begin{aligned}
# \min_{\{v_i, w_i\}_{i=1}^P}\quad & \frac12 \Big\| \sum_{i=1}^P D_i X (v_i - w_i) - y \Big\|_2^2
#     + \beta \sum_{i=1}^P \big( \|v_i\|_2 + \|w_i\|_2 \big) \\
# \text{s.t.}\quad & (2D_i - I) X v_i \ge 0, \quad (2D_i - I) X w_i \ge 0, \qquad i = 1, \dots, P,
# \end{aligned}
# $$
#
# a second-order-cone program: convex, so any local solution is global and its optimal value can be
# certified. Its optimum equals the non-convex optimum as soon as the network has at least $m^\star$
# neurons, where $m^\star \le n + 1$ is the number of nonzero groups of some convex solution; our Adam
# nets below have `adam_width` $= 40 > n + 1 = 31$ neurons.
#
# **Gated ReLU.** Dropping the cone constraints gives the *gated ReLU* program
# $\min_u \frac12\|\sum_i D_i X u_i - y\|^2 + \beta \sum_i \|u_i\|_2$, a plain group lasso. Its feasible set is
# larger, so its optimum is a lower bound (a relaxation). Its model is a different network,
# $\sum_i \mathbb{1}[x^\top g_i \ge 0]\, (x^\top u_i)$, whose gates $g_i$ stay fixed rather than following
# the weights.
#
# **Sampled patterns.** With only $P$ sampled patterns (COALA uses $P = 10$) the program is a restriction:
# its optimum is that of the *sampled* program, which is at least the full optimum. Mishkin et al. (2022)
# show it equals the full optimum under mild conditions once enough patterns are sampled, and Kim &
# Pilanci (2024) that the sampled relaxation is near-optimal with high probability.
#
# We solve the program with the full pattern set by an interior-point method (cvxpy + Clarabel, float64),
# which is independent of the CRONOS solver of the next chapter.

# %%
# NBVAL_CHECK_OUTPUT
convex_full = ex.solve_convex_relu_cvxpy(X, y, full, beta)
optimum = convex_full.objective(X, y, beta)
violation = convex_full.constraint_violation(X)
print(f"convex optimum, full pattern set (P = {full.num_patterns}): {optimum:.4g}")
print(f"largest cone-constraint violation: {violation.max:.1e}")

# %% [markdown]
# ## 4. Recovering the network
#
# Every nonzero $v_i$ becomes a ReLU neuron $w_1 = v_i / \sqrt{\|v_i\|_2}$, $w_2 = \sqrt{\|v_i\|_2}$, and every
# nonzero $w_i$ one with $w_2 = -\sqrt{\|w_i\|_2}$. When the cone constraint holds, $(X w_1)_+ = D_i X w_1$, so
# the recovered network reproduces the convex model's predictions on the training data exactly, and its
# weight decay $\frac\beta2(\|w_1\|^2 + w_2^2) = \beta \|v_i\|_2$ equals the group penalty. Hence its non-convex
# objective equals the convex optimum.
#
# The optimal *value* is unique, the optimal weights are not: many patterns give equally good neurons,
# and an interior-point method returns a solution in the middle of that optimal set, spread over many
# groups with no group exactly zero. We keep the groups with norm above `neuron_threshold`; the objective
# shows that the dropped ones did not matter. (A first-order solver with an exact group prox, like
# CRONOS, returns groups that are exactly zero.)

# %%
# NBVAL_CHECK_OUTPUT
net_full = convex_full.to_two_layer(neuron_threshold)
gap = recovery_gap(convex_full, X, neuron_threshold)
print(
    f"groups: {2 * full.num_patterns}; recovered ReLU neurons (norm > {neuron_threshold:g}): {net_full.width}"
)
print(
    f"its non-convex objective: {net_full.objective(X, y, beta):.4g} (convex optimum {optimum:.4g})"
)
print(f"max |convex prediction - net prediction| on the data: {gap.max_abs:.1e}")

# %% [markdown]
# ## 5. Sampled patterns: the optimum of the sampled program
#
# The same program with the first $P$ of one seeded draw of Gaussian gates (so the sets are nested and the
# optimum can only fall as $P$ grows; the table also counts the distinct nonzero patterns they give). Each
# value is the exact optimum of that sampled program, never below the full optimum; the table shows how
# many patterns it takes before the two nearly agree on these points.

# %%
# NBVAL_CHECK_OUTPUT
sampled, sampled_models = ex.sampled_program_optima(
    X, y, sampled_P, beta, seed=seed, threshold=neuron_threshold
)
sampled["excess over full optimum"] = sampled["optimum"] / optimum - 1
columns = ["P", "patterns", "optimum", "excess over full optimum", "neurons"]
readable(sampled[columns], significant=4)

# %% [markdown]
# ## 6. The non-convex network trained by Adam
#
# We train the original network, `adam_width` ReLUs, from `adam_seeds` random starts with full-batch Adam
# (learning rate `adam_lr`) on exactly the objective of section 1, with the same data, lifting and $\beta$.
# What is measured: that objective on all $n$ training points, every 20 steps (the left panel is zoomed
# to at most twice the optimum; every run starts far above). The dashed line is the convex optimum with
# the full pattern set, which no network of any width can beat.

# %% mystnb={"figure": {"caption": "The non-convex network trained by Adam from several random starts: its objective per step (left, zoomed to at most twice the optimum) and its final value per seed (right), against the certified optimum of the convex program (dashed).", "name": "fig-01-adam"}, "image": {"alt": "Left: one objective-against-step curve per Adam seed, falling towards a dashed horizontal line, the convex optimum. Right: one dot per seed for its final objective, every dot above the dashed line."}}
traces, adam_nets = ex.adam_runs(
    X,
    y,
    range(seed, seed + adam_seeds),
    width=adam_width,
    beta=beta,
    steps=adam_steps,
    lr=adam_lr,
    eval_every=20,
)
fig = plot_objective_traces(
    traces, optimum, title=f"two half-moons, n = {n_points}, beta = {beta}"
)
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
final = traces[traces["step"] == adam_steps].set_index("seed")["objective"]
print(f"convex optimum: {optimum:.4g}")
print(
    f"Adam after {adam_steps} steps, per seed: " + ", ".join(f"{v:.4g}" for v in final)
)
print(
    f"excess over the optimum: min {final.min() / optimum - 1:.2%}, max {final.max() / optimum - 1:.2%}"
)
optimum_p10 = float(sampled.set_index("P").loc[10, "optimum"])
print(
    f"COALA's program (P = 10 sampled patterns): optimum {optimum_p10:.4g}; "
    f"best Adam start / that optimum = {final.min() / optimum_p10:.4g}"
)

# %% [markdown]
# No start reaches the certified optimum within the step budget. The comparison that speaks for COALA is
# the last line: COALA solves the program with $P = 10$ sampled patterns, whose optimum is that of the
# sampled program only. A non-convex network that ends below it (ratio under 1) shows that the $P = 10$
# optimum is not the network's global optimum; the ledger's optimality rule reads this ratio. From these runs alone we cannot tell
# a run stuck near a spurious stationary point from one that is merely slow; the convex program removes
# the question, since its solution is optimal by construction.
#
# ## 7. Decision boundaries
#
# The sign of each network's output on a grid: the net recovered from the full convex program, the one
# recovered from the sampled program with the second-smallest $P$ of the table, and the best and worst
# Adam starts.

# %% mystnb={"figure": {"caption": "Decision regions (the sign of the output, shaded) and the zero level set (black) of four networks on the same points: recovered from the full convex program, recovered from a sampled program, and the best and the worst Adam starts.", "name": "fig-01-boundaries"}, "image": {"alt": "Four panels in a two-by-two grid, each showing the red and blue half-moon points over a red and a blue region separated by a black boundary curve, one panel per model."}}
xx, yy, grid = ex.grid_inputs(points)
few_P = sampled_P[1]
best, worst = int(final.idxmin()), int(final.idxmax())
outputs = {
    f"convex, all {full.num_patterns} patterns": net_full.predict(grid)
    .reshape(xx.shape)
    .numpy(),
    f"convex, P = {few_P} sampled": sampled_models[few_P]
    .to_two_layer(neuron_threshold)
    .predict(grid)
    .reshape(xx.shape)
    .numpy(),
    f"Adam, best seed ({best})": adam_nets[best]
    .predict(grid)
    .reshape(xx.shape)
    .numpy(),
    f"Adam, worst seed ({worst})": adam_nets[worst]
    .predict(grid)
    .reshape(xx.shape)
    .numpy(),
}
fig = plot_decision_boundaries(points, labels, xx, yy, outputs)
plt.show()

# %% [markdown]
# ## What this notebook measured
#
# * **Objective**: $\frac12\|h(X) - y\|^2 + \frac\beta2(\|W_1\|_F^2 + \|w_2\|^2)$ with $\beta$ = `beta` on the
#   $n$ = `n_points` lifted half-moon points; for the convex models its convex form, which equals it for
#   the recovered nets.
# * **Exactness**: with all patterns (count checked against Cover's formula), the convex optimum is the
#   global optimum of the network of any width $\ge m^\star$; the interior-point solution satisfies the cone
#   constraints to rounding and its recovered ReLU net has exactly that objective.
# * **Sampling**: with $P$ sampled gates the solver returns the optimum *of the sampled program*, an upper
#   bound on the full optimum, which it meets once enough patterns are drawn (here in the table above).
#   COALA's heads use $P = 10$ on features of dimension $d$ in the hundreds or thousands, where the full
#   set cannot be enumerated, so their optimality is that of the sampled program.
#
# **References.** M. Pilanci and T. Ergen, *Neural networks are convex regularizers: exact polynomial-time
# convex optimization formulations for two-layer networks*, ICML 2020. A. Mishkin, A. Sahiner and
# M. Pilanci, *Fast convex optimization for two-layer ReLU networks: equivalent model classes and cone
# decompositions*, ICML 2022. S. Kim and M. Pilanci, *Convex relaxations of ReLU neural networks
# approximate global optima in polynomial time*, ICML 2024. T. M. Cover, *Geometrical and statistical
# properties of systems of linear inequalities with applications in pattern recognition*, IEEE Trans.
# Electronic Computers, 1965. M. Feng and M. Pilanci, *Convex Optimization for Alignment and Preference
# Learning on a Single GPU*, ICML 2026 (COALA).

# %% [markdown]
# Recorded for the claims ledger.

# %%
from coala_lib.claims import ledger, round_sig

recorded = ledger.record(
    "01_convex_reformulation",
    values={
        "convex_optimum": round_sig(optimum),
        "full_patterns": int(full.num_patterns),
        "max_cone_violation": round_sig(violation.max),
        "recovered_neurons": int(net_full.width),
        "recovery_max_abs_gap": round_sig(gap.max_abs),
        "adam_final": {str(s): round_sig(v) for s, v in final.items()},
        "adam_min": round_sig(final.min()),
        "sampled_optimum_P10": round_sig(optimum_p10),
        "adam_max": round_sig(final.max()),
    },
    params={
        "seed": seed,
        "n_points": n_points,
        "noise": noise,
        "beta": beta,
        "demo_gates": demo_gates,
        "sampled_P": sampled_P,
        "adam_seeds": adam_seeds,
        "adam_width": adam_width,
        "adam_steps": adam_steps,
        "adam_lr": adam_lr,
        "neuron_threshold": neuron_threshold,
    },
)
print("recorded:", recorded and f"claims/{recorded.name}")  # relative: no machine path
